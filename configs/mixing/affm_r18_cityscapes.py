# AFFM head (OWFL + 0.5 * CE) on mmseg's ImageNet-pretrained ResNet-18 (V1c,
# deep stem), with the data and schedule of ../affnet_cityscapes.py (not its
# stage-1 weights).
_base_ = ['../affnet_cityscapes.py']
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    init_cfg=None,  # not the stage-1 AFFNet weights
    backbone=dict(
        _delete_=True,
        type='ResNetV1c',
        depth=18,
        out_indices=(1, 2, 3),  # 1/8: 128, 1/16: 256, 1/32: 512 channels
        norm_cfg=norm_cfg,
        init_cfg=dict(
            type='Pretrained', checkpoint='open-mmlab://resnet18_v1c')),
    decode_head=dict(in_channels=[128, 256, 512], in_index=[0, 1, 2]))
