# AFFM head (OWFL + 0.5 * CE) on mmpretrain's ImageNet-pretrained
# MobileNetV3-Large, with the data and schedule of ../affnet_cityscapes.py
# (not its stage-1 weights). mmpretrain.models needs a working torchvision.
_base_ = ['../affnet_cityscapes.py']
custom_imports = dict(
    imports=['mmseg_affnet', 'mmpretrain.models'], allow_failed_imports=False)
model = dict(
    init_cfg=None,  # not the stage-1 AFFNet weights
    backbone=dict(
        _delete_=True,
        type='mmpretrain.MobileNetV3',
        arch='large',
        # 1/8: 40, 1/16: 112, 1/32: 960 channels; the last layer must be an
        # output, or its parameters get no gradient (DDP fails on them).
        out_indices=(6, 12, 16),
        norm_cfg=dict(type='SyncBN', eps=0.001, momentum=0.01),
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/'
            'mobilenet_v3/'
            'mobilenet-v3-large_8xb128_in1k_20221114-0ed9ed9a.pth',
            prefix='backbone.')),
    decode_head=dict(in_channels=[40, 112, 960], in_index=[0, 1, 2]))
