"""Object-weighted focal loss (OWFL) of AFFNet (Kuang et al., Sec. III.C)."""
import os
import os.path as osp
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.models.losses.utils import weight_reduce_loss
from mmseg.registry import MODELS

from .utils import read_class_values

CITYSCAPES_FREQUENCY_FILE = osp.join(
    osp.dirname(__file__), 'cityscapes_class_frequency.json')
FrequencySource = Union[str, Sequence[float]]
REDUCTIONS = ('none', 'mean', 'sum')
FREQUENCY_FIX = ('Count them on your labels with `python '
                 'tools/class_frequency.py LABEL_DIR --out FILE.json`.')


def load_class_frequencies(source: FrequencySource,
                           num_classes: Optional[int] = None) -> torch.Tensor:
    """Read per-class pixel frequencies and normalise them to sum to one.

    Args:
        source (str | Sequence[float]): A list of per-class frequencies (or
            pixel counts), or a file of them (:func:`read_class_values`): a
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
