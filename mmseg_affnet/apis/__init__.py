"""High-level entry points: building models, runs, the demo and comparison
flows, inference (images, and video in real time)."""
from .compare import run_comparison
from .demo import run_demo
from .infer import segment_images
from .model import (check_head_channels, init_segmentor, load_config,
                    resolve_device, without_pretrained)
from .runs import build_runner, run_test, run_training
from .video import segment_video

__all__ = [
    'check_head_channels', 'init_segmentor', 'load_config',
    'resolve_device', 'without_pretrained', 'build_runner', 'run_training', 'run_test',
    'run_demo', 'run_comparison', 'segment_images', 'segment_video'
]
