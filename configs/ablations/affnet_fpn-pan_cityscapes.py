# Table II ablation: FPN + PAN (Fig. 6(b)) instead of AFFM. Same per-input
# CBAM and pooling branches, fused by a top-down and a bottom-up path of
# concat+conv merges (see FPNPANHead for every reading). Fine-only protocol.
_base_ = ['../affnet_fine-only_cityscapes.py']
model = dict(
    decode_head=dict(
        _delete_=True,
        type='FPNPANHead',
        in_channels=[64, 64, 96, 128],
        in_index=[0, 1, 2, 3],
        channels=128,
        reduction_ratio=16,
        pool_size=5,
        classifier_kernel_size=1,
        dropout_ratio=0.1,
        num_classes={{_base_.model.decode_head.num_classes}},
        norm_cfg={{_base_.norm_cfg}},
        align_corners=False,
        loss_decode={{_base_.model.decode_head.loss_decode}}))
