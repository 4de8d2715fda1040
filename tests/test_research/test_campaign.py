"""The campaign engine's executors: submitit's local executor on tiny data
(separate processes, N at a time), a failed job named with its log, and the
settings refused before anything runs."""
import json
import sys

import pytest
from mmengine.config import Config

from mmseg_affnet.datasets.makers import generate_demo_dataset
from mmseg_affnet.research.campaign import (CampaignRun, Executor,
                                            train_pending)
from mmseg_affnet.research.experiment_suite import run_experiments
from mmseg_affnet.research.result_store import load_result
from mmseg_affnet.utils.mim import config_file

DEMO_RECIPE = config_file('affnet_demo.py')
# One iteration per run: 2 training images, batch 2, one epoch.
TINY = {
    'train_dataloader.batch_size': 2,
    'train_cfg.max_epochs': 1,
    'train_cfg.val_interval': 1,
    'param_scheduler.0.end': 1,
}


def test_executor_settings_are_checked():
    with pytest.raises(ValueError, match='Unknown executor'):
        Executor('ray')
    with pytest.raises(ValueError, match='parallel, timeout_min'):
        Executor('local', parallel=0)


def test_a_missing_submitit_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'submitit', None)  # import fails
    run = CampaignRun('x', Config(dict(work_dir=str(tmp_path))),
                      str(tmp_path / 'result.json'))
    with pytest.raises(ImportError, match=r"mmseg-affnet\[cluster\]"):
        train_pending([run], 'none', 0, executor=Executor('local'))


def test_local_jobs_cannot_be_distributed(tmp_path):
    with pytest.raises(ValueError, match='use --launcher none'):
        train_pending([], 'pytorch', 0, executor=Executor('local'))


@pytest.mark.processes
def test_two_runs_as_two_local_jobs(tmp_path):
    data = str(tmp_path / 'data')
    generate_demo_dataset(data, num_train=2, num_val=2, size=(128, 256),
                          progress=False)
    jobs = tmp_path / 'jobs'
    run_experiments(
        'paper', ['CE'], 1, recipe=DEMO_RECIPE, data_root=data,
        work_dir=str(tmp_path / 'work'),
        results_dir=str(tmp_path / 'results'), cfg_options=TINY,
        executor=Executor('local', str(jobs), parallel=2, threads=1))
    for folder in ('affnet', 'ce'):
        result = load_result(str(tmp_path / 'results' / folder / 'seed0' /
                                 'result.json'))
        assert result['seed'] == 0 and 0 <= result['mIoU'] <= 100
        assert 'checkpoint' not in result
    # each run was a job of its own: submitit's logs, one per job
    assert len(list(jobs.glob('*_log.out'))) == 2
    summary = json.loads(
        (tmp_path / 'results' / 'suite.json').read_text())
    assert summary['world_size'] == 1


@pytest.mark.processes
def test_a_failed_job_is_named_with_its_log(tmp_path):
    broken = CampaignRun(
        'broken', Config(dict(work_dir=str(tmp_path / 'work'),
                              model=dict(type='NoSuchModel'))),
        str(tmp_path / 'result.json'))
    with pytest.raises(RuntimeError,
                       match=r'1 of 1 runs failed: broken \(.*log: .*'):
        train_pending([broken], 'none', 0, executor=Executor(
            'local', str(tmp_path / 'jobs')))
    assert not (tmp_path / 'result.json').exists()
