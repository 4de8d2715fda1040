"""The AFFNet backbone: outputs, strides, taps and construction checks."""
from typing import List

import pytest
import torch
from mmseg.utils import register_all_modules

import mmseg_affnet  # noqa: F401  (registers AFFNet, AFFMHead, FPNPANHead)
from mmseg_affnet.models.backbones import AFFNet

from tests.utils.models import ceil_div, num_params

register_all_modules()


# ---------------------------------------------------------------- backbone --
def affnet_output_channels(backbone: AFFNet, size: int = 64) -> List[int]:
    backbone.eval()
    with torch.no_grad():
        outputs = backbone(torch.randn(1, 3, size, size))
    return [out.shape[1] for out in outputs]


@pytest.mark.parametrize('out_indices',
                         [(0, 1, 2, 3), (3, ), (1, 3), (2, 0), (0, )])
def test_backbone_out_indices_select_outputs(out_indices):
    full = AFFNet(tap_modules=(3, 5))
    selected = AFFNet(tap_modules=(3, 5), out_indices=out_indices)
    selected.load_state_dict(full.state_dict())
    full.eval()
    selected.eval()
    image = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        all_outputs = full(image)
        outputs = selected(image)
    assert len(outputs) == len(out_indices)
    for index, output in zip(out_indices, outputs):
        assert torch.equal(output, all_outputs[index])
    assert selected.out_channels == [out.shape[1] for out in outputs]


@pytest.mark.parametrize('tap_modules', [(3, 5), (2, 7), (1, 9), (4, 6),
                                         (3, ), (3, 5, 9)])
def test_backbone_out_channels_match_outputs(tap_modules):
    backbone = AFFNet(
        tap_modules=tap_modules, out_indices=range(len(tap_modules) + 2))
    assert backbone.out_channels == affnet_output_channels(backbone)


def test_backbone_feature_strides():
    backbone = AFFNet().eval()
    height, width = 97, 131
    with torch.no_grad():
        outputs = backbone(torch.randn(1, 3, height, width))
    sizes = [tuple(out.shape[2:]) for out in outputs]
    assert sizes == [(ceil_div(height, s), ceil_div(width, s))
                     for s in (8, 16, 32, 32)]


@pytest.mark.parametrize('out_indices', [(4, ), (-1, ), (0, 1, 2, 3, 4), ()])
def test_backbone_rejects_bad_out_indices(out_indices):
    with pytest.raises(ValueError, match=r'out_indices .* 0\.\.3'):
        AFFNet(out_indices=out_indices)


def test_backbone_with_more_taps_returns_more_features():
    """Taps (3, 5, 9): shallow, three taps and pyramid pooling (SPSSNet)."""
    backbone = AFFNet(tap_modules=(3, 5, 9), out_indices=(0, 1, 2, 3, 4))
    backbone.eval()
    with torch.no_grad():
        outputs = backbone(torch.randn(1, 3, 97, 131))
    assert [tuple(out.shape[1:]) for out in outputs] == [
        (64, 13, 17), (64, 7, 9), (96, 4, 5), (128, 4, 5), (128, 4, 5)
    ]
    assert num_params(backbone) == num_params(AFFNet())
    with pytest.raises(ValueError, match=r'out_indices .* 0\.\.4'):
        AFFNet(tap_modules=(3, 5, 9), out_indices=(5, ))


@pytest.mark.parametrize('tap_modules', [(), (0, 5), (3, 10), (3, 3),
                                         (5, 3)])
def test_backbone_rejects_bad_tap_modules(tap_modules):
    """Taps must be distinct modules in depth order, inside the branch."""
    with pytest.raises(ValueError, match='tap_modules'):
        AFFNet(tap_modules=tap_modules)


def test_backbone_downsample_taps_return_the_early_stages_first():
    """(1, 2): the initial unit (1/2) and the first down-sample unit (1/4)
    come before the shallow branch; the rest is unchanged."""
    plain = AFFNet().eval()
    early = AFFNet(downsample_taps=(1, 2), out_indices=range(6)).eval()
    early.load_state_dict(plain.state_dict())
    image = torch.randn(1, 3, 97, 131)
    with torch.no_grad():
        outputs = early(image)
        expected = plain(image)
        first = plain.downsample[0](image)
        second = plain.downsample[1](first)
    assert [tuple(out.shape[1:]) for out in outputs[:2]] == [(16, 49, 66),
                                                            (32, 25, 33)]
    assert torch.equal(outputs[0], first) and torch.equal(outputs[1], second)
    assert all(torch.equal(a, b) for a, b in zip(outputs[2:], expected))
    assert early.out_channels == [16, 32, 64, 64, 96, 128]
    assert num_params(early) == num_params(plain)


@pytest.mark.parametrize('downsample_taps', [(0, ), (3, ), (2, 1), (1, 1)])
def test_backbone_rejects_bad_downsample_taps(downsample_taps):
    """Only the stages before the shallow branch, in depth order."""
    with pytest.raises(ValueError, match=r'downsample_taps .* 1\.\.2'):
        AFFNet(downsample_taps=downsample_taps)


def test_backbone_out_indices_count_the_downsample_taps():
    with pytest.raises(ValueError, match=r'1 downsample_taps .* 0\.\.4'):
        AFFNet(downsample_taps=(1, ), out_indices=(5, ))
