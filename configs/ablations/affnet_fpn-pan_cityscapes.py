# Table II ablation: FPN + PAN fusion of the four backbone stages instead of AFFM.
_base_ = ['../affnet_cityscapes.py']
model = dict(
    decode_head=dict(
        _delete_=True,
        type='FPNPANHead',
        in_channels=[64, 64, 96, 128],
        in_index=[0, 1, 2, 3],
        channels=128,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg={{_base_.norm_cfg}},
        align_corners=False,
        loss_decode={{_base_.model.decode_head.loss_decode}}))
