"""Checking a device name before anything is built on it."""
from typing import Optional

import torch


def resolve_device(device: Optional[str] = None) -> str:
    """Check a device name before a model is built on it.

    Args:
        device (str, optional): ``'cpu'``, ``'cuda'``, ``'cuda:N'`` or
            another device torch knows; None picks ``'cuda:0'`` when CUDA is
            available, else ``'cpu'``. Default: None.

    Returns:
        str: The device.

    Raises:
        ValueError: If torch does not know the device, or it is a CUDA
            device that this torch build or machine does not have; the
            message names the fix.
    """
    if device is None:
        return 'cuda:0' if torch.cuda.is_available() else 'cpu'
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f'--device {device!r} is not a device; use cpu, cuda or cuda:N.'
        ) from None
    if parsed.type == 'cuda':
        if torch.version.cuda is None and torch.version.hip is None:
            raise ValueError(
                f'--device {device}: CUDA is not available in this torch '
                f'build ({torch.__version__}, CPU only); use --device cpu, '
                'or install a CUDA build of torch.')
        count = torch.cuda.device_count() if torch.cuda.is_available() \
            else 0
        if count == 0:
            raise ValueError(
                f'--device {device}: torch sees no CUDA device on this '
                'machine; use --device cpu.')
        if parsed.index is not None and parsed.index >= count:
            raise ValueError(
                f'--device {device}: there {"is" if count == 1 else "are"} '
                f'only {count} CUDA device{"s" * (count != 1)} (cuda:0 to '
                f'cuda:{count - 1}).')
    return device
