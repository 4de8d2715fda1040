# SPSSNet (Table III peer), reconstructed: no public code exists. AFFNet's
# learning-to-downsample and deep branch; four deep features each raised to
# 128 channels by a point-wise conv, upsampled to the 1/2 shallow branch (the
# ENet initial unit's output), pooled there by Light-Weight RefineNet's
# chained residual pooling and added. The paper's profile (fewer parameters
# than AFFNet, about five times its multiply-adds) sets the 1/2 resolution;
# see SPMHead for every reconstruction choice. Fine-only protocol, AFFNet's
# loss (OWFL + 0.5 CE), so that the comparison with AFFNet isolates the fusion.
_base_ = ['../affnet_fine-only_cityscapes.py']
model = dict(
    backbone=dict(
        # Shallow branch: learning-to-downsample stage 1 (1/2, 16 channels);
        # deep features: the three deep-branch groups and pyramid pooling.
        downsample_taps=(1, ),
        tap_modules=(3, 5, 9),
        # 0: 1/2 stage; 1 (the 1/8 output) is not used; 2-4: taps; 5: PPM.
        out_indices=(0, 2, 3, 4, 5)),
    decode_head=dict(
        _delete_=True,
        type='SPMHead',
        in_channels=[16, 64, 96, 128, 128],
        in_index=[0, 1, 2, 3, 4],
        channels=128,
        num_crp_blocks=2,
        crp_pool_size=5,
        crp_kernel_size=1,
        dropout_ratio=0.1,
        num_classes={{_base_.model.decode_head.num_classes}},
        norm_cfg={{_base_.norm_cfg}},
        align_corners=False,
        loss_decode={{_base_.model.decode_head.loss_decode}}))
