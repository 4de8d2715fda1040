"""Fixtures shared by the whole suite."""
import functools

import pytest
import torch
from mmengine.config import utils as mmengine_config_utils


@pytest.fixture(autouse=True, scope='session')
def single_torch_thread():
    """One intra-op thread: on a 2-core CI machine more threads make these
    small models slower, not faster."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True, scope='session')
def cached_mmseg_model_index():
    """Read mmseg's model index once: mmengine re-reads its ~100 YAML files
    for every ``mmseg::`` base of every config (about 1 s each time)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            mmengine_config_utils, '_get_cfg_metainfo',
            functools.lru_cache(maxsize=None)(
                mmengine_config_utils._get_cfg_metainfo))
        yield
