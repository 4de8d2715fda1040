# AFFNet on Cityscapes, stage 1 of the paper (Sec. IV.A): 150 epochs from
# scratch, Adam lr 5e-4 (poly decay, as stage 2), on the extended training
# set of 880x880 patches (8 per image) that tools/make_patches.py writes into
# data/cityscapes_patches; validation on the full val images. Stage 2
# (affnet_cityscapes.py) starts from this run's epoch_150.pth.
_base_ = ['./affnet_cityscapes.py']

crop_size = (880, 880)
data_preprocessor = dict(size=crop_size)
model = dict(data_preprocessor=data_preprocessor, init_cfg=None)
train_dataloader = dict(dataset=dict(data_root='data/cityscapes_patches/'))
optim_wrapper = dict(optimizer=dict(lr=5e-4))
