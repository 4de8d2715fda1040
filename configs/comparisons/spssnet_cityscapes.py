# SPSSNet (Table III peer), reconstructed: no public code exists. AFFNet's
# learning-to-downsample and deep branch, with the deep features reaching the
# 1/8 shallow branch through four stage-pooling modules (point-wise conv,
# RefineNet chained residual pooling, upsample, add); see SPMHead for every
# reconstruction choice. Fine-only protocol, AFFNet's loss (OWFL + 0.5 CE),
# so that the comparison with AFFNet isolates the fusion.
_base_ = ['../affnet_fine-only_cityscapes.py']
model = dict(
    backbone=dict(
        # The outputs of the three deep-branch groups and pyramid pooling.
        tap_modules=(3, 5, 9),
        out_indices=(0, 1, 2, 3, 4)),
    decode_head=dict(
        _delete_=True,
        type='SPMHead',
        in_channels=[64, 64, 96, 128, 128],
        in_index=[0, 1, 2, 3, 4],
        channels=128,
        num_crp_blocks=2,
        crp_pool_size=5,
        crp_kernel_size=3,
        dropout_ratio=0.1,
        num_classes={{_base_.model.decode_head.num_classes}},
        norm_cfg={{_base_.norm_cfg}},
        align_corners=False,
        loss_decode={{_base_.model.decode_head.loss_decode}}))
