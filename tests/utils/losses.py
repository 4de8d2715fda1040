"""Hand-computed references and small problems shared by the loss tests."""
import math
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn

IGNORE = 255
FREQS_3 = [0.7, 0.25, 0.05]
# (class scores, label) per pixel of a 2x3 image; the last pixel is ignored.
PIXELS_3 = [
    ([2.0, 0.5, -1.0], 0),
    ([0.1, 1.5, 0.3], 1),
    ([-0.5, 0.2, 3.0], 2),
    ([1.0, 1.0, 1.0], 0),
    ([0.3, -2.0, 0.8], 0),
    ([0.0, 0.4, -0.7], IGNORE),
]
#: Pixel counts of three classes.
COUNTS = [700, 250, 50]
FREQS_4 = [0.9, 0.09, 0.009, 0.001]
PIXELS_4 = [
    ([3.0, 0.0, -1.0, 0.5], 0),
    ([0.2, 0.1, 0.0, -0.3], 1),
    ([-1.0, 2.0, 0.5, 0.0], 2),
    ([0.0, 0.0, 0.0, 1.5], 3),
]


def reference_alpha_gamma(freqs: Sequence[float],
                          c: float = 1.02) -> Tuple[List[float], List[int]]:
    """Eqs. 4-6 with the math module; ``freqs`` may be unnormalised."""
    total = sum(freqs)
    omega = [1.0 / math.log(f / total + c) for f in freqs]
    alpha = [w / max(omega) for w in omega]
    gamma = [math.floor(math.log10(f / min(freqs))) for f in freqs]
    return alpha, gamma


def reference_loss(pixels, freqs, weights=None, ignore_index=IGNORE) -> float:
    """Mean of ``-w alpha (1 - p)^gamma ln p`` over the non-ignored pixels."""
    alpha, gamma = reference_alpha_gamma(freqs)
    weights = weights or [1.0] * len(pixels)
    terms = []
    for (scores, label), weight in zip(pixels, weights):
        if label == ignore_index:
            continue
        p = math.exp(scores[label]) / sum(math.exp(s) for s in scores)
        terms.append(-weight * alpha[label] * (1 - p)**gamma[label] *
                     math.log(p))
    return sum(terms) / len(terms)


def pixels_to_tensors(pixels, height: int,
                      width: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """(1, C, H, W) logits and (1, H, W) labels from row-major pixels."""
    scores = torch.tensor([s for s, _ in pixels], dtype=torch.float32)
    logits = scores.T.reshape(1, -1, height, width)
    labels = torch.tensor([label for _, label in pixels]).reshape(
        1, height, width)
    return logits, labels


def random_problem(num_classes: int = 3, seed: int = 0):
    """Random (2, C, 4, 5) logits and labels with about a third ignored."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, num_classes, 4, 5, generator=generator)
    labels = torch.randint(0, num_classes, (2, 4, 5), generator=generator)
    ignored = torch.rand(2, 4, 5, generator=generator) < 0.35
    labels[ignored] = IGNORE
    return logits, labels


def loss_and_grad(loss_fn: nn.Module, logits: torch.Tensor,
                  labels: torch.Tensor, **kwargs):
    logits = logits.clone().requires_grad_(True)
    loss = loss_fn(logits, labels, **kwargs)
    loss.backward()
    return loss.detach(), logits.grad
