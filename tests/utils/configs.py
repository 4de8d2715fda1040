"""Loading the project's configs in tests."""
import importlib.util

import pytest
from mmengine import Config


def skip_if_backbone_unavailable(cfg: Config) -> None:
    """Skip a test whose config needs a package this machine cannot import.

    ``mmpretrain.models`` imports torchvision, which has no CPU wheel for
    torch 2.13 on this project's CI; the config is still checked wherever
    torchvision is installed.
    """
    if (cfg.model.backbone.type.startswith('mmpretrain.')
            and importlib.util.find_spec('torchvision') is None):
        pytest.skip('mmpretrain.models needs torchvision, not installed')
