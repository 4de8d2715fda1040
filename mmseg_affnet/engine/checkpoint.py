"""Checkpoint reading with a trust boundary, and weights-only-safe contents.

Since torch 2.6 ``torch.load`` defaults to ``weights_only=True``, which
refuses mmengine's full checkpoints: their message hub holds
``HistoryBuffer`` objects (with references to its methods) and numpy values.
A run's own checkpoints, written into its own work dir, may load whole; any
other file loads tensors and plain containers only. Checkpoints written by
:class:`ResumableCheckpointHook` store the message hub and numpy values as
plain data, so they pass the weights-only loader too (e.g. as ``load_from``
of the next training stage).
"""
import os.path as osp
import pickle
from collections import OrderedDict
from typing import Any, Callable, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import _load_checkpoint

MapLocation = Union[str, torch.device, Callable, None]
_HISTORY_BUFFER_TAG = '__history_buffer__'


def is_within(path: str, directory: str) -> bool:
    """Whether ``path`` lies inside ``directory`` once symlinks are resolved.

    Args:
        path (str): A file path.
        directory (str): A directory path.

    Returns:
        bool: True if the real path of ``path`` is below that of
        ``directory``.
    """
    real_path = osp.realpath(osp.expanduser(path))
    real_dir = osp.realpath(osp.expanduser(directory))
    return osp.commonpath([real_path, real_dir]) == real_dir


def load_checkpoint_file(filename: str,
                         map_location: MapLocation = 'cpu',
                         trusted: bool = False) -> dict:
    """Read a checkpoint, unpickling arbitrary objects only if trusted.

    Args:
        filename (str): Local path, or any URL scheme mmengine understands
            (``https://``, ``open-mmlab://``, ...), which is never trusted.
        map_location (str | torch.device | Callable, optional): As in
            :func:`torch.load`. Default: 'cpu'.
        trusted (bool): Load the whole pickle (``weights_only=False``). Only
            for checkpoints this run wrote itself. Default: False.

    Returns:
        dict: The checkpoint.

    Raises:
        FileNotFoundError: If a local ``filename`` does not exist.
        RuntimeError: If an untrusted file holds more than tensors and plain
            containers.
    """
    if '://' in filename:
        # mmengine's loaders call torch.load with its weights-only default.
        return _load_weights_only(_load_checkpoint, filename, map_location)
    if not osp.isfile(osp.expanduser(filename)):
        raise FileNotFoundError(
            f'Checkpoint {filename} does not exist. Check load_from or the '
            'path you passed; configs/affnet_cityscapes.py (stage 2) starts '
            'from the last checkpoint of configs/affnet_cityscapes_stage1.py.')
    if trusted:
        return torch.load(
            osp.expanduser(filename),
            map_location=map_location,
            weights_only=False)
    return _load_weights_only(
        lambda name, location: torch.load(
            osp.expanduser(name), map_location=location, weights_only=True),
        filename, map_location)


def _load_weights_only(load: Callable, filename: str,
                       map_location: MapLocation) -> dict:
    try:
        return load(filename, map_location)
    except pickle.UnpicklingError as err:
        raise RuntimeError(
            f'{filename} holds Python objects besides tensors, so it is not '
            'loaded (weights_only=True keeps files from elsewhere from '
            'running code). Checkpoints of this project load as they are; '
            'a full checkpoint of another mmengine run does not. If you '
            'trust its source, keep only its weights:\n  python -c "import '
            f"torch; c = torch.load('{filename}', weights_only=False); "
            f"torch.save({{'state_dict': c.get('state_dict', c)}}, "
            f"'weights.pth')\"\nand load weights.pth instead. Loader "
            f'error: {err}') from err


def to_weights_only_safe(obj: Any) -> Any:
    """Replace numpy values and ``HistoryBuffer`` objects by plain data.

    Arrays become tensors, numpy scalars Python numbers, and a
    ``HistoryBuffer`` a tagged dict that :func:`from_weights_only_safe`
    turns back into one. Containers are rebuilt with the same type.

    Args:
        obj (Any): Checkpoint content.

    Returns:
        Any: The same content, loadable with ``torch.load(weights_only=True)``
        if it holds nothing else but tensors, Python scalars, strings and
        containers.
    """
    if isinstance(obj, HistoryBuffer):
        log_history, count_history = obj.data
        return {
            _HISTORY_BUFFER_TAG: True,
            'log_history': torch.from_numpy(np.array(log_history)),
            'count_history': torch.from_numpy(np.array(count_history)),
            'max_length': obj.max_length,
        }
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in 'biufc':
            return torch.from_numpy(obj.copy())
        return to_weights_only_safe(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    return _map_container(obj, to_weights_only_safe)


def from_weights_only_safe(obj: Any) -> Any:
    """Rebuild the ``HistoryBuffer`` objects of :func:`to_weights_only_safe`.

    Args:
        obj (Any): Checkpoint content.

    Returns:
        Any: The content with every tagged dict replaced by a
        ``HistoryBuffer``.
    """
    if isinstance(obj, dict) and obj.get(_HISTORY_BUFFER_TAG, False):
        return HistoryBuffer(obj['log_history'].numpy(),
                             obj['count_history'].numpy(), obj['max_length'])
    return _map_container(obj, from_weights_only_safe)


def _map_container(obj: Any, convert: Callable) -> Any:
    if isinstance(obj, dict):
        items = ((key, convert(value)) for key, value in obj.items())
        return OrderedDict(items) if isinstance(obj, OrderedDict) \
            else dict(items)
    if type(obj) in (list, tuple):
        return type(obj)(convert(value) for value in obj)
    return obj
