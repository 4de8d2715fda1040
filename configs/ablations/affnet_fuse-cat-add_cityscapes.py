# Table I ablation: attention branches fused by 'concat', pooling branches by 'add'.
_base_ = ['../affnet_cityscapes.py']
model = dict(decode_head=dict(attention_fusion='concat', pooling_fusion='add'))
