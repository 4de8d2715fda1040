"""ChannelsLastHook: the model's convolution weights channels-last, its
outputs and state dict unchanged."""
from types import SimpleNamespace

import torch
import torch.nn as nn

from mmseg_affnet.engine import ChannelsLastHook


def test_converts_weights_and_keeps_outputs_and_state_dict():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.Conv2d(8, 4, 1)).eval()
    inputs = torch.randn(2, 3, 16, 16)
    expected = model(inputs)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    first_weight = model[0].weight

    ChannelsLastHook().before_train(SimpleNamespace(model=model))

    for conv in (model[0], model[3], model[4]):
        assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not model[0].weight.is_contiguous()  # a 3x3 conv's layout moved
    # the parameter objects the optimizer holds are the model's
    assert model[0].weight is first_weight
    outputs = model(inputs)
    assert outputs.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(outputs, expected, rtol=1e-5, atol=1e-5)
    for name, value in model.state_dict().items():
        assert torch.equal(value, state[name]), name
