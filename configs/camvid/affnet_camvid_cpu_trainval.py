# affnet_camvid_cpu.py trained on train + val (468 images) without
# validation, for the 233 test images: the protocol under which ENet and
# CGNet report their CamVid test mIoU. The same recipe and epochs, so the
# run takes about 468/367 times as long. Score the last checkpoint with
# tools/test.py (test_dataloader: test/ and testannot/).
_base_ = ['./affnet_camvid_cpu.py']

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        datasets=[
            dict(
                type={{_base_.dataset_type}},
                data_root={{_base_.data_root}},
                data_prefix=dict(img_path=split, seg_map_path=split + 'annot'),
                pipeline={{_base_.train_pipeline}})
            for split in ('train', 'val')
        ]))
val_dataloader = None
val_cfg = None
val_evaluator = None
default_hooks = dict(checkpoint=dict(save_best=None))
