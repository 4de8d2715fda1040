# Table VII, WCEL: cross-entropy with ENet's class weights 1 / ln(1.02 + f_i),
# f_i the class frequencies OWFL uses (the loss of ERFNet and SPSSNet), as a
# PyTorch-style weighted mean over the labelled pixels.
# ClassWeightedCrossEntropyLoss also works on batches with ignored pixels,
# where mmseg 1.2.2's CrossEntropyLoss(class_weight=...) fails.
_base_ = ['../affnet_fine-only_cityscapes.py']
model = dict(
    decode_head=dict(loss_decode=[
        dict(
            type='ClassWeightedCrossEntropyLoss',
            class_weight='enet',
            loss_weight=1.0,
            loss_name='loss_wcel')
    ]))
