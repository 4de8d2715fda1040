"""Object-weighted focal loss (OWFL) of AFFNet (Kuang et al., Sec. III.C)."""
import json
import math
import os.path as osp
from typing import Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS

CITYSCAPES_FREQUENCY_FILE = osp.join(
    osp.dirname(__file__), 'cityscapes_class_frequency.json')
FrequencySource = Union[str, Sequence[float]]


def load_class_frequencies(source: FrequencySource,
                           num_classes: int) -> torch.Tensor:
    """Read per-class pixel frequencies and normalise them to sum to one.

    Args:
        source (str | Sequence[float]): A list of per-class frequencies (or
            pixel counts), or the path of a JSON file holding either a list
            or a dict with a ``frequencies`` or ``pixel_counts`` list (the
            format written by ``tools/class_frequency.py``).
        num_classes (int): Number of classes the list must have.

    Returns:
        Tensor: Frequencies of shape (num_classes, ), float64, summing to 1.

    Raises:
        ValueError: If the file is missing or malformed, the number of
            classes differs, or a frequency is zero, negative or not finite.
    """
    values = _read_frequency_file(source) if isinstance(source, str) \
        else source
    freqs = torch.as_tensor(list(values), dtype=torch.float64)
    if freqs.ndim != 1 or freqs.numel() != num_classes:
        raise ValueError(
            f'OWFL needs one frequency per class: got {freqs.numel()} values '
            f'for num_classes={num_classes}. Recompute them on your label '
            'folder with tools/class_frequency.py.')
    if not torch.isfinite(freqs).all() or (freqs <= 0).any():
        bad = [i for i, f in enumerate(freqs.tolist())
               if not math.isfinite(f) or f <= 0]
        raise ValueError(
            f'OWFL class frequencies must be positive and finite; classes '
            f'{bad} have {[freqs[i].item() for i in bad]}. A class that never '
            'occurs has no defined weight: drop it from the label set or '
            'give it a small positive frequency.')
    return freqs / freqs.sum()


def _read_frequency_file(path: str) -> Sequence[float]:
    if not osp.isfile(path):
        raise ValueError(
            f'OWFL class-frequency file not found: {path}. Write one with '
            '`python tools/class_frequency.py LABEL_DIR --out FILE.json` or '
            'pass the frequencies as a list.')
    with open(path) as f:
        try:
            content = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(
                f'OWFL class-frequency file {path} is not valid JSON: {err}')
    if isinstance(content, dict):
        content = content.get('frequencies', content.get('pixel_counts'))
    if not isinstance(content, list):
        raise ValueError(
            f'OWFL class-frequency file {path} must hold a list, or a dict '
            'with a "frequencies" or "pixel_counts" list.')
    return content


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
    if c <= 1:
        raise ValueError(f'OWFL constant c must be > 1, got {c}.')
    omega = 1.0 / torch.log(freqs + c)
    alpha = omega / omega.max()
    # A tiny tolerance keeps exact powers of ten (ratio 10.0) at their order.
    gamma = torch.floor(torch.log10(freqs / freqs.min()) + 1e-9)
    return alpha.float(), gamma.float()


@MODELS.register_module()
class ObjectWeightedFocalLoss(nn.Module):
    """Object-weighted focal loss: ``-alpha_i (1 - p_i)^gamma_i ln p_i``.

    Frequent classes get a small ``alpha`` and a large ``gamma`` so their easy
    pixels are down-weighted; rare classes keep weight 1 and plain
    cross-entropy (``gamma = 0``). AFFNet trains with OWFL + 0.5 * CE (eq. 3).

    Args:
        class_frequencies (str | Sequence[float]): Per-class pixel frequencies
            or counts, or a JSON file of them. Default: Cityscapes train split
            (``cityscapes_class_frequency.json`` beside this module).
        num_classes (int): Number of classes. Default: 19.
        c (float): Smoothing constant of eq. 4. Default: 1.02.
        loss_weight (float): Multiplier of the loss. Default: 1.0.
        loss_name (str): Name under which the loss is logged; must start with
            ``loss_``. Default: 'loss_owfl'.

    Attributes:
        alpha (Tensor): Per-class balance factors, shape (num_classes, ).
        gamma (Tensor): Per-class focusing exponents, shape (num_classes, ).
    """

    def __init__(self,
                 class_frequencies: FrequencySource = CITYSCAPES_FREQUENCY_FILE,
                 num_classes: int = 19,
                 c: float = 1.02,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_owfl'):
        super().__init__()
        if not loss_name.startswith('loss_'):
            raise ValueError(
                f'loss_name must start with "loss_" to be back-propagated, '
                f'got {loss_name!r}.')
        alpha, gamma = owfl_alpha_gamma(
            load_class_frequencies(class_frequencies, num_classes), c)
        self.register_buffer('alpha', alpha, persistent=False)
        self.register_buffer('gamma', gamma, persistent=False)
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self,
                seg_logits: torch.Tensor,
                seg_label: torch.Tensor,
                weight: torch.Tensor = None,
                ignore_index: int = 255,
                **kwargs) -> torch.Tensor:
        """Mean OWFL over the pixels whose label is not ``ignore_index``.

        Args:
            seg_logits (Tensor): Class scores, shape (N, C, H, W).
            seg_label (Tensor): Integer labels, shape (N, H, W).
            weight (Tensor, optional): Per-pixel weights, shape (N, H, W).
            ignore_index (int): Label that contributes nothing. Default: 255.

        Returns:
            Tensor: Scalar loss (0 when every pixel is ignored).
        """
        if seg_logits.shape[1] != self.alpha.numel():
            raise ValueError(
                f'OWFL was built for {self.alpha.numel()} classes but the '
                f'logits have {seg_logits.shape[1]} channels; set num_classes '
                'and class_frequencies to match the head.')
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
        loss = -alpha * modulator * log_p_true
        if weight is not None:
            loss = loss * weight
        loss = loss * valid
        return self.loss_weight * loss.sum() / valid.sum().clamp(min=1)

    @property
    def loss_name(self) -> str:
        """Name of the loss item, as logged by mmseg."""
        return self._loss_name
