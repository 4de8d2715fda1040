"""Result files are trusted only as the tool wrote them: content digest,
headline metrics against the class IoUs, files that are no results, and a
summary of nothing refused."""
import glob
import json
import os
import os.path as osp
import shutil

import pytest

from mmseg_affnet.research.experiment_suite import run_experiments
from mmseg_affnet.research.result_store import load_result, write_result

from tests.utils.tools import REPO_ROOT

RESULT = dict(model='AFFNet', mIoU=50.0, mIoU_gamma0=20.0, aAcc=90.0,
              class_iou=dict(sky=90.0, pole=10.0, road=50.0))


def written(tmp_path, result=RESULT):
    path = str(tmp_path / 'result.json')
    write_result(path, result)
    return path


def test_a_written_result_loads_with_its_digest(tmp_path):
    path = written(tmp_path)
    loaded = load_result(path)
    assert {k: v for k, v in loaded.items()
            if k != 'content_sha256'} == RESULT
    with pytest.raises(FileExistsError):  # a result is never overwritten
        write_result(path, RESULT)


def test_an_edited_number_is_refused_with_the_file_named(tmp_path):
    path = written(tmp_path)
    result = json.loads(open(path).read())
    result['mIoU'] = 99.9
    open(path, 'w').write(json.dumps(result, indent=2))
    with pytest.raises(ValueError, match=f'{path} does not match its '
                       'content_sha256'):
        load_result(path)


def test_a_headline_that_is_not_the_mean_of_its_classes_is_refused(
        tmp_path):
    # digest recomputed by the editor: the mIoU still disagrees
    path = written(tmp_path, dict(RESULT, mIoU=99.9))
    with pytest.raises(ValueError, match='mIoU 99.9 is not the mean of its '
                       r'class IoUs \(50.00\)'):
        load_result(path)
    # rounding to 2 decimals is not an edit
    (tmp_path / 'rounded').mkdir()
    load_result(written(tmp_path / 'rounded', dict(
        RESULT, mIoU=50.01, class_iou=dict(a=33.34, b=66.67))))


@pytest.mark.parametrize('content, message', [
    ('{"mIoU": 4', 'is not a JSON result file'),
    ('[1, 2]', 'holds a JSON list, not a result'),
    (b'\xff\xfe\x00binary', 'is not a JSON result file'),
])
def test_a_file_that_is_no_result_is_named(tmp_path, content, message):
    path = tmp_path / 'result.json'
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(ValueError, match=f'{path} {message}'):
        load_result(str(path))


def test_a_symlink_to_a_system_file_and_a_fifo_are_named(tmp_path):
    link = tmp_path / 'result.json'
    link.symlink_to('/etc/passwd')
    with pytest.raises(ValueError, match=f'{link} is not a JSON result'):
        load_result(str(link))
    fifo = tmp_path / 'fifo.json'
    os.mkfifo(fifo)  # opening it would block forever
    with pytest.raises(ValueError, match=f'{fifo} is not a regular file'):
        load_result(str(fifo))


def test_every_committed_result_is_intact():
    paths = glob.glob(osp.join(REPO_ROOT, 'results', '**', 'result.json'),
                      recursive=True)
    assert len(paths) >= 33
    for path in paths:
        load_result(path)


def test_a_summary_of_no_results_is_refused_and_writes_nothing(tmp_path):
    missing = tmp_path / 'missing'
    with pytest.raises(FileNotFoundError, match='holds no suite.json'):
        run_experiments(results_dir=str(missing), train=False)
    assert not missing.exists()
    empty = tmp_path / 'empty'
    empty.mkdir()
    shutil.copy(osp.join(REPO_ROOT, 'results', 'camvid', 'paper',
                         'suite.json'), empty)
    with pytest.raises(FileNotFoundError, match='holds no finished run'):
        run_experiments(results_dir=str(empty), train=False)
    assert os.listdir(empty) == ['suite.json']
