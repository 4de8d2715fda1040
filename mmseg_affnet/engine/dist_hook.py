"""Clean shutdown of distributed runs, as a hook."""
import torch.distributed as torch_dist
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS

# What a DistributedDataParallel wrapper holds of the process group: the
# C++ reducer and logger keep it alive, ``process_group`` names it.
DDP_COMMUNICATION_STATE = ('reducer', 'logger', 'process_group')


@HOOKS.register_module()
class DistTeardownHook(Hook):
    """After a distributed run, end the process group's life before exit.

    ``destroy_process_group()`` alone does not end it: the model's
    ``DistributedDataParallel`` wrapper holds the group through its C++
    reducer and logger, and the reducer sits in a reference cycle through
    the autograd hooks it puts on every parameter, which Python's cycle
    collector cannot see. The group's gloo threads (two
    ``pt_gloo_runloop`` workers and the ``gloo_tcp_loop``) then still run
    when the interpreter exits, and the group is torn down during
    finalization; now and then (about one ``tools/dist_test.sh`` run in
    ten on a loaded 2-core machine) that aborts the process with
    ``terminate called without an active exception`` after its results
    are complete. This hook waits for every process, puts the plain model
    back on the runner, drops the wrapper's communication state and then
    destroys the group, whose destructor joins its threads while the
    interpreter is whole. Does nothing when the run is not distributed.
    """

    priority = 'VERY_LOW'

    def after_run(self, runner) -> None:
        """Barrier, release the DDP wrapper, destroy the process group."""
        if not (torch_dist.is_available() and torch_dist.is_initialized()):
            return
        torch_dist.barrier()
        if is_model_wrapper(runner.model):
            wrapper = runner.model
            runner.model = wrapper.module
            for name in DDP_COMMUNICATION_STATE:
                if name in vars(wrapper):
                    delattr(wrapper, name)
        torch_dist.destroy_process_group()
