# Table VII, plain cross-entropy, averaged over the labelled pixels.
_base_ = ['../affnet_fine-only_cityscapes.py']
model = dict(
    decode_head=dict(loss_decode=[
        dict(
            type='CrossEntropyLoss',
            use_sigmoid=False,
            avg_non_ignore=True,
            loss_weight=1.0)
    ]))
