"""AFFMHead and the input checks every fusion head shares."""
import re

import pytest
from mmseg.registry import MODELS
from mmseg.utils import register_all_modules

import mmseg_affnet  # noqa: F401  (registers AFFNet, AFFMHead, FPNPANHead)

from mmseg_affnet.models.utils import AddFusion, ConcatFusion

from tests.utils.models import (AFFNET_CONFIG, CONFIG_DIR, HEAD_TYPES,
                                build_model, num_params, params_without_grad,
                                pyramid, tiny_head_cfg)

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


# ----------------------------------------------------- Table I variants --
AFFNET_PARAMS = 1_651_692
FUSION_CLASSES = {'Add': AddFusion, 'Cat': ConcatFusion}
#: variant (attention-pooling fusion): config, head width, parameters.
TABLE_I = {
    'Add-Add': ('affnet_fuse-add_cityscapes.py', 340, 1_652_624),
    'Cat-Cat': ('affnet_fuse-cat_cityscapes.py', 76, 1_652_664),
    'Add-Cat': ('affnet_fuse-add-cat_cityscapes.py', 104, 1_652_100),
    'Cat-Add': ('affnet_fuse-cat-add_cityscapes.py', 128, AFFNET_PARAMS),
}


def table_i_model(variant: str):
    return build_model(CONFIG_DIR / 'ablations' / TABLE_I[variant][0])


@pytest.mark.parametrize('variant', sorted(TABLE_I))
def test_table_i_variant_has_affnets_parameter_count(variant):
    """AFFNet's fusions, the head width set to AFFNet's parameter count."""
    _, channels, params = TABLE_I[variant]
    model = table_i_model(variant)
    head = model.decode_head
    attention, pooling = variant.split('-')
    assert type(head.attention_fusion) is FUSION_CLASSES[attention]
    assert type(head.pooling_fusion) is FUSION_CLASSES[pooling]
    if attention == 'Cat':
        assert head.attention_fusion.conv.conv.kernel_size == (3, 3)
    assert head.channels == channels
    total = num_params(model)
    assert total == params
    assert abs(total / AFFNET_PARAMS - 1) <= 0.001, total


def test_table_i_add_cat_matches_cat_add():
    """The paper gives Add-Cat and Cat-Add the same parameter count."""
    add_cat = num_params(table_i_model('Add-Cat'))
    cat_add = num_params(table_i_model('Cat-Add'))
    assert abs(add_cat - cat_add) / cat_add <= 0.0005, (add_cat, cat_add)


def test_table_i_cat_add_is_affnet():
    def shapes(model):
        return {k: tuple(v.shape) for k, v in model.state_dict().items()}

    assert shapes(table_i_model('Cat-Add')) == shapes(
        build_model(AFFNET_CONFIG))




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
