# Table VII, AFFNet's loss: OWFL + 0.5 * CE (eq. 3), both averaged over the
# labelled pixels. Identical to the fine-only base; here so that each row of
# the loss comparison has its own config and work dir.
_base_ = ['../affnet_fine-only_cityscapes.py']
model = dict(
    decode_head=dict(loss_decode=[
        dict(type='ObjectWeightedFocalLoss', loss_weight=1.0),
        dict(
            type='CrossEntropyLoss',
            use_sigmoid=False,
            avg_non_ignore=True,
            loss_weight=0.5)
    ]))
