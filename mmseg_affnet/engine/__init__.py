from .checkpoint import (from_weights_only_safe, is_within,
                         load_checkpoint_file, to_weights_only_safe)
from .hooks import ResumableCheckpointHook
from .random_state import capture_random_state, restore_random_state
from .runner import AFFNetRunner, check_work_dir

__all__ = [
    'AFFNetRunner', 'ResumableCheckpointHook', 'check_work_dir',
    'capture_random_state', 'restore_random_state', 'load_checkpoint_file',
    'is_within', 'to_weights_only_safe', 'from_weights_only_safe'
]
