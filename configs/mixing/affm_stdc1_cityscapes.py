# AFFM head (OWFL + 0.5 * CE) on mmseg's ImageNet-pretrained STDC1, with the
# data and schedule of ../affnet_cityscapes.py (not its stage-1 weights).
# AFFM takes the place of STDC's context path and feature fusion module, so
# the plain STDCNet (not STDCContextPathNet) feeds it its three stages.
_base_ = ['../affnet_cityscapes.py']
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    init_cfg=None,  # not the stage-1 AFFNet weights
    backbone=dict(
        _delete_=True,
        type='STDCNet',  # returns 1/8: 256, 1/16: 512, 1/32: 1024 channels
        stdc_type='STDCNet1',
        in_channels=3,
        channels=(32, 64, 256, 512, 1024),
        bottleneck_type='cat',
        num_convs=4,
        norm_cfg=norm_cfg,
        act_cfg=dict(type='ReLU'),
        with_final_conv=False,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmsegmentation/v0.5/'
            'pretrain/stdc/stdc1_20220308-5368626c.pth')),
    decode_head=dict(in_channels=[256, 512, 1024], in_index=[0, 1, 2]))
