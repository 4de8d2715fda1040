"""Per-class numbers of the losses: the one reader of class weights and
frequencies, and what OWFL and WCEL derive from the frequencies (as mmseg
keeps ``get_class_weight`` in ``mmseg/models/losses/utils.py``).

Losses take per-class numbers as a list, or as a file: JSON, or ``.npy``
read with ``allow_pickle=False``. Nothing else is read: mmseg's
``get_class_weight`` reads any other path with ``mmengine.load``, which
unpickles ``.pkl`` files and constructs Python objects from YAML tags, so a
crafted file runs code when a loss is built. :func:`get_class_weight`
takes the place of mmseg's in the mmseg loss modules that call it
(``CrossEntropyLoss``, ``LovaszLoss``, ``TverskyLoss``,
``HuasdorffDisstanceLoss``), so that configs of mmseg's own losses are read
the same way, and refused when negative, all zero or not finite; and
:func:`ignore_safe_cross_entropy` takes the place of mmseg's
``cross_entropy``, whose class-weighted mean fails on any batch with an
ignored pixel (mmseg 1.2.2). Both are put in place, with the reason and
when they go, by :mod:`mmseg_affnet.compat`.
"""
import json
import math
import numbers
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmseg.models.losses import cross_entropy_loss as \
    _mmseg_cross_entropy_module

ClassValues = Union[str, 'os.PathLike[str]', Sequence[float], np.ndarray,
                    torch.Tensor]
#: The file types :func:`read_class_values` reads.
FILE_SUFFIXES = ('.json', '.npy')
#: mmseg's own ``cross_entropy``, which :func:`ignore_safe_cross_entropy`
#: wraps.
MMSEG_CROSS_ENTROPY = _mmseg_cross_entropy_module.cross_entropy


def read_class_values(source: ClassValues,
                      what: str = 'Class weights',
                      num_classes: Optional[int] = None,
                      keys: Tuple[str, ...] = ('class_weight', ),
                      fix: str = '') -> List[float]:
    """Read one finite number per class from a list, JSON or ``.npy``.

    Args:
        source (str | PathLike | Sequence[float] | ndarray | Tensor): The
            numbers, or a file of them: ``.json`` holding a list, or a dict
            with the list under one of ``keys``; or a one-dimensional
            numeric ``.npy`` array (read with ``allow_pickle=False``).
        what (str): What the numbers are, for messages, e.g.
            ``'Class frequencies'``. Default: 'Class weights'.
        num_classes (int, optional): The number of values required; None
            accepts any non-empty list. Default: None.
        keys (tuple[str]): Keys of a JSON dict that may hold the list, in
            order of preference. Default: ('class_weight', ).
        fix (str): How to write valid values, appended to messages.
            Default: ''.

    Returns:
        list[float]: The values.

    Raises:
        ValueError: If the file is missing, of another type, malformed or
            holds pickled data; if an entry is not a real number (booleans,
            strings, null and lists are not), or is not finite; if there
            are no values or not ``num_classes`` of them.
    """
    fix = f' {fix}' if fix else ''
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        where = f'in {path}'
        values = _read_file(path, what, keys, fix)
    else:
        where = 'given as a list'
        if isinstance(source, (np.ndarray, torch.Tensor)):
            source = source.tolist()
        values = list(source)
    for index, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(
                f'{what} {where}: entry {index} is {value!r} '
                f'({type(value).__name__}); every entry must be a number of '
                f'one class.{fix}')
    if not values:
        raise ValueError(f'{what} {where} hold no values; give one per '
                         f'class.{fix}')
    if num_classes is not None and len(values) != num_classes:
        raise ValueError(
            f'{what} {where}: got {len(values)} values for '
            f'num_classes={num_classes}; one value per class is needed.{fix}')
    values = [float(value) for value in values]
    bad = [index for index, value in enumerate(values)
           if not math.isfinite(value)]
    if bad:
        raise ValueError(
            f'{what} {where} must be finite; classes {bad} have '
            f'{[values[index] for index in bad]}.{fix}')
    return values


def _read_file(path: str, what: str, keys: Tuple[str, ...],
               fix: str) -> list:
    suffix = osp.splitext(path)[1].lower()
    if suffix not in FILE_SUFFIXES:
        allowed = ' and '.join(FILE_SUFFIXES)
        raise ValueError(
            f'{what} file {path} is not read: only {allowed} files are '
            '(pickle and YAML files can run code when loaded). '
            'Save the values as a JSON list, e.g. json.dump([1.0, 2.5], '
            f'file), or pass them as a list.{fix}')
    if not osp.isfile(path):
        raise ValueError(
            f'{what} file not found: {path}'
            f'{" is a folder" if osp.isdir(path) else ""}. Pass an existing '
            f'{suffix} file, or the values as a list.{fix}')
    if suffix == '.npy':
        return _read_npy(path, what, fix)
    with open(path, encoding='utf-8') as file:
        try:
            content = json.load(file)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(
                f'{what} file {path} is not valid JSON: {err}.{fix}') from None
    if isinstance(content, dict):
        content = next(
            (content[key] for key in keys if content.get(key) is not None),
            None)
    if not isinstance(content, list):
        raise ValueError(
            f'{what} file {path} must hold a list, or a dict with a '
            f'{" or ".join(repr(key) for key in keys)} list.{fix}')
    return content


def _read_npy(path: str, what: str, fix: str) -> list:
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise ValueError(
            f'{what} file {path} is not a numeric .npy array, or is damaged '
            f'(numpy: {err}); pickled data is never loaded.{fix}') from None
    if not isinstance(array, np.ndarray) or array.ndim != 1 \
            or array.dtype.kind not in 'iuf':
        shape = getattr(array, 'shape', None)
        raise ValueError(
            f'{what} file {path} must hold a one-dimensional numeric array '
            f'(one value per class); it holds {type(array).__name__} of '
            f'shape {shape}.{fix}')
    return array.tolist()


def check_class_weights(values: Sequence[float], where: str) -> None:
    """Refuse class weights that no loss can average by.

    Args:
        values (Sequence[float]): One finite weight per class.
        where (str): Where they come from, for the message, e.g.
            ``'in w.json'``.

    Raises:
        ValueError: If a weight is negative (it would reward mistakes on its
            class), or all are zero (a weighted mean divides by their sum).
    """
    negative = [index for index, value in enumerate(values) if value < 0]
    if negative:
        raise ValueError(
            f'Class weights {where} must not be negative; classes '
            f'{negative} have {[values[index] for index in negative]}. A '
            'negative weight rewards mistakes on its class; give it 0 to '
            'leave the class out, or a positive weight.')
    if not sum(values) > 0:
        raise ValueError(
            f'Class weights {where} are all zero; a weighted mean divides by '
            'their sum. Give at least one class a positive weight.')


def get_class_weight(class_weight: Optional[ClassValues]
                     ) -> Optional[Union[list, Sequence[float]]]:
    """mmseg's ``get_class_weight``, reading files as
    :func:`read_class_values` does and refusing weights that are not
    finite, negative or all zero (:func:`check_class_weights`).

    Args:
        class_weight (str | PathLike | Sequence[float], optional): mmseg's
            ``class_weight`` argument of a loss.

    Returns:
        list[float] | None: The weights.

    Raises:
        ValueError: As :func:`read_class_values` and
            :func:`check_class_weights`.
    """
    if class_weight is None:
        return None
    where = f'in {os.fspath(class_weight)}' if isinstance(
        class_weight, (str, os.PathLike)) else 'given as a list'
    values = read_class_values(class_weight, 'Class weights')
    check_class_weights(values, where)
    return values


def ignore_safe_cross_entropy(pred: torch.Tensor,
                              label: torch.Tensor,
                              weight: Optional[torch.Tensor] = None,
                              class_weight: Optional[torch.Tensor] = None,
                              reduction: str = 'mean',
                              avg_factor: Optional[float] = None,
                              ignore_index: int = -100,
                              avg_non_ignore: bool = False) -> torch.Tensor:
    """mmseg's ``cross_entropy``, also with class weights on a batch that
    holds ignored pixels.

    mmseg 1.2.2's ``cross_entropy`` averages a class-weighted loss by
    ``class_weight[label]`` of every pixel, ignored ones included, and
    ``class_weight[255]`` is out of range (``IndexError: index 255 is out of
    bounds``). Here the divisor is the summed class weight of the pixels
    that are not ignored, PyTorch's weighted mean
    (``F.cross_entropy(weight=..., ignore_index=...)``), the same as mmseg's
    on every batch mmseg can handle. Weights of another count than the
    classes are an error naming both counts.

    Args:
        pred (Tensor): Class scores, shape (N, C, H, W).
        label (Tensor): Labels, shape (N, H, W).
        weight, class_weight, reduction, avg_factor, ignore_index,
            avg_non_ignore: As mmseg's ``cross_entropy``.

    Returns:
        Tensor: The loss, as mmseg's ``cross_entropy``.

    Raises:
        ValueError: If ``class_weight`` does not hold one weight per class.
    """
    if class_weight is not None:
        if class_weight.numel() != pred.shape[1]:
            raise ValueError(
                f'The loss has {class_weight.numel()} class weights but the '
                f'scores have {pred.shape[1]} classes; give one weight per '
                'class of the head (class_weight of the loss).')
        if avg_factor is None and reduction == 'mean':
            valid = label != ignore_index
            safe_label = torch.where(valid, label, torch.zeros_like(label))
            avg_factor = (class_weight[safe_label] * valid).sum()
    return MMSEG_CROSS_ENTROPY(pred, label, weight, class_weight, reduction,
                                avg_factor, ignore_index, avg_non_ignore)


CITYSCAPES_FREQUENCY_FILE = osp.join(
    osp.dirname(__file__), 'cityscapes_class_frequency.json')
CAMVID_FREQUENCY_FILE = osp.join(osp.dirname(__file__),
                                 'camvid_class_frequency.json')
#: The frequency files shipped with the package, by name: a config gives
#: ``class_frequencies='camvid'``, valid wherever the package is installed.
SHIPPED_FREQUENCIES = {
    'cityscapes': CITYSCAPES_FREQUENCY_FILE,
    'camvid': CAMVID_FREQUENCY_FILE,
}
FrequencySource = Union[str, Sequence[float]]
REDUCTIONS = ('none', 'mean', 'sum')
FREQUENCY_FIX = ('Count them on your labels with `python '
                 'tools/class_frequency.py LABEL_DIR --out FILE.json`.')


def load_class_frequencies(source: FrequencySource,
                           num_classes: Optional[int] = None) -> torch.Tensor:
    """Read per-class pixel frequencies and normalise them to sum to one.

    Args:
        source (str | Sequence[float]): A list of per-class frequencies (or
            pixel counts), a name of :data:`SHIPPED_FREQUENCIES`
            (``'cityscapes'``, ``'camvid'``), or a file of them
            (:func:`read_class_values`): a
            JSON file holding either a list or a dict with a
            ``frequencies`` or ``pixel_counts`` list (the format written by
            ``tools/class_frequency.py``), or a ``.npy`` array. Every entry
            must be a real number (not a boolean, string, null or list).
            No other file type is read.
        num_classes (int, optional): Number of classes the list must have;
            ``None`` accepts any non-empty list. Default: None.

    Returns:
        Tensor: Frequencies of shape (C, ), float64, summing to 1.

    Raises:
        ValueError: If the file is missing, of another type or malformed,
            an entry is not a number, the number of classes differs, or a
            frequency is zero, negative or not finite.
    """
    if isinstance(source, str):
        source = SHIPPED_FREQUENCIES.get(source, source)
    values = read_class_values(
        source, 'Class frequencies', num_classes,
        keys=('frequencies', 'pixel_counts'), fix=FREQUENCY_FIX)
    where = f'in {source}' if isinstance(source, (str, os.PathLike)) \
        else 'given as a list'
    freqs = torch.tensor(values, dtype=torch.float64)
    bad = [i for i, f in enumerate(values) if f <= 0]
    if bad:
        raise ValueError(
            f'Class frequencies {where} must be positive and finite; '
            f'classes {bad} have {[values[i] for i in bad]}. A class '
            'that never occurs has no defined weight: drop it from the '
            'label set or give it a small positive frequency.')
    return freqs / freqs.sum()


def enet_class_weights(freqs: torch.Tensor, c: float = 1.02) -> torch.Tensor:
    """ENet's class weights ``omega_i = 1 / ln(c + f_i)`` (OWFL's eq. 4).

    Args:
        freqs (Tensor): Normalised class frequencies, shape (C, ), as
            returned by :func:`load_class_frequencies`.
        c (float): Must exceed 1 so that every ``ln(c + f_i)`` is positive.
            Default: 1.02 (ENet's and the paper's).

    Returns:
        Tensor: Weights of shape (C, ), same dtype as ``freqs``.
    """
    if c <= 1:
        raise ValueError(f'The class-weight constant c must be > 1, got {c}.')
    return 1.0 / torch.log(freqs + c)


def owfl_alpha_gamma(freqs: torch.Tensor,
                     c: float = 1.02) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-class balance and focusing factors of OWFL (paper eqs. 4-6).

    ``omega_i = 1 / ln(f_i + c)``, ``alpha_i = omega_i / max_j omega_j`` and
    ``gamma_i = floor(log10(f_i / min_j f_j))``, the order of magnitude of a
    class's frequency relative to the rarest class.

    Args:
        freqs (Tensor): Normalised class frequencies, shape (C, ).
        c (float): The constant of eq. 4; must exceed 1 so that every
            ``ln(f_i + c)`` is positive. Default: 1.02.

    Returns:
        tuple[Tensor, Tensor]: ``alpha`` (C, ) in (0, 1] and integer-valued
        ``gamma`` (C, ), both float32.
    """
    omega = enet_class_weights(freqs, c)
    alpha = omega / omega.max()
    # A tiny tolerance keeps exact powers of ten (ratio 10.0) at their order.
    gamma = torch.floor(torch.log10(freqs / freqs.min()) + 1e-9)
    return alpha.float(), gamma.float()


def check_reduction(reduction: Optional[str], allow_none: bool) -> None:
    """Raise a ValueError unless ``reduction`` is one of :data:`REDUCTIONS`.

    Args:
        reduction (str | None): The value to check.
        allow_none (bool): Whether ``None`` (no override) is allowed.
    """
    if reduction in REDUCTIONS or (allow_none and reduction is None):
        return
    raise ValueError(
        f'reduction must be one of {REDUCTIONS}, got {reduction!r}.')
