# Table I ablation, Add-Add at AFFNet's head width: attention branches fused
# by 'add' (AFFNet: 'concat'), pooling branches by 'add' (as AFFNet), and
# channels=128 as in AFFNet (Cat-Add). It differs from AFFNet only in the
# attention fusion, and so is smaller: a sum of the attention branches
# (with 1x1 projections where widths differ) replaces the concatenation and
# its 3x3 conv (405,760 parameters), leaving about 1.27 M parameters against
# AFFNet's 1.65 M. Beside the parameter-matched Add-Add
# (head width 340, affnet_fuse-add_cityscapes.py) it separates the fusion
# from the width.
# Fine-only protocol (see ../affnet_fine-only_cityscapes.py).
_base_ = ['../affnet_fine-only_cityscapes.py']
model = dict(
    decode_head=dict(
        attention_fusion='add', pooling_fusion='add', channels=128))
