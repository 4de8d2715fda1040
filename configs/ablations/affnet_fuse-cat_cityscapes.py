# Table I ablation: attention branches fused by 'concat', pooling branches by 'concat'.
# Fine-only protocol (see ../affnet_fine-only_cityscapes.py).
_base_ = ['../affnet_fine-only_cityscapes.py']
model = dict(decode_head=dict(attention_fusion='concat', pooling_fusion='concat'))
