# AFFNet on Cityscapes, stage 2 of the paper: 150 epochs on full 1024x2048
# images, Adam lr 2e-4, weight decay 1e-4, batch 10, from the stage-1 model.
_base_ = [
    './_base_/models/affnet.py',
    'mmseg::_base_/datasets/cityscapes.py',
    'mmseg::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmseg_affnet'], allow_failed_imports=False)
# AFFNetRunner: safe checkpoint loading, data checks, CPU-capable DDP.
runner_type = 'AFFNetRunner'

# Training images all have this size; the batch is stacked at it.
crop_size = (1024, 2048)
data_preprocessor = dict(size=crop_size)
model = dict(data_preprocessor=data_preprocessor)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=19),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 1024), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=19),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=10,
    num_workers=4,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
# IoUMetric plus the mIoU of the OWFL gamma groups (paper Table VII).
val_evaluator = dict(type='GammaGroupIoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=2e-4, weight_decay=1e-4))
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=150, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=True),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Saves the random state too, so that --resume continues exactly.
    checkpoint=dict(
        type='ResumableCheckpointHook', by_epoch=True, interval=1,
        max_keep_ckpts=3, save_best='mIoU'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
log_processor = dict(by_epoch=True)
load_from = 'work_dirs/affnet_cityscapes_stage1/epoch_150.pth'
