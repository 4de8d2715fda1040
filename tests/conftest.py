"""Fixtures shared by the whole suite."""
import functools
import gc
import os.path as osp
from typing import NamedTuple

import pytest
import torch
from mmengine.config import Config
from mmengine.config import config as config_module

from mmseg_affnet.apis import run_training
from tests.utils.training import (TRAINED_EPOCHS, make_demo_data,
                                  write_tiny_config)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """A ``processes`` test is also ``slow``; under pytest-xdist (``-n 2
    --dist loadgroup``) the ``processes`` tests form one group, run one at
    a time on one worker: two of them at once on 2 cores would time their
    signals and kills against each other's processes. Runs before pytest
    selects by marker (``-m``) and before xdist reads the groups."""
    for item in items:
        if item.get_closest_marker('processes'):
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.xdist_group('processes'))


def pytest_collection_finish(session):
    """Everything imported and collected so far lives as long as the
    session: frozen out of the garbage collector's work, so that each
    ``gc.collect()`` (mmengine calls one for every dataset it builds) and
    each automatic collection walks only what the tests create."""
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True, scope='session')
def single_torch_thread():
    """One intra-op thread: on a 2-core CI machine more threads make these
    small models slower, not faster."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True, scope='session')
def config_text_formatted_once_per_text():
    """mmengine formats a config's text with yapf at every dump, every log
    of it and every checkpoint save (``Config.pretty_text``, about 0.35 s a
    call on 2 cores), and the suite's trainings format the same texts over
    and over. yapf gives the same text for the same input, so each input is
    formatted once per process: the texts are those yapf writes."""
    format_code = config_module.FormatCode

    @functools.lru_cache(maxsize=512)
    def format_text(text: str, style: tuple) -> tuple:
        return format_code(text, style_config=dict(style))

    def format_once(text, style_config=None, **kwargs):
        if kwargs or not isinstance(style_config, dict):
            return format_code(text, style_config=style_config, **kwargs)
        return format_text(text, tuple(sorted(style_config.items())))

    config_module.FormatCode = format_once
    yield
    config_module.FormatCode = format_code


@pytest.fixture(scope='session')
def demo_root(tmp_path_factory) -> str:
    """The tiny demo dataset (2 training and 2 validation images of 64x128;
    with batch 2 every epoch trains on the same batch), generated once."""
    return make_demo_data(
        str(tmp_path_factory.mktemp('demo') / 'data'), num_train=2)


class TrainedRun(NamedTuple):
    """A finished training of the tiny config."""

    config: str  #: its config file
    work_dir: str  #: ``epoch_1.pth`` ... ``epoch_<TRAINED_EPOCHS>.pth``

    def checkpoint(self, epoch: int = TRAINED_EPOCHS) -> str:
        """Path of ``epoch_<epoch>.pth`` (the last one by default)."""
        return osp.join(self.work_dir, f'epoch_{epoch}.pth')


@pytest.fixture(scope='session')
def trained(tmp_path_factory, demo_root) -> TrainedRun:
    """The tiny config trained for ``TRAINED_EPOCHS`` epochs on
    ``demo_root``, once for the session. Read it; never write into it."""
    root = tmp_path_factory.mktemp('trained')
    config = write_tiny_config(str(root / 'tiny.py'), demo_root,
                               max_epochs=TRAINED_EPOCHS, lr=1e-3)
    cfg = Config.fromfile(config)
    cfg.work_dir = str(root / 'work_dir')
    cfg.experiment_name = 'session_training'
    run_training(cfg)
    return TrainedRun(config, cfg.work_dir)
