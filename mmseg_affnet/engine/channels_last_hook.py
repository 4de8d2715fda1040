"""Convolutions in the channels-last memory layout, as a hook."""
import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS


@HOOKS.register_module()
class ChannelsLastHook(Hook):
    """Stores the model's 4-D weights channels-last (NHWC) before training.

    oneDNN (CPU) and cuDNN compute a convolution in channels-last when its
    input or its weight has that layout, and then hand it on to the next
    layer, so converting the weights once converts the whole network; the
    values and the state dict are unchanged (same shapes, other strides), so
    checkpoints load into models of either layout. On the 2-core CPU this
    project is measured on, a training step of AFFNet at batch 8 x 240x320
    took 0.42 s instead of 0.52 s (docs/user_guides/camvid.md).

    ``Module.to(memory_format=...)`` replaces each parameter's data in
    place, so the optimizer, built before this hook runs, keeps its
    references; optimizer state restored by a resume keeps its own layout,
    which element-wise updates accept.
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        runner.model.to(memory_format=torch.channels_last)
