"""mmseg_affnet.deploy: fusion, channels-last max-pools, ONNX export.

Fusion is checked on AFFNet and on mmseg's Fast-SCNN with random batch-norm
statistics, so that a wrong fold changes the logits; ONNX export against
onnxruntime on a small input; the export tool's errors (existing output,
missing checkpoint, a pickle that would run code) through its command line.
"""
import copy
import os.path as osp
import pickle

import pytest
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from torch.nn.modules.batchnorm import _BatchNorm

from tests.utils.models import randomize_batch_norms
from tests.utils.tools import CONFIGS_DIR, tool_error, tool_main
from mmseg_affnet.analysis import MODEL_ZOO
from mmseg_affnet.apis import init_segmentor
from mmseg_affnet.deploy import (LogitsAtInputSize, create_ort_session,
                                 export_onnx, export_segmentor, fuse_conv_bn,
                                 prepare_for_inference, run_session,
                                 use_channels_last_max_pools)
from mmseg_affnet.models.utils import ChannelsLastMaxPool2d

AFFNET_CONFIG = osp.join(CONFIGS_DIR, 'affnet_cityscapes.py')
FAST_SCNN_CONFIG = 'mmseg::fastscnn/fast_scnn_8xb4-160k_cityscapes-512x1024.py'
SIZE = (64, 128)
TOLERANCE = 1e-4


def count_batch_norms(model: nn.Module) -> int:
    return sum(isinstance(m, _BatchNorm) for m in model.modules())


@pytest.fixture(scope='module', params=[AFFNET_CONFIG, FAST_SCNN_CONFIG],
                ids=['AFFNet', 'Fast-SCNN'])
def segmentor(request) -> nn.Module:
    return randomize_batch_norms(init_segmentor(request.param))


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


def test_prepared_affnet_pools_channels_last():
    model = prepare_for_inference(init_segmentor(AFFNET_CONFIG))
    pools = [m for m in model.modules() if isinstance(m, nn.MaxPool2d)]
    stride_one = [m for m in pools if nn.modules.utils._pair(m.stride) ==
                  (1, 1)]
    assert stride_one, 'AFFM has stride-1 max-pools'
    assert all(isinstance(m, ChannelsLastMaxPool2d) for m in stride_one)


@pytest.mark.parametrize('name', list(MODEL_ZOO))
def test_fusion_is_exact_in_float64_for_every_benchmarked_model(name):
    """In float64 the folded weights carry no rounding error, so any wrong
    fold (a BN paired with a conv that does not feed it) would show."""
    model = randomize_batch_norms(init_segmentor(MODEL_ZOO[name])).double()
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


def test_fuse_conv_bn_rejects_training_mode():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))
    with pytest.raises(ValueError, match='eval'):
        fuse_conv_bn(model)


@pytest.mark.parametrize('memory_format',
                         [torch.contiguous_format, torch.channels_last])
def test_channels_last_max_pool_equals_max_pool(memory_format):
    inputs = torch.randn(2, 16, 9, 12).contiguous(memory_format=memory_format)
    pooled = ChannelsLastMaxPool2d(5, stride=1, padding=2)(inputs)
    assert torch.equal(pooled, nn.MaxPool2d(5, stride=1, padding=2)(inputs))
    assert pooled.is_contiguous(memory_format=memory_format)


def test_only_stride_one_max_pools_are_swapped():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 1), nn.MaxPool2d(5, stride=1, padding=2),
        nn.Sequential(nn.MaxPool2d(3, stride=(1, 1), padding=1)),
        nn.MaxPool2d(2, stride=2))
    inputs = torch.randn(1, 3, 16, 20)
    with torch.no_grad():
        expected = model(inputs)
        swapped = use_channels_last_max_pools(copy.deepcopy(model))
        actual = swapped(inputs)
    assert torch.equal(actual, expected)
    assert type(swapped[1]) is ChannelsLastMaxPool2d
    assert type(swapped[2][0]) is ChannelsLastMaxPool2d
    assert swapped[2][0].kernel_size == 3 and swapped[2][0].padding == 1
    assert type(swapped[3]) is nn.MaxPool2d


@pytest.mark.slow
def test_onnxruntime_matches_pytorch_and_export_refuses_existing(tmp_path):
    model = randomize_batch_norms(init_segmentor(AFFNET_CONFIG))
    inputs = torch.randn(1, 3, *SIZE)
    file = tmp_path / 'affnet.onnx'
    export_onnx(model, inputs, file)
    actual = run_session(create_ort_session(file, threads=1), inputs.numpy())
    with torch.inference_mode():
        expected = LogitsAtInputSize(model)(inputs)
    assert actual.shape == (1, 19, *SIZE)
    torch.testing.assert_close(
        torch.from_numpy(actual), expected, rtol=0, atol=TOLERANCE)

    exported = file.read_bytes()
    with pytest.raises(FileExistsError, match='affnet.onnx already exists'):
        export_onnx(model, inputs, file)
    assert file.read_bytes() == exported


def test_ort_session_rejects_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.onnx does not exist'):
        create_ort_session(tmp_path / 'missing.onnx')
    (tmp_path / 'x.onnx').write_bytes(b'')
    with pytest.raises(ValueError, match="'fastest' is not one of"):
        create_ort_session(tmp_path / 'x.onnx', optimization_level='fastest')


def test_export_segmentor_rejects_bad_input_before_any_work(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.pth does not exist'):
        export_segmentor(AFFNET_CONFIG, str(tmp_path / 'missing.pth'), SIZE,
                         tmp_path / 'a.onnx')
    with pytest.raises(ValueError, match='too small'):
        export_segmentor(AFFNET_CONFIG, None, (16, 64), tmp_path / 'a.onnx')
    assert not (tmp_path / 'a.onnx').exists()


class WritesAFile:
    """Unpickling this runs ``open(path, 'w')``: a stand-in for any code."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


@pytest.mark.slow
def test_export_tool_exports_checks_and_refuses_overwrite(tmp_path, capsys):
    out = tmp_path / 'fast_scnn.onnx'
    argv = [FAST_SCNN_CONFIG, '--shape', *map(str, SIZE), '--out', str(out)]
    tool_main('export_onnx')(argv)
    difference = float(capsys.readouterr().out.rsplit(':', 1)[1])
    assert difference < TOLERANCE
    exported = out.read_bytes()

    assert 'fast_scnn.onnx already exists' in tool_error('export_onnx', *argv)
    assert out.read_bytes() == exported


def test_export_tool_refuses_a_pickle_that_would_run_code(tmp_path):
    marker = tmp_path / 'code_ran'
    checkpoint = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': WritesAFile(str(marker))},
               checkpoint, pickle_protocol=pickle.DEFAULT_PROTOCOL)
    out = tmp_path / 'a.onnx'
    message = tool_error('export_onnx', AFFNET_CONFIG, str(checkpoint),
                         '--shape', '64', '64', '--out', str(out))
    assert 'holds Python objects besides tensors' in message
    assert not marker.exists() and not out.exists()
