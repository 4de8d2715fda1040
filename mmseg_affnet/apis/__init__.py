"""High-level entry points of the plugin: runs, the demo, inference (images,
and video in real time). The comparison and the experiment suites are the
research harness, :mod:`mmseg_affnet.research`.

The model-building helpers live on lower floors and are re-exported here:
:func:`init_segmentor` (``engine``), :func:`load_config` and
:func:`without_pretrained` (``utils``), :func:`resolve_device` (``utils``)
and :func:`check_head_channels` (``models.utils``).

:func:`segment_video` is imported on first use (PEP 562): it runs through
:mod:`mmseg_affnet.deploy`, whose runtimes (onnx, onnxruntime) cost about
0.9 s of CPU to import, a fifth of a training process's start, and training,
testing and the demo never use them.
"""
from ..engine import init_segmentor
from ..models.utils import check_head_channels
from ..utils import load_config, resolve_device, without_pretrained
from .demo import run_demo
from .infer import segment_images
from .test import run_test
from .train import build_runner, run_training

__all__ = [
    'check_head_channels', 'init_segmentor', 'load_config',
    'resolve_device', 'without_pretrained', 'build_runner', 'run_training', 'run_test',
    'run_demo', 'segment_images', 'segment_video'
]


def __getattr__(name: str):
    if name == 'segment_video':
        from .video import segment_video
        return segment_video
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
