"""The comparison's recipe: every model trained with the same config but
its model.

The recipe is an AFFNet config (the demo config on the synthetic data, the
paper's fine-only experiment config on Cityscapes, or the short CamVid CPU
config, ``configs/camvid/affnet_camvid_cpu_short.py``). For every model the
recipe's dataset, pipelines, optimizer, schedule, runtime and hooks are kept
and only ``model`` is replaced, by the model dict of the model's own config
(mmseg's shipped config for the zoo models) with:

- the recipe's data preprocessor (normalisation and batch size), with the
  test-time padding the model needs (:data:`TEST_SIZE_DIVISORS`);
- the recipe's classes and class frequencies (:func:`adapt_model_to_recipe`:
  on CamVid every model predicts 11 classes, and class weights are
  recomputed from CamVid's frequencies);
- no pretrained weights (every model starts from its own initialisation);
- ignore-safe class-weighted CE where a config sets a CE ``class_weight``
  (:func:`mmseg_affnet.models.losses.use_ignore_safe_class_weighted_ce`;
  mmseg 1.2.2's CE fails on ignored pixels with one).

Each model keeps its own losses (auxiliary heads, OHEM, boundary losses) as
its config defines them; they are part of the architecture's training
signal. To every training the same two things are added:

- :class:`mmseg_affnet.engine.PreciseBNHook`, so that every model is
  evaluated with BN statistics of its final weights (see
  docs/reproduction/comparison.md for the Fast-SCNN measurement that made
  this necessary);
- ``GenerateEdge`` before ``PackSegInputs`` in the train pipeline: PIDNet's
  boundary loss needs the edge map, the other models ignore it.
"""
import copy
import math
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple

from mmengine.config import Config

from ..analysis import MODEL_ZOO, REFERENCE
from ..engine import PreciseBNHook
from ..models.losses import (ClassWeightedCrossEntropyLoss,
                             ObjectWeightedFocalLoss, enet_class_weights,
                             load_class_frequencies,
                             use_ignore_safe_class_weighted_ce)
from ..utils.config import (check_names, iter_dicts, load_config,
                            set_data_root, without_pretrained)
from ..utils.mim import config_file
from ..utils.io import atomic_write_text

#: Every model the comparison knows: the benchmark's zoo and SPSSNet. AFFNet
#: is the model of the fine-only experiment config (from scratch), the
#: AFFNet row of the paper's tables.
COMPARISON_MODELS: Dict[str, str] = {
    **MODEL_ZOO,
    REFERENCE: config_file('affnet_fine-only_cityscapes.py'),
    'SPSSNet': config_file('comparisons/spssnet_cityscapes.py'),
}
#: The recipe of each dataset: an AFFNet config whose everything-but-model
#: every model shares.
RECIPES: Dict[str, str] = {
    'demo': config_file('affnet_demo.py'),
    'cityscapes': config_file('affnet_fine-only_cityscapes.py'),
    'camvid': config_file('camvid/affnet_camvid_cpu_short.py'),
}
#: What the comparison changes in a recipe. Demo: 10 epochs instead of the
#: demo's 15, so that all nine models train in about 30 minutes on a 2-core
#: CPU (measured: one training iteration of every model, batch 8 at 128x256,
#: took 5.1 s together, up to 1.04 s for BiSeNetV2, with a lighter reading
#: of SPSSNet (0.26 s) than the current one, which has 4.8x AFFNet's MACs
#: and so takes longer).
#: CamVid: the short recipe as it is (20 epochs, about 10 minutes for
#: AFFNet on a 2-core CPU).
RECIPE_OPTIONS: Dict[str, dict] = {
    'demo': {
        'train_cfg.max_epochs': 10,
        'train_cfg.val_interval': 10,
        'param_scheduler.0.end': 10,
        'default_hooks.checkpoint.interval': 10,
    },
    'cityscapes': {},
    'camvid': {},
}
#: (H, W) at which GMACs and CPU latency are measured where the recipe's
#: data preprocessor size (its training crop) is not what the network sees
#: at val: CamVid's val images enter at 1.5x, 540x720.
EVAL_SIZES: Dict[str, Tuple[int, int]] = {'camvid': (540, 720)}
#: Input-size multiple that a model needs at test. PIDNet-S and
#: DDRNet-23-slim add a 1/8 branch made by strided convolutions (rounding
#: up) to one upsampled to a size rounded down, so CamVid's val images at
#: 540x720 fail (68 against 67 rows; found by their CamVid training, which
#: stopped at its validation). Their test inputs are padded to a multiple of
#: 8 by mmseg's own means, ``SegDataPreProcessor(test_cfg=dict(
#: size_divisor=8))``, and ``BaseSegmentor.postprocess_result`` crops the
#: padding from the logits, so every model is scored on the same pixels;
#: their GMACs and latency are taken at the padded size they run at
#: (:func:`model_input_size`). Training is unchanged (its crops are
#: multiples of 8). The other models take any size.
TEST_SIZE_DIVISORS: Dict[str, int] = {'PIDNet-S': 8, 'DDRNet-23-slim': 8}
DEFAULT_DATA_ROOTS = {'demo': 'data/demo_cityscapes',
                      'cityscapes': 'data/cityscapes',
                      'camvid': 'data/camvid'}


#: Losses that read a class-frequency source (``class_frequencies``).
FREQUENCY_LOSSES = (ObjectWeightedFocalLoss.__name__,
                    ClassWeightedCrossEntropyLoss.__name__)


def select_comparison_models(names: Sequence[str]) -> Dict[str, str]:
    """Model name -> config of each of ``names``.

    Args:
        names (Sequence[str]): Names of :data:`COMPARISON_MODELS`.

    Returns:
        dict[str, str]: In the given order, AFFNet first if it is chosen.

    Raises:
        ValueError: For unknown or repeated names.
    """
    check_names(names, list(COMPARISON_MODELS), 'models')
    ordered = sorted(names, key=lambda name: name != REFERENCE)
    return {name: COMPARISON_MODELS[name] for name in ordered}


def load_recipe(dataset: str, data_root: str,
                cfg_options: Optional[dict] = None) -> Config:
    """The recipe config of ``dataset``, pointed at ``data_root``.

    Args:
        dataset (str): A key of :data:`RECIPES`.
        data_root (str): Dataset folder of every dataloader.
        cfg_options (dict, optional): Overrides for every model, applied
            after :data:`RECIPE_OPTIONS`, e.g. ``{'train_cfg.max_epochs':
            1}``. Default: None.

    Returns:
        Config: The recipe.
    """
    if dataset not in RECIPES:
        raise ValueError(f'Unknown dataset {dataset!r}; choose from '
                         f'{list(RECIPES)}.')
    recipe = load_config(RECIPES[dataset])
    recipe.merge_from_dict(RECIPE_OPTIONS[dataset])
    if cfg_options:
        recipe.merge_from_dict(cfg_options)
    set_data_root(recipe, data_root)
    return recipe


def recipe_class_frequencies(recipe: Config) -> Optional[object]:
    """The class-frequency source of a recipe's losses, if it names one.

    Args:
        recipe (Config): The recipe.

    Returns:
        The top-level ``class_frequencies`` of the recipe (e.g. ``'camvid'``,
        a file or a list), else the ``class_frequencies`` of its decode
        head's first loss that has one, else None.
    """
    if recipe.get('class_frequencies') is not None:
        return recipe.class_frequencies
    losses = recipe.model.decode_head.get('loss_decode', [])
    for loss in losses if isinstance(losses, (list, tuple)) else [losses]:
        if loss.get('class_frequencies') is not None:
            return loss['class_frequencies']
    return None


def adapt_model_to_recipe(model: dict, recipe: Config) -> dict:
    """Point a model config's class-dependent settings at the recipe's
    dataset.

    The models' own configs are Cityscapes configs. For a recipe of another
    dataset (CamVid: 11 classes):

    - every head that predicts as many classes as the decode head (not,
      e.g., STDC's 2-class detail head) predicts the recipe's classes;
    - a class-weight list of the old class count (CGNet's CE, PIDNet's and
      DDRNet's OHEM CE) becomes ENet's weights of the recipe's class
      frequencies (:func:`enet_class_weights`, the kind of weights CGNet's
      own CamVid training uses): the model keeps its class weighting,
      recomputed for the new classes;
    - OWFL and the class-weighted CE read the recipe's class frequencies
      (:data:`FREQUENCY_LOSSES`), whatever the class count.

    Args:
        model (dict): A model config, class-weighted CEs already rewritten by
            :func:`use_ignore_safe_class_weighted_ce`. Not modified.
        recipe (Config): The recipe; its class frequencies come from
            :func:`recipe_class_frequencies`.

    Returns:
        dict: The adapted copy.

    Raises:
        ValueError: If the class count changes and the recipe names no
            class frequencies.
    """
    model = copy.deepcopy(model)
    num_classes = recipe.model.decode_head.num_classes
    old_classes = model['decode_head'].get('num_classes', num_classes)
    frequencies = recipe_class_frequencies(recipe)
    if old_classes != num_classes and frequencies is None:
        raise ValueError(
            f'The model predicts {old_classes} classes and the recipe\'s '
            f'dataset has {num_classes}, but the recipe names no '
            'class_frequencies to recompute class weights from; add a '
            'top-level class_frequencies to the recipe.')
    for node in iter_dicts(model):
        loss_type = str(node.get('type', '')).rpartition('.')[2]
        if loss_type.endswith('Head') and node.get(
                'num_classes') == old_classes:
            node['num_classes'] = num_classes
        weight = node.get('class_weight')
        if (isinstance(weight, (list, tuple)) and len(weight) == old_classes
                and old_classes != num_classes):
            node['class_weight'] = [
                round(w, 4) for w in enet_class_weights(
                    load_class_frequencies(frequencies)).tolist()
            ]
        if loss_type in FREQUENCY_LOSSES and frequencies is not None:
            node['class_frequencies'] = copy.deepcopy(frequencies)
    return model


def comparison_config(recipe: Config, model_config: str, work_dir: str,
                      seed: int = 0,
                      precise_bn_samples: int = 200,
                      test_size_divisor: Optional[int] = None) -> Config:
    """The recipe with the model of ``model_config``.

    Args:
        recipe (Config): From :func:`load_recipe`.
        model_config (str): Config whose ``model`` is trained (``mmseg::``
            allowed).
        work_dir (str): The model's work dir.
        seed (int): Seed of the training. Default: 0.
        precise_bn_samples (int): Training images that
            :class:`PreciseBNHook` averages BN statistics over. Default: 200.
        test_size_divisor (int, optional): Pad test inputs to a multiple of
            it (see :data:`TEST_SIZE_DIVISORS`). Default: None, no padding.

    Returns:
        Config: A full training config.

    Raises:
        ValueError: If the model's decode head predicts another number of
            classes than the recipe's dataset has.
    """
    cfg = copy.deepcopy(recipe)
    model = without_pretrained(load_config(model_config).model.to_dict())
    model = adapt_model_to_recipe(use_ignore_safe_class_weighted_ce(model),
                                  recipe)
    model['data_preprocessor'] = recipe.model.data_preprocessor.to_dict()
    if test_size_divisor:
        model['data_preprocessor']['test_cfg'] = dict(
            size_divisor=test_size_divisor)
    cfg.model = model
    pipeline = cfg.train_dataloader.dataset.pipeline
    if not any(step['type'] == 'GenerateEdge' for step in pipeline):
        pipeline.insert(
            [step['type'] for step in pipeline].index('PackSegInputs'),
            dict(type='GenerateEdge', edge_width=4))
    hooks = [hook for hook in cfg.get('custom_hooks', [])
             if hook['type'] != PreciseBNHook.__name__]
    cfg.custom_hooks = hooks + [
        dict(type=PreciseBNHook.__name__, num_samples=precise_bn_samples)
    ]
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=seed)
    cfg.load_from = None
    return cfg


def model_input_size(cfg: Config, size: Tuple[int, int]) -> Tuple[int, int]:
    """The (H, W) a model runs at for an image of ``size``: padded up to its
    data preprocessor's test ``size_divisor``, if it has one.

    Args:
        cfg (Config): The model's training config.
        size (tuple[int, int]): (H, W) of the image.

    Returns:
        tuple[int, int]: (H, W) of the network's input.
    """
    divisor = (cfg.model.data_preprocessor.get('test_cfg') or {}).get(
        'size_divisor') or 1
    return tuple(math.ceil(side / divisor) * divisor for side in size)


def write_model_config(cfg: Config, path: str) -> None:
    """Write ``cfg`` to ``path``, or check that the file there is the same.

    Args:
        cfg (Config): The model's training config.
        path (str): ``WORK_DIR/<model>/<model>.py``.

    Raises:
        FileExistsError: If ``path`` holds another config: the work dir
            belongs to a comparison with another recipe.
    """
    text = cfg.pretty_text
    if osp.exists(path):
        with open(path) as file:
            if file.read() != text:
                raise FileExistsError(
                    f'{path} holds another config than this comparison '
                    'would train (other models, recipe, options or data '
                    'root); results of two recipes must not mix. Pass '
                    'another --work-dir, or the options of the earlier run.')
        return
    atomic_write_text(path, text)
