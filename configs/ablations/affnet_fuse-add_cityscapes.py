# Table I ablation: attention branches fused by 'add', pooling branches by 'add'.
# Fine-only protocol (see ../affnet_fine-only_cityscapes.py).
_base_ = ['../affnet_fine-only_cityscapes.py']
model = dict(decode_head=dict(attention_fusion='add', pooling_fusion='add'))
