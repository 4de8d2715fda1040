"""Object-weighted focal loss (OWFL) of AFFNet (Kuang et al., Sec. III.C)."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.models.losses.utils import weight_reduce_loss
from mmseg.registry import MODELS

from .utils import (CITYSCAPES_FREQUENCY_FILE, FrequencySource,
                    check_reduction, load_class_frequencies,
                    owfl_alpha_gamma)

@MODELS.register_module()
class ObjectWeightedFocalLoss(nn.Module):
    """Object-weighted focal loss: ``-alpha_i (1 - p_i)^gamma_i ln p_i``.

    Frequent classes get a small ``alpha`` and a large ``gamma`` so their easy
    pixels are down-weighted; rare classes keep weight 1 and plain
    cross-entropy (``gamma = 0``). AFFNet trains with OWFL + 0.5 * CE (eq. 3).
    The number of classes is the length of the frequency list.

    Args:
        class_frequencies (str | Sequence[float]): Per-class pixel frequencies
            or counts, or a JSON file of them. Default: Cityscapes train split
            (``cityscapes_class_frequency.json`` beside this module).
        c (float): Smoothing constant of eq. 4. Default: 1.02.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``. ``'mean'``
            averages over the pixels whose label is not ignored.
            Default: 'mean'.
        loss_weight (float): Multiplier of the loss. Default: 1.0.
        loss_name (str): Name under which the loss is logged; must start with
            ``loss_``. Default: 'loss_owfl'.

    Attributes:
        alpha (Tensor): Per-class balance factors, shape (C, ).
        gamma (Tensor): Per-class focusing exponents, shape (C, ).
    """

    def __init__(self,
                 class_frequencies: FrequencySource = CITYSCAPES_FREQUENCY_FILE,
                 c: float = 1.02,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_owfl'):
        super().__init__()
        if not loss_name.startswith('loss_'):
            raise ValueError(
                f'loss_name must start with "loss_" to be back-propagated, '
                f'got {loss_name!r}.')
        check_reduction(reduction, allow_none=False)
        alpha, gamma = owfl_alpha_gamma(
            load_class_frequencies(class_frequencies), c)
        self.register_buffer('alpha', alpha, persistent=False)
        self.register_buffer('gamma', gamma, persistent=False)
        self.reduction = reduction
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self,
                seg_logits: torch.Tensor,
                seg_label: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                ignore_index: int = 255,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> torch.Tensor:
        """OWFL of every pixel, reduced with mmseg's ``weight_reduce_loss``.

        Args:
            seg_logits (Tensor): Class scores, shape (N, C, H, W).
            seg_label (Tensor): Integer labels, shape (N, H, W).
            weight (Tensor, optional): Per-pixel weights, shape (N, H, W).
            ignore_index (int): Label that contributes nothing. Default: 255.
            avg_factor (float, optional): Divisor of the ``'mean'``
                reduction. Default: the number of pixels not ignored.
            reduction_override (str, optional): Replaces ``reduction`` for
                this call.

        Returns:
            Tensor: Scalar loss (0 when every pixel is ignored), or the
            per-pixel loss of shape (N, H, W) (0 at ignored pixels) for
            ``'none'``.
        """
        check_reduction(reduction_override, allow_none=True)
        reduction = reduction_override or self.reduction
        if seg_logits.shape[1] != self.alpha.numel():
            raise ValueError(
                f'OWFL was built for {self.alpha.numel()} classes (its '
                f'class_frequencies) but the logits have '
                f'{seg_logits.shape[1]} channels; give class_frequencies one '
                'entry per class of the head.')
        valid = seg_label != ignore_index
        target = torch.where(valid, seg_label, torch.zeros_like(seg_label))
        # Log-softmax in fp32 keeps ln p finite under fp16 autocast.
        log_p = F.log_softmax(seg_logits.float(), dim=1)
        log_p_true = log_p.gather(1, target.unsqueeze(1).long()).squeeze(1)
        p_true = log_p_true.exp()
        alpha, gamma = self.alpha[target], self.gamma[target]
        # (1 - p)^gamma with gamma = 0 must be 1 even when p == 1.
        modulator = torch.where(gamma > 0, (1 - p_true).clamp(min=0) ** gamma,
                                torch.ones_like(p_true))
        loss = -alpha * modulator * log_p_true * valid
        if avg_factor is None and reduction == 'mean':
            avg_factor = valid.sum()
        if weight is not None:
            weight = weight.float()
        return self.loss_weight * weight_reduce_loss(
            loss, weight=weight, reduction=reduction, avg_factor=avg_factor)

    @property
    def loss_name(self) -> str:
        """Name of the loss item, as logged by mmseg."""
        return self._loss_name
