"""The paper's experiments as suites of variants, and their claims.

A *variant* is one of the paper's experiment configs (an ablation, a loss);
what it changes is its difference to the reference config, AFFNet's
fine-only experiment (``configs/affnet_fine-only_cityscapes.py``). A suite
trains each variant on a *recipe* (the suite's own, :data:`SUITES`: the
20-epoch CamVid CPU recipe for ``paper``, its 115-epoch one in float32 for
``converged``): the recipe's config with
that difference applied to its model, everything else identical. So the
same Cityscapes experiment configs drive every dataset, and a variant
carries over only what it varies (:func:`apply_difference`); class counts
and class frequencies are the recipe's (:func:`adapt_model_to_recipe`).

A *claim* is one of the paper's statements: the reference beats some
variants on a metric (optionally by a claimed size); see
:mod:`mmseg_affnet.research.seed_statistics` for the verdict rule.
"""
import copy
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.config import Config

from ..utils.config import check_names, load_config, without_pretrained
from .comparison_recipe import adapt_model_to_recipe

#: The config every variant is a difference to.
REFERENCE_CONFIG = 'mmseg_affnet::affnet_fine-only_cityscapes.py'
REFERENCE_VARIANT = 'AFFNet'


@dataclass(frozen=True)
class Variant:
    """One experiment config of the paper.

    Attributes:
        name (str): Display name, e.g. ``'Add-Cat'``.
        folder (str): Folder name of its runs and results.
        config (str): The experiment config (a difference to
            :data:`REFERENCE_CONFIG`), as a ``mmseg_affnet::`` path, the
            same on every machine.
        description (str): What it changes, for tables.
    """
    name: str
    folder: str
    config: str
    description: str


@dataclass(frozen=True)
class Claim:
    """A statement of the paper: the reference beats ``others``.

    Attributes:
        key (str): Short name, e.g. ``'table-1'``.
        title (str): Heading of its table and plot panel.
        statement (str): The claim in words.
        metric (str): Result key compared, e.g. ``'mIoU'``.
        others (tuple[str]): Variants the reference should beat.
        claimed_size (float, optional): Claimed least difference in points.
    """
    key: str
    title: str
    statement: str
    metric: str
    others: Tuple[str, ...]
    claimed_size: Optional[float] = None


VARIANTS: Dict[str, Variant] = {
    variant.name: variant
    for variant in (
        Variant(REFERENCE_VARIANT, 'affnet', REFERENCE_CONFIG,
                'AFFM (attention Concat, pooling Add), OWFL + 0.5 CE'),
        Variant('Add-Add@340', 'add-add',
                'mmseg_affnet::ablations/affnet_fuse-add_cityscapes.py',
                'AFFM, both branch groups fused by Add; head width 340 '
                '(parameter-matched)'),
        Variant('Add-Add@128', 'add-add-128',
                'mmseg_affnet::ablations/'
                'affnet_fuse-add_width-128_cityscapes.py',
                "AFFM, both branch groups fused by Add; AFFNet's head "
                'width 128'),
        Variant('Cat-Cat@76', 'cat-cat',
                'mmseg_affnet::ablations/affnet_fuse-cat_cityscapes.py',
                'AFFM, both branch groups fused by Concat; head width 76 '
                '(parameter-matched)'),
        Variant('Add-Cat@104', 'add-cat',
                'mmseg_affnet::ablations/affnet_fuse-add-cat_cityscapes.py',
                'AFFM, attention Add, pooling Concat; head width 104 '
                '(parameter-matched)'),
        Variant('FPN+PAN', 'fpn-pan',
                'mmseg_affnet::ablations/affnet_fpn-pan_cityscapes.py',
                'FPN+PAN fusion of the same branches'),
        Variant('WCEL', 'wcel',
                'mmseg_affnet::losses/affnet_wcel_cityscapes.py',
                'class-weighted CE (ENet weights) only'),
        Variant('CE', 'ce', 'mmseg_affnet::losses/affnet_ce_cityscapes.py',
                'plain CE only'),
        Variant('OWFL', 'owfl',
                'mmseg_affnet::losses/affnet_owfl_cityscapes.py',
                'OWFL only'),
        Variant('Taps 3-6', 'taps-3-6',
                'mmseg_affnet::ablations/affnet_taps-3-6_cityscapes.py',
                "Fig. 1 caption's taps (modules 3 and 6)"),
    )
}

CLAIMS: Tuple[Claim, ...] = (
    Claim('table-1', 'Table I: fusion of the AFFM branches',
          'Concat for the attention branches and Add for the pooling '
          'branches (AFFM, "Cat-Add") beats Add-Add, Cat-Cat and Add-Cat.',
          'mIoU', ('Add-Add@340', 'Add-Add@128', 'Cat-Cat@76', 'Add-Cat@104')),
    Claim('table-2', 'Table II: AFFM against FPN+PAN',
          'AFFM beats FPN+PAN built from the same branches.', 'mIoU',
          ('FPN+PAN', )),
    Claim('table-7', 'Table VII: rare classes (γ=0 group) by loss',
          'OWFL + 0.5 CE raises the mIoU of the rare-class group (γ=0) by '
          'more than 10 points over class-weighted CE (WCEL).',
          'mIoU_gamma0', ('WCEL', ), claimed_size=10.0),
    Claim('table-7-others', 'Table VII: the other losses (γ=0 group)',
          'OWFL + 0.5 CE beats plain CE and OWFL alone on the rare-class '
          'group (the rest of Table VII).', 'mIoU_gamma0', ('CE', 'OWFL')),
)

@dataclass(frozen=True)
class Suite:
    """A named set of variants trained on one recipe.

    Attributes:
        stages (tuple[tuple[str]]): Variant names in stages, the reference
            first. Runs go stage by stage and, within a stage, seed by seed
            (every variant's seed 0 first), so that a partial suite already
            answers the first stage's questions for every seed.
        recipe (str): The recipe config every variant trains with, unless
            ``--recipe`` says otherwise.
        description (str): What the suite is for, for ``--help``.
    """
    stages: Tuple[Tuple[str, ...], ...]
    recipe: str
    description: str

    @property
    def variants(self) -> Tuple[str, ...]:
        """Every variant name, in stage order."""
        return tuple(name for stage in self.stages for name in stage)


#: The recipe of the early-training suites: 20 epochs, float32.
SHORT_RECIPE = 'mmseg_affnet::camvid/affnet_camvid_cpu_short.py'
#: The converged suite's recipe: the shipped 115-epoch recipe in float32,
#: pinned.
CONVERGED_RECIPE = 'mmseg_affnet::camvid/affnet_camvid_cpu_converged.py'

SUITES: Dict[str, Suite] = {
    'paper': Suite(
        (('AFFNet', 'Add-Add@340', 'Cat-Cat@76', 'Add-Cat@104', 'FPN+PAN',
          'WCEL', 'CE', 'OWFL'), ('Add-Add@128', )), SHORT_RECIPE,
        'the variants of Tables I, II and VII, 20 epochs (early training)'),
    'paper-taps': Suite(
        (('AFFNet', 'Add-Add@340', 'Cat-Cat@76', 'Add-Cat@104', 'FPN+PAN',
          'WCEL', 'CE', 'OWFL', 'Taps 3-6'), ('Add-Add@128', )),
        SHORT_RECIPE, "paper plus the Fig. 1 caption's taps 3-6"),
    'converged': Suite(
        (('AFFNet', 'WCEL', 'Add-Add@128'), ('OWFL', 'FPN+PAN'),
         ('Add-Add@340', )), CONVERGED_RECIPE,
        'the headline comparisons on the 115-epoch CamVid CPU recipe in '
        'float32 (about 55 min a run on 2 cores)'),
}


def select_variants(suite: str,
                    names: Optional[Sequence[str]] = None) -> List[Variant]:
    """The variants of a suite, or a subset of it.

    Args:
        suite (str): A key of :data:`SUITES`.
        names (Sequence[str], optional): Variants of the suite to run (the
            reference is added if missing); None runs the whole suite.
            Default: None.

    Returns:
        list[Variant]: In the suite's order, the reference first.

    Raises:
        ValueError: For an unknown suite or variant, or a repeated name.
    """
    if suite not in SUITES:
        raise ValueError(f'Unknown suite {suite!r}; choose one of '
                         f'{list(SUITES)}.')
    members = SUITES[suite].variants
    if names is None:
        return [VARIANTS[name] for name in members]
    check_names(names, members, f'variants of suite {suite!r}')
    chosen = {REFERENCE_VARIANT, *names}
    return [VARIANTS[name] for name in members if name in chosen]


def run_order(suite: str, variants: Sequence[Variant],
              seeds: int) -> List[Tuple[Variant, int]]:
    """The (variant, seed) runs of a suite in training order.

    Args:
        suite (str): A key of :data:`SUITES`.
        variants (Sequence[Variant]): The chosen variants of the suite
            (:func:`select_variants`).
        seeds (int): Seeds 0 .. seeds-1 of every variant.

    Returns:
        list[tuple[Variant, int]]: Stage by stage; within a stage seed by
        seed, the variants in the suite's order.
    """
    chosen = {variant.name: variant for variant in variants}
    return [(chosen[name], seed) for stage in SUITES[suite].stages
            for seed in range(seeds) for name in stage if name in chosen]


def apply_difference(target: dict, reference: dict, variant: dict) -> dict:
    """Apply what ``variant`` changes in ``reference`` to ``target``.

    Keys equal in ``reference`` and ``variant`` keep ``target``'s value;
    keys the variant adds, removes or changes are added, removed or changed
    in ``target``. Dicts of the same ``type`` are compared key by key; a
    dict whose ``type`` changes (a new head) or a list (``loss_decode``)
    is replaced whole, except that the new dict's keys whose value is the
    reference's (``num_classes``, ``loss_decode``, ``norm_cfg``, ...) take
    ``target``'s.

    Args:
        target (dict): E.g. the recipe's ``model`` (not modified).
        reference (dict): The reference config's ``model``.
        variant (dict): The variant config's ``model``.

    Returns:
        dict: A new dict.
    """
    result = copy.deepcopy(target)
    for key in reference.keys() | variant.keys():
        if key not in variant:
            result.pop(key, None)
        elif key in reference and variant[key] == reference[key]:
            continue
        elif (isinstance(variant[key], dict)
              and isinstance(reference.get(key), dict)
              and isinstance(result.get(key), dict)):
            if variant[key].get('type') == reference[key].get('type'):
                result[key] = apply_difference(result[key], reference[key],
                                               variant[key])
            else:
                result[key] = {
                    sub: copy.deepcopy(
                        result[key][sub] if sub in result[key]
                        and reference[key].get(sub) == value else value)
                    for sub, value in variant[key].items()
                }
        else:
            result[key] = copy.deepcopy(variant[key])
    return result


def variant_model(recipe: Config, variant: Variant) -> dict:
    """The recipe's model with the variant's difference applied.

    Args:
        recipe (Config): The recipe config.
        variant (Variant): The variant.

    Returns:
        dict: The model dict of the variant's training, without pretrained
        weights, with the recipe's class count and class frequencies.
    """
    model = apply_difference(
        recipe.model.to_dict(),
        load_config(REFERENCE_CONFIG).model.to_dict(),
        load_config(variant.config).model.to_dict())
    return adapt_model_to_recipe(without_pretrained(model), recipe)
