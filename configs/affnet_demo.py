# CPU demo: the stage-2 AFFNet config (model, OWFL + 0.5 CE, Adam, pipelines)
# on the synthetic street scenes of tools/make_demo_dataset.py, with a small
# image size and a short schedule. Run it end to end with tools/demo.py.
_base_ = ['./affnet_cityscapes.py']

data_root = 'data/demo_cityscapes/'
image_size = (128, 256)  # (H, W) of the generated images
# What tools/demo.py generates into data_root (if absent).
demo_dataset = dict(num_train=240, num_val=40, size=image_size)

crop_size = image_size
data_preprocessor = dict(size=crop_size)
model = dict(data_preprocessor=data_preprocessor, init_cfg=None)
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_size[::-1], keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(
        type='CheckSegLabels',
        num_classes={{_base_.model.decode_head.num_classes}}),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

# From scratch in minutes: a higher Adam lr than stage 2's 2e-4, decayed.
optim_wrapper = dict(optimizer=dict(lr=1e-3))
max_epochs = 15
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0, by_epoch=True, begin=0,
         end=max_epochs, convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_epochs))
