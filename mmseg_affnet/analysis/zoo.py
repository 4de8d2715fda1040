"""The models the benchmark and the comparison run: AFFNet and mmseg's
real-time segmentors, by name."""
import argparse
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

from ..models.utils import check_input_size
from ..utils.config import check_names
from ..utils.mim import config_file

REFERENCE = 'AFFNet'
DEFAULT_DEPLOY_MODELS = (REFERENCE, 'Fast-SCNN')
MODEL_ZOO: Dict[str, str] = {
    REFERENCE: config_file('affnet_cityscapes.py'),
    'Fast-SCNN': 'mmseg::fastscnn/fast_scnn_8xb4-160k_cityscapes-512x1024.py',
    'BiSeNetV2':
    'mmseg::bisenetv2/bisenetv2_fcn_4xb4-160k_cityscapes-1024x1024.py',
    'STDC1': 'mmseg::stdc/stdc1_4xb12-80k_cityscapes-512x1024.py',
    'PIDNet-S': 'mmseg::pidnet/pidnet-s_2xb6-120k_1024x1024-cityscapes.py',
    'DDRNet-23-slim': 'mmseg::ddrnet/'
    'ddrnet_23-slim_in1k-pre_2xb6-120k_cityscapes-1024x1024.py',
    'CGNet': 'mmseg::cgnet/cgnet_fcn_4xb8-60k_cityscapes-512x1024.py',
    'ERFNet': 'mmseg::erfnet/erfnet_fcn_4xb4-160k_cityscapes-512x1024.py',
}


def select_models(names: Sequence[str],
                  extra_configs: Sequence[str] = ()) -> Dict[str, str]:
    """Map each model name to its config; unknown names raise an error.

    Args:
        names (Sequence[str]): Names of :data:`MODEL_ZOO` models.
        extra_configs (Sequence[str]): More config paths (``mmseg::``
            allowed), named by file stem. Default: ().

    Returns:
        dict[str, str]: Model name -> config path, in the given order.
    """
    check_names(names, list(MODEL_ZOO), 'models',
                ' or add configs with --configs')
    models = {name: MODEL_ZOO[name] for name in names}
    for config in extra_configs:
        name = osp.splitext(osp.basename(config))[0]
        if name in models:
            raise ValueError(f'Two models are named {name!r}; rename the '
                             f'config {config}.')
        models[name] = config
    return models


def select_deploy_models(names: Optional[Sequence[str]],
                         configs: Dict[str, str]) -> List[str]:
    """Models that also get fused and onnxruntime rows.

    Args:
        names (Sequence[str], optional): Model names; None selects those
            of :data:`DEFAULT_DEPLOY_MODELS` that are in ``configs``.
        configs (dict[str, str]): The benchmarked models.

    Returns:
        list[str]: Model names.
    """
    if names is None:
        return [name for name in DEFAULT_DEPLOY_MODELS if name in configs]
    missing = [name for name in names if name not in configs]
    if missing:
        raise ValueError(f'Deploy models {missing} are not among the '
                         f'benchmarked models {list(configs)}.')
    return list(names)


def parse_size(text: str) -> Tuple[int, int]:
    """Parse a benchmark size ``HxW`` (e.g. ``512x1024``) into ``(H, W)``,
    as an argparse ``type``.

    Raises:
        argparse.ArgumentTypeError: If ``text`` is not ``HxW`` or the size
            is below the model's minimum (:func:`check_input_size`).
    """
    try:
        height, width = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'size {text!r} is not HxW, e.g. 512x1024') from None
    try:
        check_input_size((height, width), 'size')
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return height, width
