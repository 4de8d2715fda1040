"""Apply a function to many files, in parallel, with mmengine's progress bar.
"""
import os
import signal
import sys
from multiprocessing import Pool
from typing import Callable, List, Sequence

from mmengine.utils import ProgressBar, track_progress


def map_with_progress(func: Callable,
                      tasks: Sequence,
                      nproc: int = 1,
                      progress: bool = True,
                      chunksize: int = 1) -> List:
    """``[func(task) for task in tasks]`` with a progress bar, in processes.

    mmengine's ``track_progress`` in one process; in ``nproc`` processes
    (``func`` and the tasks must be picklable), a pool that is stopped as
    soon as a task raises or the run is interrupted. mmengine's
    ``track_parallel_progress`` is not used for the pool: it leaves its
    workers running when a task raises, so they go on writing files after
    the error was reported. Results keep the order of ``tasks``.

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
        # Leaving the block terminates the workers (SIGTERM), on an error
        # too; they take SIGTERM's default action even where the parent
        # ignores or traps it (submitit's jobs do), or terminate() waits
        # for them forever.
        with Pool(min(nproc, len(tasks)), initializer=_default_sigterm) \
                as pool:
            bar = ProgressBar(len(tasks), file=file)
            results = []
            for result in pool.imap(func, tasks, chunksize):
                results.append(result)
                bar.update()
            file.write('\n')
            pool.close()
            pool.join()
        return results


def _default_sigterm() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
