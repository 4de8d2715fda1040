"""Class-weighted cross-entropy that works on batches with ignored pixels."""
import copy
from typing import Any, Optional, Sequence, Union

import torch
from mmseg.models.losses import CrossEntropyLoss
from mmseg.registry import MODELS

from ...utils.config import iter_dicts
from .utils import (CITYSCAPES_FREQUENCY_FILE, FrequencySource,
                    check_class_weights, check_reduction, enet_class_weights,
                    load_class_frequencies, read_class_values)

ClassWeight = Union[str, Sequence[float]]
REWRITTEN_TYPES = ('CrossEntropyLoss', 'mmseg.CrossEntropyLoss')


@MODELS.register_module()
class ClassWeightedCrossEntropyLoss(CrossEntropyLoss):
    """Softmax cross-entropy with class weights, averaged as PyTorch does.

    mmseg 1.2.2's :class:`CrossEntropyLoss` fails with a ``class_weight`` on
    any batch that holds an ignored pixel: to average, its ``cross_entropy``
    looks up ``class_weight[label]`` for every pixel *before* masking the
    ignored ones, and ``class_weight[255]`` is out of range. This subclass
    computes that divisor itself, ``sum of class_weight[label]`` over the
    pixels that are not ignored, and hands it to mmseg's ``cross_entropy``
    as ``avg_factor``. The result is PyTorch's weighted mean
    (``F.cross_entropy(weight=..., ignore_index=...)``) and equals mmseg's
    on every batch mmseg can handle (those without ignored pixels, where
    ``avg_non_ignore`` makes no difference).

    The weights are either given (``class_weight``, as in mmseg) or, with
    ``class_weight='enet'``, ENet's ``1 / ln(c + f_i)`` from the class
    frequencies that OWFL uses: the WCEL of ENet, ERFNet and SPSSNet that the
    AFFNet paper compares OWFL with (Tables IV, VII, VIII).

    Args:
        class_weight (str | Sequence[float]): One weight per class, a file
            of them (:func:`read_class_values`: a JSON list, or a dict with
            a ``class_weight`` list, or a ``.npy`` array; no other file is
            read), or ``'enet'``. Default: 'enet'.
        class_frequencies (str | Sequence[float]): Frequencies or pixel
            counts for ``class_weight='enet'``, as for
            :class:`ObjectWeightedFocalLoss`. Default: the Cityscapes train
            split.
        c (float): ENet's constant. Default: 1.02.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
            Default: 'mean'.
        loss_weight (float): Multiplier of the loss. Default: 1.0.
        loss_name (str): Name of the logged loss item; must start with
            ``loss_``. Default: 'loss_ce'.
    """

    def __init__(self,
                 class_weight: ClassWeight = 'enet',
                 class_frequencies: FrequencySource = CITYSCAPES_FREQUENCY_FILE,
                 c: float = 1.02,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_ce'):
        if not loss_name.startswith('loss_'):
            raise ValueError(
                f'loss_name must start with "loss_" to be back-propagated, '
                f'got {loss_name!r}.')
        check_reduction(reduction, allow_none=False)
        if isinstance(class_weight, str) and class_weight == 'enet':
            class_weight = enet_class_weights(
                load_class_frequencies(class_frequencies), c).tolist()
        elif class_weight is not None:
            where = f'in {class_weight}' if isinstance(class_weight, str) \
                else 'given as a list'
            class_weight = read_class_values(class_weight, 'Class weights')
            check_class_weights(class_weight, where)
        super().__init__(
            use_sigmoid=False,
            reduction=reduction,
            class_weight=class_weight,
            loss_weight=loss_weight,
            loss_name=loss_name,
            avg_non_ignore=True)
        if self.class_weight is None or len(self.class_weight) == 0:
            raise ValueError(
                'ClassWeightedCrossEntropyLoss needs one weight per class; '
                f'got {class_weight!r}. Use mmseg\'s CrossEntropyLoss for '
                'unweighted cross-entropy.')

    def forward(self,
                cls_score: torch.Tensor,
                label: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None,
                ignore_index: int = 255) -> torch.Tensor:
        """Weighted cross-entropy of (N, C, H, W) scores and (N, H, W) labels.

        Args:
            cls_score (Tensor): Class scores, shape (N, C, H, W).
            label (Tensor): Integer labels, shape (N, H, W).
            weight (Tensor, optional): Per-pixel weights, shape (N, H, W).
            avg_factor (float, optional): Divisor of the ``'mean'``
                reduction. Default: the summed class weights of the pixels
                not ignored.
            reduction_override (str, optional): Replaces ``reduction``.
            ignore_index (int): Label that contributes nothing. Default: 255.

        Returns:
            Tensor: Scalar loss, or per-pixel loss (N, H, W) for ``'none'``.
        """
        check_reduction(reduction_override, allow_none=True)
        class_weight = cls_score.new_tensor(self.class_weight)
        if class_weight.numel() != cls_score.shape[1]:
            raise ValueError(
                f'{type(self).__name__} has {class_weight.numel()} class '
                f'weights but the scores have {cls_score.shape[1]} channels; '
                'give one weight (or frequency) per class of the head.')
        reduction = reduction_override or self.reduction
        if avg_factor is None and reduction == 'mean':
            valid = label != ignore_index
            safe_label = torch.where(valid, label, torch.zeros_like(label))
            avg_factor = (class_weight[safe_label] * valid).sum()
        return super().forward(
            cls_score,
            label,
            weight=weight,
            avg_factor=avg_factor,
            reduction_override=reduction,
            ignore_index=ignore_index)


def use_ignore_safe_class_weighted_ce(config: Any) -> Any:
    """Swap every class-weighted softmax ``CrossEntropyLoss`` for
    :class:`ClassWeightedCrossEntropyLoss`.

    Walks a model config (dicts and lists, e.g. ``cfg.model`` of mmseg's
    CGNet or PIDNet configs) and rewrites each loss dict of type
    ``CrossEntropyLoss`` that sets a ``class_weight`` and uses neither
    ``use_sigmoid`` nor ``use_mask``. ``class_weight``, ``reduction``,
    ``loss_weight`` and ``loss_name`` are kept; ``use_sigmoid=False`` and
    ``avg_non_ignore`` are dropped (the new loss always averages over the
    weights of the pixels that are not ignored). Other losses are untouched.

    Args:
        config (dict | list | Any): The model config, or any part of it.

    Returns:
        A rewritten deep copy of ``config``; the input is not modified.
    """
    config = copy.deepcopy(config)
    for node in iter_dicts(config):
        if (node.get('type') in REWRITTEN_TYPES
                and node.get('class_weight') is not None
                and not node.get('use_sigmoid', False)
                and not node.get('use_mask', False)):
            scope, _, _ = node['type'].rpartition('.')
            node['type'] = (f'{scope}.' if scope else
                            '') + ClassWeightedCrossEntropyLoss.__name__
            for key in ('use_sigmoid', 'use_mask', 'avg_non_ignore'):
                node.pop(key, None)
    return config
