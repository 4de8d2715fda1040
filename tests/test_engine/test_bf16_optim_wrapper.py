"""BF16OptimWrapper: forward and loss in bfloat16, weights and steps in
float32, built from a config on a CPU (where AmpOptimWrapper refuses)."""
import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

import mmseg_affnet  # noqa: F401  (registers BF16OptimWrapper)


class TinySegmenter(BaseModel):
    """A conv and a mean: records the dtype its conv computed in."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.seen_dtype = None

    def forward(self, inputs, data_samples=None, mode='loss'):
        features = self.conv(inputs)
        self.seen_dtype = features.dtype
        return dict(loss=features.float().square().mean())


def build(model):
    # as a Runner of an mmseg config (default_scope='mmseg') builds it
    with DefaultScope.overwrite_default_scope('mmseg'):
        return build_optim_wrapper(
            model,
            dict(
                type='BF16OptimWrapper',
                optimizer=dict(type='Adam', lr=1e-2)))


def test_builds_on_cpu_where_amp_optim_wrapper_refuses():
    model = TinySegmenter()
    with pytest.raises(AssertionError, match='only available training'):
        build_optim_wrapper(
            model,
            dict(
                type='AmpOptimWrapper',
                dtype='bfloat16',
                optimizer=dict(type='Adam', lr=1e-2)))
    assert type(build(model)).__name__ == 'BF16OptimWrapper'


def test_forward_in_bfloat16_inside_the_context_only():
    model = TinySegmenter()
    wrapper = build(model)
    inputs = torch.randn(2, 3, 8, 8)
    with wrapper.optim_context(model):
        model(inputs)
    assert model.seen_dtype == torch.bfloat16
    model(inputs)
    assert model.seen_dtype == torch.float32


def test_train_step_updates_float32_weights():
    torch.manual_seed(0)
    model = TinySegmenter()
    wrapper = build(model)
    before = model.conv.weight.detach().clone()
    model.train_step(dict(inputs=torch.randn(2, 3, 8, 8)), wrapper)
    assert model.seen_dtype == torch.bfloat16
    assert model.conv.weight.dtype == torch.float32
    assert not torch.equal(model.conv.weight, before)
    state = wrapper.optimizer.state[model.conv.weight]
    assert state['exp_avg'].dtype == torch.float32


@pytest.mark.parametrize('native', [True, False])
def test_a_cpu_without_native_bfloat16_is_warned_about_once(
        native, monkeypatch):
    from mmseg_affnet.engine import bf16_optim_wrapper
    monkeypatch.setattr(bf16_optim_wrapper, 'cpu_has_native_bfloat16',
                        lambda: native)
    logged = []
    monkeypatch.setattr(bf16_optim_wrapper, 'print_log',
                        lambda message, **kwargs: logged.append(message))
    model = TinySegmenter()
    wrapper = build(model)
    for _ in range(2):
        with wrapper.optim_context(model):
            model(torch.randn(1, 3, 8, 8))
    assert len(logged) == (0 if native else 1)
    if not native:
        assert 'no native bfloat16' in logged[0]
        assert 'optim_wrapper.type=OptimWrapper' in logged[0]


def test_the_cpu_check_is_pytorchs():
    from mmseg_affnet.engine.bf16_optim_wrapper import cpu_has_native_bfloat16
    assert cpu_has_native_bfloat16() == bool(
        torch.ops.mkldnn._is_mkldnn_bf16_supported())
