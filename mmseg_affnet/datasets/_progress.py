"""Apply a function to many files, in parallel, with mmengine's progress bar.
"""
import os
import sys
from typing import Callable, List, Sequence

from mmengine.utils import track_parallel_progress, track_progress


def map_with_progress(func: Callable,
                      tasks: Sequence,
                      nproc: int = 1,
                      progress: bool = True,
                      chunksize: int = 1) -> List:
    """``[func(task) for task in tasks]`` with a progress bar, in processes.

    A thin switch between mmengine's ``track_progress`` (one process) and
    ``track_parallel_progress`` (a pool of ``nproc`` processes; ``func`` and
    the tasks must be picklable). Results keep the order of ``tasks``.

    Args:
        func (Callable): Applied to each task.
        tasks (Sequence): The tasks.
        nproc (int): Worker processes; 1 runs in this process. Default: 1.
        progress (bool): Show mmengine's progress bar on stdout. Default:
            True.
        chunksize (int): Tasks handed to a worker at once. Default: 1.

    Returns:
        list: ``func``'s result for each task, in order.
    """
    if not tasks:
        return []
    with open(os.devnull, 'w') as devnull:
        file = sys.stdout if progress else devnull
        if nproc <= 1 or len(tasks) == 1:
            return track_progress(func, tasks, file=file)
        return track_parallel_progress(
            func, tasks, min(nproc, len(tasks)), chunksize=chunksize,
            file=file)
