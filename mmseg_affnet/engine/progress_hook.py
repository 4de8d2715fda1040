"""A progress bar over the training iterations, as a hook."""
from typing import Optional

from mmengine.hooks import Hook
from mmseg.registry import HOOKS
from tqdm import tqdm


@HOOKS.register_module()
class TrainProgressHook(Hook):
    """A tqdm bar over the training iterations of one run (rank 0 only).

    The comparison adds it to the trainings it runs in its own process; the
    configs it writes do not name it.

    Args:
        name (str): What the bar is labelled with (``training <name>``).
    """

    def __init__(self, name: str):
        self.name = name
        self.bar: Optional[tqdm] = None

    def before_train(self, runner) -> None:
        self.bar = tqdm(total=runner.max_iters, initial=runner.iter,
                        desc=f'training {self.name}', unit='it',
                        disable=runner.rank != 0)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        self.bar.update(1)

    def after_train(self, runner) -> None:
        self.bar.close()
