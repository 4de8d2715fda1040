"""map_with_progress: results in order, and a pool stopped when a task
fails (issue 31: parallel cuts went on writing after the error)."""
import os
import time

import pytest

from mmseg_affnet.datasets._progress import map_with_progress


def _square(value: int) -> int:
    return value * value


def _fail_first_write_rest(task):
    index, folder = task
    if index == 0:
        raise ValueError('task 0 fails')
    time.sleep(0.3)
    with open(os.path.join(folder, f'{index}.txt'), 'w') as file:
        file.write('written')
    return index


@pytest.mark.parametrize('nproc', [1, 2])
def test_results_keep_the_order_of_the_tasks(nproc):
    assert map_with_progress(_square, list(range(7)), nproc,
                             progress=False) == [v * v for v in range(7)]


def test_a_failing_task_stops_the_other_workers(tmp_path):
    tasks = [(index, str(tmp_path)) for index in range(40)]
    with pytest.raises(ValueError, match='task 0 fails'):
        map_with_progress(_fail_first_write_rest, tasks, nproc=2,
                          progress=False)
    written = set(os.listdir(tmp_path))
    time.sleep(1.5)  # a worker left running would write 4-5 more files
    assert set(os.listdir(tmp_path)) == written
    assert len(written) < 5
