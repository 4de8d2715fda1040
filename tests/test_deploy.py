"""mmseg_affnet.deploy and tools/export_onnx.py: fused and ONNX inference.

Fusion is checked on AFFNet and on mmseg's Fast-SCNN with random batch-norm
statistics, so that a wrong fold changes the logits; ONNX export against
onnxruntime on a small input; the channels-last max-pool that speeds up
AFFM against nn.MaxPool2d.
"""
import copy
import os.path as osp

import pytest
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from torch.nn.modules.batchnorm import _BatchNorm

from _tools import REPO_ROOT, load_tool
from mmseg_affnet.deploy import (LogitsAtInputSize, create_ort_session,
                                 export_onnx, fuse_conv_bn, load_segmentor,
                                 prepare_for_inference, resolve_config_path)
from mmseg_affnet.models.decode_heads.affm_head import ChannelsLastMaxPool2d

AFFNET_CONFIG = osp.join(REPO_ROOT, 'configs', 'affnet_cityscapes.py')
FAST_SCNN_CONFIG = 'mmseg::fastscnn/fast_scnn_8xb4-160k_cityscapes-512x1024.py'
SIZE = (64, 128)
TOLERANCE = 1e-4


export_tool = load_tool('export_onnx')
MODEL_ZOO = load_tool('benchmark').MODEL_ZOO


def randomize_batch_norms(model: nn.Module) -> nn.Module:
    """Give every BN non-trivial statistics and affine parameters."""
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            shape = module.running_mean.shape
            module.running_mean.copy_(torch.rand(shape, generator=generator))
            module.running_var.copy_(
                0.5 + torch.rand(shape, generator=generator))
            module.weight.data.copy_(
                0.5 + torch.rand(shape, generator=generator))
            module.bias.data.copy_(torch.rand(shape, generator=generator))
    return model


def count_batch_norms(model: nn.Module) -> int:
    return sum(isinstance(m, _BatchNorm) for m in model.modules())


@pytest.fixture(scope='module', params=[AFFNET_CONFIG, FAST_SCNN_CONFIG],
                ids=['AFFNet', 'Fast-SCNN'])
def segmentor(request) -> nn.Module:
    return randomize_batch_norms(load_segmentor(request.param))


@pytest.mark.parametrize('channels_last', [False, True])
def test_prepared_model_matches_eager_model(segmentor, channels_last):
    inputs = torch.randn(1, 3, *SIZE)
    prepared = prepare_for_inference(
        copy.deepcopy(segmentor), channels_last=channels_last)
    if channels_last:
        inputs_prepared = inputs.contiguous(memory_format=torch.channels_last)
    else:
        inputs_prepared = inputs
    with torch.inference_mode():
        expected = LogitsAtInputSize(segmentor)(inputs)
        actual = LogitsAtInputSize(prepared)(inputs_prepared)
    assert actual.shape == (1, segmentor.decode_head.num_classes, *SIZE)
    assert count_batch_norms(prepared) < count_batch_norms(segmentor)
    torch.testing.assert_close(actual, expected, rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize('name', list(MODEL_ZOO))
def test_fusion_is_exact_in_float64_for_every_benchmarked_model(name):
    """In float64 the folded weights carry no rounding error, so any wrong
    fold (a BN paired with a conv that does not feed it) would show."""
    model = randomize_batch_norms(load_segmentor(MODEL_ZOO[name])).double()
    fused = fuse_conv_bn(copy.deepcopy(model))
    inputs = torch.randn(1, 3, *SIZE, dtype=torch.float64)
    with torch.inference_mode():
        expected = LogitsAtInputSize(model)(inputs)
        actual = LogitsAtInputSize(fused)(inputs)
    assert count_batch_norms(fused) < count_batch_norms(model)
    torch.testing.assert_close(
        actual, expected, rtol=0, atol=1e-10 * float(expected.abs().max()))


class ConcatThenNorm(nn.Module):
    """A BN registered right after a conv but applied to a concatenation,
    where pairing by registration order (mmcv's fuse_conv_bn) goes wrong."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 5, 3, padding=1)
        self.norm = nn.BatchNorm2d(8)

    def forward(self, x):
        return self.norm(torch.cat([self.conv(x), x], dim=1))


def test_fuse_conv_bn_folds_only_batch_norms_fed_by_their_conv():
    model = nn.Sequential(
        ConcatThenNorm(),
        ConvModule(8, 4, 1, norm_cfg=dict(type='BN')),
        ConvModule(4, 4, 1, norm_cfg=dict(type='BN'),
                   order=('norm', 'conv', 'act')),
        nn.Conv2d(4, 6, 1), nn.BatchNorm2d(6))
    model = randomize_batch_norms(model).eval()
    inputs = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        expected = model(inputs)
        fused = fuse_conv_bn(copy.deepcopy(model))
        actual = fused(inputs)
    torch.testing.assert_close(actual, expected, rtol=0, atol=TOLERANCE)
    assert isinstance(fused[0].norm, nn.BatchNorm2d)
    assert isinstance(fused[1].bn, nn.Identity)
    assert isinstance(fused[2].bn, nn.BatchNorm2d)
    assert isinstance(fused[4], nn.Identity)


@pytest.mark.parametrize('memory_format',
                         [torch.contiguous_format, torch.channels_last])
def test_channels_last_max_pool_equals_max_pool(memory_format):
    inputs = torch.randn(2, 16, 9, 12).contiguous(memory_format=memory_format)
    pooled = ChannelsLastMaxPool2d(5, stride=1, padding=2)(inputs)
    assert torch.equal(pooled, nn.MaxPool2d(5, stride=1, padding=2)(inputs))
    assert pooled.is_contiguous(memory_format=memory_format)


def test_fuse_conv_bn_rejects_training_mode():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))
    with pytest.raises(ValueError, match='eval'):
        fuse_conv_bn(model)


def test_resolve_config_path_names_the_missing_file():
    assert osp.isfile(resolve_config_path(FAST_SCNN_CONFIG))
    with pytest.raises(FileNotFoundError, match='mmseg::'):
        resolve_config_path('mmseg::fastscnn/no_such_config.py')


def test_load_segmentor_rejects_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        load_segmentor(AFFNET_CONFIG, str(tmp_path / 'missing.pth'))


def test_onnxruntime_matches_pytorch(tmp_path):
    model = randomize_batch_norms(load_segmentor(AFFNET_CONFIG))
    inputs = torch.randn(1, 3, *SIZE)
    file = tmp_path / 'affnet.onnx'
    export_onnx(model, inputs, file)
    actual = create_ort_session(file, threads=1).run(
        None, {'inputs': inputs.numpy()})[0]
    with torch.inference_mode():
        expected = LogitsAtInputSize(model)(inputs)
    assert actual.shape == (1, 19, *SIZE)
    torch.testing.assert_close(
        torch.from_numpy(actual), expected, rtol=0, atol=TOLERANCE)


def test_export_tool_checks_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / 'fast_scnn.onnx'
    argv = [FAST_SCNN_CONFIG, '--shape', *map(str, SIZE), '--out', str(out)]
    export_tool.main(argv)
    reported = capsys.readouterr().out
    difference = float(reported.rsplit(':', 1)[1])
    assert difference < TOLERANCE
    exported = out.read_bytes()

    with pytest.raises(SystemExit):
        export_tool.main(argv)
    assert 'already exists' in capsys.readouterr().err
    assert out.read_bytes() == exported


def test_export_tool_reports_missing_checkpoint(tmp_path):
    checkpoint = tmp_path / 'missing.pth'
    with pytest.raises(SystemExit, match='missing.pth does not exist'):
        export_tool.main([
            AFFNET_CONFIG, str(checkpoint), '--shape', '64', '64', '--out',
            str(tmp_path / 'a.onnx')
        ])
    assert not (tmp_path / 'a.onnx').exists()
