# AFFM head (OWFL + 0.5 * CE) on mmseg's ImageNet-pretrained MobileNetV2, with
# the data and schedule of ../affnet_cityscapes.py (not its stage-1 weights).
_base_ = ['../affnet_cityscapes.py']
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    init_cfg=None,  # not the stage-1 AFFNet weights
    backbone=dict(
        _delete_=True,
        type='MobileNetV2',
        out_indices=(2, 4, 6),  # 1/8: 32, 1/16: 96, 1/32: 320 channels
        norm_cfg=norm_cfg,
        init_cfg=dict(type='Pretrained', checkpoint='mmcls://mobilenet_v2')),
    decode_head=dict(in_channels=[32, 96, 320], in_index=[0, 1, 2]))
