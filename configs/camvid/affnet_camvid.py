# AFFNet on CamVid (SegNet's 11 classes, full 480x360), for GPUs: the
# paper's experiment protocol (configs/affnet_fine-only_cityscapes.py)
# carried over to CamVid.
# The paper's: the model, OWFL + 0.5 CE (OWFL's alpha and gamma from the
#   train split's class frequencies), training from scratch on full images
#   without crops, random flip and photometric distortion, Adam lr 5e-4,
#   weight decay 1e-4, batch 10, poly decay (ours, see affnet_cityscapes.py).
# Chosen for CamVid: the frequencies (CamVid's train split); 1200 epochs:
#   37 iterations per epoch on 367 images, so 44,400 iterations, about the
#   paper's 150 Cityscapes epochs (2,975 images: 44,700 iterations); the
#   unlabelled id 11 ignored; validation every 50 epochs.
_base_ = [
    '../_base_/models/affnet.py',
    '../_base_/datasets/camvid.py',
    'mmseg::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmseg_affnet'], allow_failed_imports=False)

crop_size = (360, 480)  # (H, W): every training image, uncropped
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    decode_head=dict(
        num_classes=11,
        loss_decode=[
            dict(
                type='ObjectWeightedFocalLoss',
                class_frequencies={{_base_.class_frequencies}},
                loss_weight=1.0),
            dict(
                type='CrossEntropyLoss',
                use_sigmoid=False,
                avg_non_ignore=True,
                loss_weight=0.5)
        ]))
train_dataloader = dict(batch_size=10, num_workers=4)

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=5e-4, weight_decay=1e-4))
max_epochs = 1200
# No `end`: the runner ends the decay at train_cfg.max_epochs, so
# --cfg-options train_cfg.max_epochs=N alone changes the schedule.
param_scheduler = [
    dict(
        type='PolyLR',
        power=0.9,
        eta_min=0,
        by_epoch=True,
        begin=0,
        convert_to_iter_based=True)
]
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=50)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=True),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Saves the random state too, so that --resume continues exactly.
    checkpoint=dict(
        type='ResumableCheckpointHook', by_epoch=True, interval=10,
        max_keep_ckpts=3, save_best='mIoU'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
log_processor = dict(by_epoch=True)
load_from = None
custom_hooks = [
    dict(type='PreflightCheckHook'),
    dict(type='DistTeardownHook'),
]
