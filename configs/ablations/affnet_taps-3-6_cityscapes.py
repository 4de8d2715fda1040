# The other reading of the deep-branch taps: the caption of Fig. 1 gives each
# bottleneck unit three inverted residual modules, so the middle-stage
# features would leave after modules 3 and 6 (1/16, 64 ch and 1/32, 128 ch)
# instead of 3 and 5 (the default: the ends of the constant-width groups).
# 1.69 M parameters. Fine-only protocol, to compare with AFFNet's row.
_base_ = ['../affnet_fine-only_cityscapes.py']
model = dict(
    backbone=dict(tap_modules=(3, 6)),
    decode_head=dict(in_channels=[64, 64, 128, 128]))
