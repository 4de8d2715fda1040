"""Build segmentors from configs: the one path for inference, export and
benchmarking, and the check that a model's heads fit its backbone."""
import ast
import os.path as osp
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.config import Config, ConfigDict
from mmengine.hub import get_config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS, MODELS
from torch import Tensor

from ..engine.checkpoint import load_weights

InputShape = Tuple[int, int, int]  # (C, H, W)
PACKAGE_PREFIX_SEPARATOR = '::'


def load_config(config: Union[str, Path, Config],
                cfg_options: Optional[dict] = None) -> Config:
    """Read a config file, or a config shipped with an OpenMMLab package.

    Args:
        config (str | Path | Config): A config file path, or
            ``mmseg::<dir>/<name>.py`` for a config shipped with mmseg
            (resolved by :func:`mmengine.hub.get_config`). A ``Config`` is
            returned as it is (a copy when ``cfg_options`` are given).
        cfg_options (dict, optional): Overrides merged into the config, as
            mmseg's tools merge ``--cfg-options`` (``Config.merge_from_dict``
            of ``{'key.sub': value}``). Default: None.

    Returns:
        Config: The config.

    Raises:
        FileNotFoundError: If the file does not exist.
        IsADirectoryError: If the path is a folder.
        ValueError: If the file or one of its ``_base_`` files has a syntax
            error (naming that file and line).
    """
    if isinstance(config, Config):
        cfg = config.copy() if cfg_options else config
    else:
        cfg = _read_config(str(config))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def _read_config(config: str) -> Config:
    if PACKAGE_PREFIX_SEPARATOR in config:
        return get_config(config)
    if osp.isdir(config):
        raise IsADirectoryError(
            f'Config {config} is a folder, not a config file; pass a config '
            'file such as configs/affnet_cityscapes.py.')
    if not osp.isfile(config):
        raise FileNotFoundError(
            f'Config {config} does not exist; pass a config file path (e.g. '
            'configs/affnet_cityscapes.py) or mmseg::<dir>/<name>.py for a '
            'config shipped with mmseg.')
    try:
        return Config.fromfile(config)
    except SyntaxError as error:
        # mmengine parses the files without their names ("<unknown>").
        path, found = _syntax_error(config) or (config, error)
        raise ValueError(
            f'Config {path} has a syntax error in line {found.lineno}: '
            f'{found.msg}{_source_line(found)}. Fix that line.') from None


def _syntax_error(path: str, seen: Optional[set] = None
                  ) -> Optional[Tuple[str, SyntaxError]]:
    """The first file of ``path`` and its local ``_base_`` files that does
    not parse, with its error."""
    seen = set() if seen is None else seen
    if path in seen or not osp.isfile(path):
        return None
    seen.add(path)
    with open(path, encoding='utf-8') as file:
        source = file.read()
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as error:
        return path, error
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                getattr(target, 'id', None) == '_base_'
                for target in node.targets):
            try:
                bases = ast.literal_eval(node.value)
            except ValueError:
                return None
            for base in [bases] if isinstance(bases, str) else bases:
                if PACKAGE_PREFIX_SEPARATOR not in base:
                    found = _syntax_error(
                        osp.normpath(osp.join(osp.dirname(path), base)), seen)
                    if found:
                        return found
    return None


def _source_line(error: SyntaxError) -> str:
    text = (error.text or '').strip()
    return f' ({text!r})' if text else ''


def resolve_device(device: Optional[str] = None) -> str:
    """Check a device name before a model is built on it.

    Args:
        device (str, optional): ``'cpu'``, ``'cuda'``, ``'cuda:N'`` or
            another device torch knows; None picks ``'cuda:0'`` when CUDA is
            available, else ``'cpu'``. Default: None.

    Returns:
        str: The device.

    Raises:
        ValueError: If torch does not know the device, or it is a CUDA
            device that this torch build or machine does not have; the
            message names the fix.
    """
    if device is None:
        return 'cuda:0' if torch.cuda.is_available() else 'cpu'
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f'--device {device!r} is not a device; use cpu, cuda or cuda:N.'
        ) from None
    if parsed.type == 'cuda':
        if torch.version.cuda is None and torch.version.hip is None:
            raise ValueError(
                f'--device {device}: CUDA is not available in this torch '
                f'build ({torch.__version__}, CPU only); use --device cpu, '
                'or install a CUDA build of torch.')
        count = torch.cuda.device_count() if torch.cuda.is_available() \
            else 0
        if count == 0:
            raise ValueError(
                f'--device {device}: torch sees no CUDA device on this '
                'machine; use --device cpu.')
        if parsed.index is not None and parsed.index >= count:
            raise ValueError(
                f'--device {device}: there {"is" if count == 1 else "are"} '
                f'only {count} CUDA device{"s" * (count != 1)} (cuda:0 to '
                f'cuda:{count - 1}).')
    return device


def without_pretrained(cfg: Union[dict, list]) -> Union[dict, list]:
    """A model config without the weights it would download or read.

    Args:
        cfg (dict | list): A model config (or part of one) as plain data.

    Returns:
        dict | list: A copy without ``pretrained`` keys and without
        ``init_cfg`` entries that hold a ``Pretrained`` initialisation.
    """
    if isinstance(cfg, list):
        return [without_pretrained(item) for item in cfg]
    if not isinstance(cfg, dict):
        return cfg
    return {
        key: without_pretrained(value)
        for key, value in cfg.items() if not (
            key == 'pretrained' or key == 'init_cfg' and 'Pretrained' in str(
                value))
    }


def init_segmentor(config: Union[str, Path, Config],
                   checkpoint: Optional[str] = None,
                   device: str = 'cpu') -> nn.Module:
    """Build a segmentor for inference, export or benchmarking.

    Pretrained-weight ``init_cfg``s are dropped (no downloads), the weights
    of ``checkpoint`` are loaded weights-only and strictly (every key and
    shape must match: :func:`mmseg_affnet.engine.load_weights`), SyncBN
    becomes BN, the heads are checked against the backbone
    (:func:`check_head_channels`) and the model is put in eval mode.

    Args:
        config (str | Path | Config): See :func:`load_config`.
        checkpoint (str, optional): Checkpoint to load; None keeps the
            initial (random) weights. Default: None.
        device (str): Device of the model, checked by
            :func:`resolve_device`. Default: 'cpu'.

    Returns:
        nn.Module: The segmentor, with ``cfg`` and ``dataset_meta``
        (classes and palette, from the checkpoint or else from the config's
        test dataset) attributes.
    """
    device = resolve_device(device)
    cfg = load_config(config)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    model_cfg = without_pretrained(cfg.model.to_dict())
    model_cfg['train_cfg'] = None
    model = MODELS.build(ConfigDict(model_cfg))
    check_head_channels(model)
    model.cfg = cfg
    model.dataset_meta = _config_dataset_meta(cfg)
    if checkpoint is not None:
        meta = load_weights(model, checkpoint).get('meta') or {}
        model.dataset_meta = meta.get('dataset_meta', model.dataset_meta)
    return revert_sync_batchnorm(model).to(device).eval()


def _config_dataset_meta(cfg: Config) -> Optional[dict]:
    dataset_cfg = (cfg.get('test_dataloader') or {}).get('dataset') or {}
    dataset_type = DATASETS.get(dataset_cfg.get('type', ''))
    return dict(dataset_type.METAINFO) if dataset_type else None


def check_head_channels(model: nn.Module,
                        input_shape: InputShape = (3, 64, 64)) -> None:
    """Raise a ValueError if a head does not fit the backbone's features.

    The backbone (and neck) run once on a dummy all-zero image, in eval
    mode and without gradients; every decode and auxiliary head with
    ``in_index`` and ``in_channels`` (single or multiple selection, or
    ``resize_concat``) is compared with the channels of the features it
    selects. The error names the head, the index, the expected and received
    channels and the fix, instead of a shape error deep inside the first
    forward. The modes of all submodules are left as they were. Models
    without ``extract_feat`` are not checked.

    Args:
        model (nn.Module): An mmseg segmentor, e.g. ``EncoderDecoder``.
        input_shape (tuple[int, int, int]): ``(C, H, W)`` of the dummy
            image; ``H`` and ``W`` must suit the backbone's total stride.
            Default: (3, 64, 64).

    Raises:
        ValueError: A head's ``in_index`` is out of range, or its
            ``in_channels`` differ from the selected features' channels.
        RuntimeError: The backbone cannot run on the dummy image.
    """
    if not hasattr(model, 'extract_feat'):
        return
    channels = feature_channels(model, input_shape)
    errors = [
        error for name, head in named_heads(model)
        for error in head_input_errors(name, head, channels)
    ]
    if errors:
        raise ValueError(
            'The heads do not match the backbone'
            f'{" and neck" if getattr(model, "with_neck", False) else ""}, '
            f'which return {len(channels)} features with channels '
            f'{channels}:\n' + '\n'.join(f'  - {error}' for error in errors))


def feature_channels(model: nn.Module, input_shape: InputShape) -> List[int]:
    """Channels of every feature the backbone (and neck) return.

    Args:
        model (nn.Module): A segmentor with ``extract_feat``.
        input_shape (tuple[int, int, int]): ``(C, H, W)`` of the dummy
            image.

    Returns:
        list[int]: Channels of each feature, in the order heads index them.
    """
    first_param = next(model.parameters(), None)
    device = 'cpu' if first_param is None else first_param.device
    dummy = torch.zeros(1, *input_shape, device=device)
    with evaluation_mode(model), torch.no_grad():
        try:
            features = model.extract_feat(dummy)
        except Exception as err:
            raise RuntimeError(
                'Checking the heads against the backbone failed: the '
                'backbone cannot run on a dummy image of shape '
                f'{tuple(dummy.shape)} ({type(err).__name__}: {err}). Pass an '
                'input_shape (C, H, W) it accepts.') from err
    if isinstance(features, Tensor):
        features = [features]
    return [feature.shape[1] for feature in features]


def named_heads(model: nn.Module) -> Iterator[Tuple[str, nn.Module]]:
    """Yield ``(config name, head)`` for the decode and auxiliary heads.

    Args:
        model (nn.Module): An mmseg segmentor.

    Returns:
        Iterator[tuple[str, nn.Module]]: e.g. ``('decode_head', head)``,
        ``('auxiliary_head[1]', head)``.
    """
    for name in ('decode_head', 'auxiliary_head'):
        heads = getattr(model, name, None)
        if isinstance(heads, nn.ModuleList):
            for i, head in enumerate(heads):
                yield f'{name}[{i}]', head
        elif heads is not None:
            yield name, heads


@contextmanager
def evaluation_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Put ``module`` in eval mode, then restore each submodule's own mode.

    Args:
        module (nn.Module): The module to evaluate.

    Returns:
        Iterator[nn.Module]: ``module``, in eval mode inside the block.
    """
    modes = [(submodule, submodule.training)
             for submodule in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for submodule, training in modes:
            submodule.training = training


def head_input_errors(name: str, head: nn.Module,
                      channels: Sequence[int]) -> List[str]:
    """Describe how a head's ``in_index``/``in_channels`` miss the features.

    Heads without ``in_index`` and ``in_channels`` are not checked.

    Args:
        name (str): The head's name in the config, e.g. ``'decode_head'``.
        head (nn.Module): The head, usually a ``BaseDecodeHead``.
        channels (Sequence[int]): Channels of every backbone feature.

    Returns:
        list[str]: One message per problem; empty when the head fits.
    """
    if not (hasattr(head, 'in_index') and hasattr(head, 'in_channels')):
        return []
    label = f'{name} ({type(head).__name__})'
    indices = _as_list(head.in_index)
    missing = [i for i in indices if not -len(channels) <= i < len(channels)]
    if missing:
        return [
            f'{label}: in_index {head.in_index} selects {missing}, but there '
            f'are only {len(channels)} features (indices 0-'
            f'{len(channels) - 1}); set {name}.in_index to existing indices '
            "(and the backbone's out_indices to return the features you "
            'want).'
        ]
    received = [channels[i] for i in indices]
    if getattr(head, 'input_transform', None) == 'resize_concat':
        problems = [] if head.in_channels == sum(received) else [
            f'in_index {head.in_index} selects {received} channels '
            f'(concatenated {sum(received)}) but in_channels is '
            f'{head.in_channels}'
        ]
    else:
        problems = _channel_mismatches(indices, _as_list(head.in_channels),
                                       received)
    if not problems:
        return []
    fitting = received if isinstance(head.in_index,
                                     (list, tuple)) else received[0]
    return [
        f'{label}: {"; ".join(problems)}. Fix: set {name}.in_channels='
        f'{fitting} for in_index={head.in_index}, or change in_index.'
    ]


def _channel_mismatches(indices: Sequence[int], expected: Sequence[int],
                        received: Sequence[int]) -> List[str]:
    problems = [
        f'in_index {index} gives {got} channels where in_channels declares '
        f'{want}' for index, want, got in zip(indices, expected, received)
        if want != got
    ]
    if len(expected) != len(received):
        problems.append(f'in_channels has {len(expected)} entries for '
                        f'{len(received)} selected features')
    return problems


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]
