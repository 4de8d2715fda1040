# Table I ablation, Cat-Add: attention branches fused by 'concat', pooling
# branches by 'add'. This is AFFNet (channels=128, 1,651,692 parameters); the
# other three variants set their head width to match its parameter count.
# Fine-only protocol (see ../affnet_fine-only_cityscapes.py).
_base_ = ['../affnet_fine-only_cityscapes.py']
model = dict(
    decode_head=dict(
        attention_fusion='concat', pooling_fusion='add', channels=128))
