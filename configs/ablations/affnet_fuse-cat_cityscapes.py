# Table I ablation, Cat-Cat: attention branches fused by 'concat', pooling
# branches by 'concat'. Parameter-matched to AFFNet (Cat-Add) by the head
# width: channels=76 gives 1,652,664 parameters (+0.06 %; AFFNet 1,651,692);
# the fusions themselves are AFFNet's (see the README, "Table I variants").
# Fine-only protocol (see ../affnet_fine-only_cityscapes.py).
_base_ = ['../affnet_fine-only_cityscapes.py']
model = dict(
    decode_head=dict(
        attention_fusion='concat', pooling_fusion='concat', channels=76))
