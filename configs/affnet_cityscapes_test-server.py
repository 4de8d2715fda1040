# Cityscapes test-server submission: predict leftImg8bit/test and write one
# PNG of Cityscapes label ids (not train ids) per image, named like the
# image, into work_dirs/format_results; zip that folder and upload it.
#   python tools/test.py configs/affnet_cityscapes_test-server.py CHECKPOINT
# (--out DIR writes elsewhere). Uses cityscapesscripts (installed with us).
_base_ = ['./affnet_cityscapes.py']

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 1024), keep_ratio=True),
    dict(type='PackSegInputs'),
]
test_dataloader = dict(
    dataset=dict(
        data_prefix=dict(
            img_path='leftImg8bit/test', seg_map_path='gtFine/test'),
        pipeline=test_pipeline))
test_evaluator = dict(
    _delete_=True,
    type='CityscapesMetric',
    format_only=True,
    keep_results=True,
    output_dir='work_dirs/format_results')
