"""Clean shutdown of distributed runs, as a hook."""
import torch.distributed as torch_dist
from mmengine.hooks import Hook
from mmseg.registry import HOOKS


@HOOKS.register_module()
class DistTeardownHook(Hook):
    """Wait for every process, then destroy the process group, after a run.

    Without it, the interpreters of a distributed run shut down while
    gloo's worker threads still hold collective objects, and about one run
    in four (2 CPU processes) aborts at exit with ``terminate called
    without an active exception`` although its outputs are complete. A
    barrier followed by ``destroy_process_group()`` removes that race.
    Does nothing when the run is not distributed.
    """

    priority = 'VERY_LOW'

    def after_run(self, runner) -> None:
        """Barrier, then destroy the default process group."""
        if torch_dist.is_available() and torch_dist.is_initialized():
            torch_dist.barrier()
            torch_dist.destroy_process_group()
