# The paper's experiment protocol (Tables I-III and VII), single stage: AFFNet
# trained from scratch on the fine-labelled train split only (2,975 images at
# their full 1024x2048, no crop, as in stage 2), Adam lr 5e-4 with poly
# decay, weight decay 1e-4, batch 10, 150 epochs. No patch pre-training and
# no second stage: those belong to the final model (affnet_cityscapes*.py).
# Every config under ablations/, losses/ and comparisons/ inherits this one
# and changes only the part it studies, so their mIoUs compare.
# As AFFNet itself, this config is the AFFNet row of those tables.
_base_ = ['./affnet_cityscapes.py']

model = dict(init_cfg=None)  # from scratch: not the stage-1 weights
optim_wrapper = dict(optimizer=dict(lr=5e-4))
