# Table I ablation: attention branches fused by 'add', pooling branches by 'concat'.
_base_ = ['../affnet_cityscapes.py']
model = dict(decode_head=dict(attention_fusion='add', pooling_fusion='concat'))
