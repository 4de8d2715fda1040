"""AFFMHead and the input checks every fusion head shares."""
import re

import pytest
from mmseg.registry import MODELS
from mmseg.utils import register_all_modules

import mmseg_affnet  # noqa: F401  (registers AFFNet, AFFMHead, FPNPANHead)

from tests.utils.models import (HEAD_TYPES, params_without_grad, pyramid,
                                tiny_head_cfg)

register_all_modules()


# --------------------------------------------------------------- the heads --
FUSIONS = [(a, p) for a in ('concat', 'add') for p in ('concat', 'add')]


@pytest.mark.parametrize('attention_fusion,pooling_fusion', FUSIONS)
def test_affm_head_fusion_options(attention_fusion, pooling_fusion):
    head = MODELS.build(
        tiny_head_cfg(
            'AFFMHead', [4, 6, 8],
            attention_fusion=attention_fusion,
            pooling_fusion=pooling_fusion,
            reduction_ratio=2))
    inputs = pyramid([4, 6, 8], [8, 4, 3])
    logits = head(inputs)
    assert logits.shape == (2, 3, 8, 8)
    logits.square().mean().backward()
    assert params_without_grad(head) == []
    assert all(x.grad is not None for x in inputs)


def test_affm_head_uses_in_index_selection():
    head = MODELS.build(
        tiny_head_cfg('AFFMHead', [6, 8], in_index=[1, 3], reduction_ratio=2))
    inputs = pyramid([4, 6, 7, 8], [16, 8, 4, 2])
    assert head(inputs).shape == (2, 3, 8, 8)


@pytest.mark.parametrize('fusion_arg', ['attention_fusion', 'pooling_fusion'])
def test_affm_head_rejects_unknown_fusion(fusion_arg):
    with pytest.raises(ValueError, match='mul'):
        MODELS.build(
            tiny_head_cfg('AFFMHead', [4, 6], **{fusion_arg: 'mul'}))




@pytest.mark.parametrize('head_type', HEAD_TYPES)
@pytest.mark.parametrize('in_channels,in_index', [([4, 6, 8], [0, 1]),
                                                  ([4, 6], [0, 1, 2])])
def test_head_rejects_in_channels_and_in_index_of_other_lengths(
        head_type, in_channels, in_index):
    with pytest.raises(
            ValueError,
            match=rf'{head_type}: in_channels {re.escape(str(in_channels))} '
            rf'has {len(in_channels)} entries but in_index '
            rf'{re.escape(str(in_index))} has {len(in_index)}'):
        MODELS.build(tiny_head_cfg(head_type, in_channels, in_index=in_index))


@pytest.mark.parametrize('head_type', HEAD_TYPES)
def test_head_rejects_a_single_in_channels(head_type):
    cfg = tiny_head_cfg(head_type, [4])
    cfg['in_channels'] = 4
    with pytest.raises(TypeError, match='in_channels must be a list'):
        MODELS.build(cfg)
