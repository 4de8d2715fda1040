"""The check that a segmentor's heads fit the features of its backbone."""
from contextlib import contextmanager
from typing import Iterator, List, Sequence, Tuple

import torch
import torch.nn as nn
from torch import Tensor

InputShape = Tuple[int, int, int]  # (C, H, W)


def check_head_channels(model: nn.Module,
                        input_shape: InputShape = (3, 64, 64)) -> None:
    """Raise a ValueError if a head does not fit the backbone's features.

    The backbone (and neck) run once on a dummy all-zero image, in eval
    mode and without gradients; every decode and auxiliary head with
    ``in_index`` and ``in_channels`` (single or multiple selection, or
    ``resize_concat``) is compared with the channels of the features it
    selects. The error names the head, the index, the expected and received
    channels and the fix, instead of a shape error deep inside the first
    forward. The modes of all submodules are left as they were. Models
    without ``extract_feat`` are not checked.

    Args:
        model (nn.Module): An mmseg segmentor, e.g. ``EncoderDecoder``.
        input_shape (tuple[int, int, int]): ``(C, H, W)`` of the dummy
            image; ``H`` and ``W`` must suit the backbone's total stride.
            Default: (3, 64, 64).

    Raises:
        ValueError: A head's ``in_index`` is out of range, or its
            ``in_channels`` differ from the selected features' channels.
        RuntimeError: The backbone cannot run on the dummy image.
    """
    if not hasattr(model, 'extract_feat'):
        return
    channels = feature_channels(model, input_shape)
    errors = [
        error for name, head in named_heads(model)
        for error in head_input_errors(name, head, channels)
    ]
    if errors:
        raise ValueError(
            'The heads do not match the backbone'
            f'{" and neck" if getattr(model, "with_neck", False) else ""}, '
            f'which return {len(channels)} features with channels '
            f'{channels}:\n' + '\n'.join(f'  - {error}' for error in errors))


def feature_channels(model: nn.Module, input_shape: InputShape) -> List[int]:
    """Channels of every feature the backbone (and neck) return.

    Args:
        model (nn.Module): A segmentor with ``extract_feat``.
        input_shape (tuple[int, int, int]): ``(C, H, W)`` of the dummy
            image.

    Returns:
        list[int]: Channels of each feature, in the order heads index them.
    """
    first_param = next(model.parameters(), None)
    device = 'cpu' if first_param is None else first_param.device
    dummy = torch.zeros(1, *input_shape, device=device)
    with evaluation_mode(model), torch.no_grad():
        try:
            features = model.extract_feat(dummy)
        except Exception as err:
            raise RuntimeError(
                'Checking the heads against the backbone failed: the '
                'backbone cannot run on a dummy image of shape '
                f'{tuple(dummy.shape)} ({type(err).__name__}: {err}). Pass an '
                'input_shape (C, H, W) it accepts.') from err
    if isinstance(features, Tensor):
        features = [features]
    return [feature.shape[1] for feature in features]


def named_heads(model: nn.Module) -> Iterator[Tuple[str, nn.Module]]:
    """Yield ``(config name, head)`` for the decode and auxiliary heads.

    Args:
        model (nn.Module): An mmseg segmentor.

    Returns:
        Iterator[tuple[str, nn.Module]]: e.g. ``('decode_head', head)``,
        ``('auxiliary_head[1]', head)``.
    """
    for name in ('decode_head', 'auxiliary_head'):
        heads = getattr(model, name, None)
        if isinstance(heads, nn.ModuleList):
            for i, head in enumerate(heads):
                yield f'{name}[{i}]', head
        elif heads is not None:
            yield name, heads


@contextmanager
def evaluation_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Put ``module`` in eval mode, then restore each submodule's own mode.

    Args:
        module (nn.Module): The module to evaluate.

    Returns:
        Iterator[nn.Module]: ``module``, in eval mode inside the block.
    """
    modes = [(submodule, submodule.training)
             for submodule in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for submodule, training in modes:
            submodule.training = training


def head_input_errors(name: str, head: nn.Module,
                      channels: Sequence[int]) -> List[str]:
    """Describe how a head's ``in_index``/``in_channels`` miss the features.

    Heads without ``in_index`` and ``in_channels`` are not checked.

    Args:
        name (str): The head's name in the config, e.g. ``'decode_head'``.
        head (nn.Module): The head, usually a ``BaseDecodeHead``.
        channels (Sequence[int]): Channels of every backbone feature.

    Returns:
        list[str]: One message per problem; empty when the head fits.
    """
    if not (hasattr(head, 'in_index') and hasattr(head, 'in_channels')):
        return []
    label = f'{name} ({type(head).__name__})'
    indices = _as_list(head.in_index)
    missing = [i for i in indices if not -len(channels) <= i < len(channels)]
    if missing:
        return [
            f'{label}: in_index {head.in_index} selects {missing}, but there '
            f'are only {len(channels)} features (indices 0-'
            f'{len(channels) - 1}); set {name}.in_index to existing indices '
            "(and the backbone's out_indices to return the features you "
            'want).'
        ]
    received = [channels[i] for i in indices]
    if getattr(head, 'input_transform', None) == 'resize_concat':
        problems = [] if head.in_channels == sum(received) else [
            f'in_index {head.in_index} selects {received} channels '
            f'(concatenated {sum(received)}) but in_channels is '
            f'{head.in_channels}'
        ]
    else:
        problems = _channel_mismatches(indices, _as_list(head.in_channels),
                                       received)
    if not problems:
        return []
    fitting = received if isinstance(head.in_index,
                                     (list, tuple)) else received[0]
    return [
        f'{label}: {"; ".join(problems)}. Fix: set {name}.in_channels='
        f'{fitting} for in_index={head.in_index}, or change in_index.'
    ]


def _channel_mismatches(indices: Sequence[int], expected: Sequence[int],
                        received: Sequence[int]) -> List[str]:
    problems = [
        f'in_index {index} gives {got} channels where in_channels declares '
        f'{want}' for index, want, got in zip(indices, expected, received)
        if want != got
    ]
    if len(expected) != len(received):
        problems.append(f'in_channels has {len(expected)} entries for '
                        f'{len(received)} selected features')
    return problems


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]
