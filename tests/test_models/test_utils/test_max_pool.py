"""The channels-last stride-1 max-pool that AFFNet's heads are built with.

The model as a config builds it (training, mmseg's ``tools/test.py``,
``MMSegInferencer``) must use the fast pool, and the pool must give the
plain ``nn.MaxPool2d``'s outputs and gradients bit for bit.
"""
import copy
import os.path as osp

import pytest
import torch
import torch.nn as nn

from tests.utils.tools import CONFIGS_DIR
from mmseg_affnet.apis import init_segmentor
from mmseg_affnet.models.utils import ChannelsLastMaxPool2d

HEAD_CONFIGS = {
    'AFFMHead': 'affnet_cityscapes.py',
    'FPNPANHead': 'ablations/affnet_fpn-pan_cityscapes.py',
    'SPMHead': 'comparisons/spssnet_cityscapes.py',
}


def _with_plain_pools(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every ChannelsLastMaxPool2d made plain."""
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if isinstance(child, ChannelsLastMaxPool2d):
                setattr(parent, name, nn.MaxPool2d(
                    child.kernel_size, child.stride, child.padding))
    return model


@pytest.mark.parametrize('memory_format',
                         [torch.contiguous_format, torch.channels_last])
def test_pool_equals_max_pool_forward_and_backward(memory_format):
    inputs = torch.randn(2, 16, 9, 12).contiguous(memory_format=memory_format)
    fast_in = inputs.clone().requires_grad_()
    plain_in = inputs.clone().requires_grad_()
    fast = ChannelsLastMaxPool2d(5, stride=1, padding=2)(fast_in)
    plain = nn.MaxPool2d(5, stride=1, padding=2)(plain_in)
    grad = torch.randn_like(plain)
    fast.backward(grad)
    plain.backward(grad)
    assert torch.equal(fast, plain)
    assert torch.equal(fast_in.grad, plain_in.grad)
    assert fast.is_contiguous(memory_format=memory_format)


@pytest.mark.parametrize('head', sorted(HEAD_CONFIGS))
def test_built_model_pools_channels_last_and_trains_identically(head):
    torch.manual_seed(0)
    model = init_segmentor(osp.join(CONFIGS_DIR, HEAD_CONFIGS[head]),
                           device='cpu')
    assert type(model.decode_head).__name__ == head
    stride_one = [
        m for m in model.modules() if isinstance(m, nn.MaxPool2d)
        and nn.modules.utils._pair(m.stride) == (1, 1)
    ]
    assert stride_one and all(
        type(m) is ChannelsLastMaxPool2d for m in stride_one)

    plain = _with_plain_pools(model)
    inputs = torch.randn(2, 3, 64, 96)
    outputs = []
    for candidate in (model, plain):
        candidate.train()
        torch.manual_seed(1)  # the same dropout masks
        logits = candidate(inputs, mode='tensor')
        logits.square().mean().backward()
        outputs.append((logits.detach(), [
            p.grad.clone() for p in candidate.parameters()
            if p.grad is not None
        ]))
    (fast_logits, fast_grads), (plain_logits, plain_grads) = outputs
    assert torch.equal(fast_logits, plain_logits)
    assert len(fast_grads) == len(plain_grads) > 0
    assert all(torch.equal(a, b) for a, b in zip(fast_grads, plain_grads))
