"""The project's one checkpoint loader: weights-only, always, with clear errors.

Every checkpoint is read with ``torch.load(weights_only=True)``: a run's own
checkpoints, ``load_from``, ``--resume``, a file handed to ``tools/test.py``,
``tools/infer.py``, ``tools/export_onnx.py`` or the benchmark. A file that
would need to unpickle Python objects (and could run code doing so) is
refused, wherever it lies. Importing ``mmseg_affnet`` registers
:func:`load_checkpoint` as mmengine's loader for local paths
(:func:`mmseg_affnet.compat.patch_mmengine_checkpoint_loader`), so mmengine's
plain ``Runner`` (and mmseg's own ``tools/train.py``/``test.py`` given a
config with ``custom_imports``) load through it too.

The project's checkpoints pass the weights-only loader whole: the checkpoint
hook (:class:`ResumableCheckpointHook`) stores the message hub's
``HistoryBuffer`` objects and numpy values as plain data
(:func:`to_weights_only_safe`) and rebuilds them after loading
(:func:`from_weights_only_safe`).
"""
import glob
import os.path as osp
import pickle
import re
import zipfile
from collections import OrderedDict
from typing import Any, Callable, Optional, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.logging import HistoryBuffer

from ..utils.io import require_file
from .resume_config import config_differences

MapLocation = Union[str, torch.device, Callable, None]
_HISTORY_BUFFER_TAG = '__history_buffer__'
# Magic numbers of torch.save's zip format and of the legacy pickle format.
_ZIP_MAGIC = b'PK\x03\x04'
_PICKLE_MAGIC = b'\x80'


def load_checkpoint(filename: str,
                    map_location: MapLocation = 'cpu',
                    for_training: bool = True,
                    mmap: bool = False,
                    fits: Optional[Callable[[dict], bool]] = None) -> dict:
    """Read a local checkpoint weights-only, or fail naming file and fix.

    Args:
        filename (str): Path of a ``.pth`` file written by ``torch.save``.
        map_location (str | torch.device | Callable, optional): As in
            :func:`torch.load`. Default: 'cpu'.
        for_training (bool): Whether a training reads it (``--resume``,
            ``load_from``): the hint for a damaged file then names the
            command that resumes from an intact one; otherwise it names the
            intact files to pass instead. Default: True.
        mmap (bool): Map the tensors of a zip checkpoint instead of reading
            them (cheap, for reading its ``meta``). Default: False.
        fits (Callable[[dict], bool], optional): Whether another checkpoint
            of the folder would do instead (e.g. is of the same model); the
            hint for a damaged file lists only those. Default: None (any
            checkpoint that loads weights-only).

    Returns:
        dict: The checkpoint (``state_dict``, ``meta``, ...), or a bare
        state dict.

    Raises:
        FileNotFoundError: If ``filename`` does not exist.
        IsADirectoryError: If ``filename`` is a folder.
        OSError: If ``filename`` is a device, a named pipe or a socket, or
            a link to one (it is not read).
        ValueError: If the file is empty, truncated, not a PyTorch
            checkpoint, or holds Python objects besides tensors and plain
            containers.
    """
    path = osp.expanduser(filename)
    require_file(
        path, f'Checkpoint {filename}', ', not a checkpoint file; pass a '
        '.pth file (e.g. one of the epoch_*.pth in that folder).',
        f'.{_pointer_hint(path, for_training, fits)} Pass the path of an '
        'existing .pth file.')
    with open(path, 'rb') as file:
        head = file.read(4)
    if not head.startswith((_ZIP_MAGIC, _PICKLE_MAGIC)):
        what = 'is empty' if not head else 'is not a PyTorch checkpoint ' \
            '(it does not start like a file written by torch.save)'
        raise ValueError(
            f'Checkpoint {filename} {what}.'
            f'{_intact_siblings_hint(path, for_training, fits)}')
    try:
        checkpoint = torch.load(
            path, map_location=map_location, weights_only=True,
            mmap=mmap and head.startswith(_ZIP_MAGIC))
    except pickle.UnpicklingError as err:
        raise ValueError(
            f'Checkpoint {filename} holds Python objects besides tensors and '
            'plain containers, so it is not loaded: unpickling them could run '
            'code. Checkpoints written by this project load as they are. If '
            'the file is a full checkpoint of another mmengine run and you '
            'trust where it comes from, extract its weights once in a '
            'separate Python session (torch.load with weights_only=False, '
            "then torch.save({'state_dict': ckpt['state_dict']}, "
            "'weights.pth')) and load weights.pth. Loader error: "
            f"{str(err).split('WeightsUnpickler error: ')[-1].split('. ')[0]}."
        ) from err
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as err:
        # A zip cut at some lengths makes torch seek before its start:
        # OSError [Errno 22] Invalid argument, naming no file.
        reason = str(err).splitlines()[0].rstrip('.')
        raise ValueError(
            f'Checkpoint {filename} is truncated or damaged (e.g. the run was '
            f'killed while writing it): {reason}.'
            f'{_intact_siblings_hint(path, for_training, fits)}') from err
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    if isinstance(meta, dict):
        # mmengine's Runner.resume runs the text of meta['config'] (mmcv-era
        # checkpoints) through Config.fromstring, which executes it, to read
        # gpu_ids; text from a file is never executed here.
        meta.pop('config', None)
    return checkpoint


def _pointer_hint(path: str, for_training: bool,
                  fits: Optional[Callable[[dict], bool]]) -> str:
    pointer = osp.join(osp.dirname(path), 'last_checkpoint')
    if not osp.isfile(pointer):
        return ''
    with open(pointer) as file:
        named = file.read().strip()
    if osp.basename(named) != osp.basename(path):
        return ''
    return (f' It is named by {pointer}, which points to a file that is no '
            f'longer there.{_intact_siblings_hint(path, for_training, fits)}')


def _intact_checkpoint(path: str) -> Optional[dict]:
    """A whole ``torch.save`` zip that loads weights-only, memory-mapped
    (cheap: the tensors are not read), or None."""
    try:
        if not osp.isfile(path):
            return None
        with open(path, 'rb') as file:
            if not file.read(4).startswith(_ZIP_MAGIC):
                return None
        if not zipfile.is_zipfile(path):
            return None
        return torch.load(path, map_location='cpu', weights_only=True,
                          mmap=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError,
            zipfile.BadZipFile, ValueError):
        return None


def _intact_siblings_hint(path: str, for_training: bool = True,
                          fits: Optional[Callable[[dict], bool]] = None
                          ) -> str:
    others = []
    for other in glob.glob(osp.join(osp.dirname(path), '*.pth')):
        if osp.abspath(other) == osp.abspath(path):
            continue
        checkpoint = _intact_checkpoint(other)
        if checkpoint is not None and (fits is None or fits(checkpoint)):
            others.append(other)
    others.sort(key=osp.getmtime)
    if not others:
        return ''
    names = ', '.join(osp.basename(o) for o in others[-3:])
    what = 'Intact checkpoints' if fits is None else \
        'Intact checkpoints of this model'
    if not for_training:
        return (f' {what} in that folder: {names}; pass one of '
                f'them instead, e.g. {others[-1]}')
    return (f' {what} in that folder: {names}. To resume '
            f'from the newest of them: --resume --cfg-options '
            f'load_from={others[-1]}')


def same_model_as(config_text: str) -> Callable[[dict], bool]:
    """Whether a checkpoint was written by a config with the model
    settings of ``config_text`` (both read as literals, never run).

    Args:
        config_text (str): A config dump (``Config.pretty_text``).

    Returns:
        Callable[[dict], bool]: False for a checkpoint without a readable
        config, or whose ``model`` settings differ.
    """
    def fits(checkpoint: dict) -> bool:
        meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
        saved = meta.get('cfg') if isinstance(meta, dict) else None
        if not isinstance(saved, str):
            return False
        try:
            differences = config_differences(saved, config_text)
        except SyntaxError:
            return False
        return not any(key == 'model' or key.startswith('model.')
                       for key, _, _ in differences)

    return fits


def checkpoint_state_dict(checkpoint: dict) -> 'OrderedDict[str, Any]':
    """The model weights of a checkpoint, without a DDP ``module.`` prefix.

    Args:
        checkpoint (dict): A checkpoint or a bare state dict.

    Returns:
        OrderedDict: Parameter and buffer names mapped to tensors.
    """
    state_dict = checkpoint.get('state_dict', checkpoint)
    return OrderedDict(
        (re.sub(r'^module\.', '', key), value)
        for key, value in state_dict.items())


def weight_mismatch(model: nn.Module, checkpoint: dict,
                    filename: str) -> Optional[str]:
    """Describe how a checkpoint's weights miss a model's, or None if fit.

    Args:
        model (nn.Module): The model (DDP wrappers unwrapped by the caller).
        checkpoint (dict): The loaded checkpoint.
        filename (str): Its path, for the message.

    Returns:
        str | None: A message naming missing, unexpected and mis-shaped
        keys and the run that wrote the checkpoint; None when every key and
        shape matches.
    """
    weights = checkpoint_state_dict(checkpoint)
    expected = model.state_dict()
    missing = [key for key in expected if key not in weights]
    unexpected = [key for key in weights if key not in expected]
    misshaped = [
        key for key in expected if key in weights
        and tuple(weights[key].shape) != tuple(expected[key].shape)
    ]
    if not (missing or unexpected or misshaped):
        return None
    parts = [
        f'{len(keys)} {what} (e.g. {", ".join(keys[:3])})'
        for what, keys in (('missing', missing), ('unexpected', unexpected),
                           ('of another shape', misshaped)) if keys
    ]
    return (f'Checkpoint {filename} does not fit this model: its weights '
            f'have {"; ".join(parts)}. {_written_by(checkpoint)}Pass the '
            'config the checkpoint was trained with, or a checkpoint of '
            'this config.')


def _written_by(checkpoint: dict) -> str:
    meta = checkpoint.get('meta') or {}
    parts = dict(
        re.findall(r"(backbone|decode_head)=dict\(\s*type='([\w.]+)'",
                   meta.get('cfg', '')))
    model = ' + '.join(parts[key] for key in ('backbone', 'decode_head')
                       if key in parts)
    if not meta.get('experiment_name') and not model:
        return ''
    return (f"It was written by run {meta.get('experiment_name', '?')!r}"
            f"{f' of a {model} model' if model else ''}. ")


def load_weights(model: nn.Module, filename: str,
                 map_location: MapLocation = 'cpu') -> dict:
    """Load a checkpoint's weights into ``model``, strictly.

    Args:
        model (nn.Module): The model to fill.
        filename (str): Checkpoint path (see :func:`load_checkpoint`).
        map_location (str | torch.device | Callable, optional): As in
            :func:`torch.load`. Default: 'cpu'.

    Returns:
        dict: The checkpoint.

    Raises:
        ValueError: If any model key is missing from the checkpoint, the
            checkpoint has keys the model lacks, or shapes differ.
    """
    checkpoint = load_checkpoint(
        filename, map_location, for_training=False,
        fits=lambda other: weight_mismatch(model, other, '') is None)
    problem = weight_mismatch(model, checkpoint, filename)
    if problem:
        raise ValueError(problem)
    model.load_state_dict(checkpoint_state_dict(checkpoint), strict=True)
    return checkpoint


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


__all__ = [
    'load_checkpoint', 'load_weights', 'weight_mismatch',
    'checkpoint_state_dict', 'to_weights_only_safe', 'from_weights_only_safe',
    'same_model_as'
]
