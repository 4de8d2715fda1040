# Table VII, OWFL alone (without eq. 3's 0.5 * CE term).
_base_ = ['../affnet_fine-only_cityscapes.py']
model = dict(
    decode_head=dict(
        loss_decode=[dict(type='ObjectWeightedFocalLoss', loss_weight=1.0)]))
