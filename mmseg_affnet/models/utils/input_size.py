"""The smallest input the models take."""
from typing import Sequence

#: Every model here downsamples 32 times; a smaller side has no 1/32
#: feature.
MIN_INPUT_SIZE = 32


def check_input_size(size: Sequence[int], what: str = 'Input shape') -> None:
    """Raise a ValueError if a side of ``size`` is below
    :data:`MIN_INPUT_SIZE`.

    Args:
        size (Sequence[int]): Height and width.
        what (str): What to call ``size`` in the error.
            Default: 'Input shape'.
    """
    if min(size) < MIN_INPUT_SIZE:
        raise ValueError(
            f'{what} {tuple(size)} is too small: the models downsample '
            f'{MIN_INPUT_SIZE} times; use at least '
            f'{MIN_INPUT_SIZE}x{MIN_INPUT_SIZE}.')
