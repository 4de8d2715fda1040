"""Run tools/train.py with a kill in the middle of a checkpoint save.

Used by tests/test_engine/test_checkpoint_hook.py as
``python interrupted_train.py TRAIN_ARGS`` (the resumed run goes on in the
test's own process, with ``with_fixed_miou``):

- ``KILL_SAVING=NAME:N``: the N-th time a checkpoint file whose name starts
  with NAME is written, write half a file, then SIGKILL this process (what
  a power cut or the OOM killer does in the middle of ``torch.save``);
- ``FAKE_MIOU=a,b,c``: the metric reports these val mIoUs in turn, so that
  which epoch is best is known in advance; ``kill`` instead of a value
  SIGKILLs this process in that validation.
"""
import os
import os.path as osp
import runpy
import signal
import sys

import mmengine.runner.runner as mmengine_runner

from mmseg_affnet.evaluation import GammaGroupIoUMetric

TRAIN_TOOL = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
                      'tools', 'train.py')


def kill_while_saving(prefix: str, occurrence: int) -> None:
    save = mmengine_runner.save_checkpoint
    seen = []

    def save_or_die(checkpoint, filename, *args, **kwargs):
        if osp.basename(filename).startswith(prefix):
            seen.append(filename)
            if len(seen) == occurrence:
                with open(filename, 'wb') as file:
                    file.write(b'PK\x03\x04 half a checkpoint')
                os.kill(os.getpid(), signal.SIGKILL)
        return save(checkpoint, filename, *args, **kwargs)

    mmengine_runner.save_checkpoint = save_or_die


def with_fixed_miou(compute, values):
    """``compute`` (``GammaGroupIoUMetric.compute_metrics``) reporting the
    mIoUs ``values`` in turn; ``kill`` instead of a value SIGKILLs this
    process in that validation."""
    scores = iter(values)

    def compute_with_fixed_miou(self, results):
        metrics = compute(self, results)
        score = next(scores)
        if score == 'kill':
            os.kill(os.getpid(), signal.SIGKILL)
        metrics['mIoU'] = float(score)
        return metrics

    return compute_with_fixed_miou


if __name__ == '__main__':
    if os.environ.get('KILL_SAVING'):
        name, count = os.environ['KILL_SAVING'].rsplit(':', 1)
        kill_while_saving(name, int(count))
    if os.environ.get('FAKE_MIOU'):
        GammaGroupIoUMetric.compute_metrics = with_fixed_miou(
            GammaGroupIoUMetric.compute_metrics,
            os.environ['FAKE_MIOU'].split(','))
    sys.argv = [TRAIN_TOOL, *sys.argv[1:]]
    runpy.run_path(TRAIN_TOOL, run_name='__main__')
