"""Capture and restore the random generators that training draws from."""
import random
from typing import Dict

import numpy as np
import torch


def capture_random_state() -> Dict:
    """Return the states of Python's, numpy's and torch's global generators.

    The numpy state keeps its keys as a list of ints, so the result holds
    only tensors, Python scalars and containers (weights-only loadable).

    Returns:
        dict: ``python``, ``numpy`` and ``torch`` states, and ``cuda`` (the
        current device's generator) when CUDA is initialised.
    """
    bit_generator, keys, pos, has_gauss, cached_gaussian = \
        np.random.get_state()
    state = dict(
        python=random.getstate(),
        numpy=(bit_generator, keys.tolist(), pos, has_gauss,
               cached_gaussian),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state()
    return state


def restore_random_state(state: Dict) -> None:
    """Set the global generators to a state from :func:`capture_random_state`.

    Args:
        state (dict): The captured state. A ``cuda`` entry is applied only
            when CUDA is available.
    """
    version, internal_state, gauss_next = state['python']
    random.setstate((version, tuple(internal_state), gauss_next))
    bit_generator, keys, pos, has_gauss, cached_gaussian = state['numpy']
    np.random.set_state((bit_generator, np.asarray(keys, dtype=np.uint32),
                         pos, has_gauss, cached_gaussian))
    torch.set_rng_state(state['torch'].cpu())
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state['cuda'].cpu())
