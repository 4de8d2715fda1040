from .bf16_optim_wrapper import BF16OptimWrapper
from .channels_last_hook import ChannelsLastHook
from .checkpoint import (from_weights_only_safe, load_checkpoint,
                         load_weights, to_weights_only_safe, weight_mismatch)
from .checkpoint_hook import ResumableCheckpointHook
from .dist_hook import DistTeardownHook
from .precise_bn import PreciseBNHook
from .preflight_hook import PreflightCheckHook
from .progress_hook import TrainProgressHook
from .random_state import capture_random_state, restore_random_state
from .segmentor import init_segmentor
from .runner import (CPUDistributedRunner, check_work_dir, end_process_group,
                     select_cpu_distributed_runner, start_process_group)

__all__ = [
    'load_checkpoint', 'load_weights', 'weight_mismatch',
    'to_weights_only_safe', 'from_weights_only_safe',
    'ResumableCheckpointHook', 'PreflightCheckHook', 'DistTeardownHook',
    'PreciseBNHook', 'BF16OptimWrapper', 'ChannelsLastHook',
    'capture_random_state', 'restore_random_state', 'CPUDistributedRunner',
    'check_work_dir', 'end_process_group', 'init_segmentor',
    'select_cpu_distributed_runner', 'start_process_group',
    'TrainProgressHook'
]
