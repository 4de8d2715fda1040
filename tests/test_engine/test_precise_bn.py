"""PreciseBN: BN running statistics recomputed as exact batch averages."""
import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.evaluator import BaseMetric, Evaluator
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmseg.registry import DATASETS
from torch.utils.data import Dataset

from mmseg_affnet.engine.precise_bn import (PreciseBNHook,
                                            recompute_bn_statistics,
                                            training_bn_layers)

# Four one-channel 1x2 "images". Batches of two, in order:
#   batch A: 0, 2, 4, 6 -> mean 3, unbiased variance (9+1+1+9)/3 = 20/3
#   batch B: 1, 1, 3, 7 -> mean 3, unbiased variance (4+4+0+16)/3 = 8
# Precise BN: mean 3, variance (20/3 + 8) / 2 = 22/3.
PIXELS = ([0., 2.], [4., 6.], [1., 1.], [3., 7.])
EXPECTED_MEAN, EXPECTED_VAR = 3., 22. / 3.


class FrozenBN(nn.BatchNorm2d):
    """A BN layer that stays in eval mode (like a backbone's norm_eval)."""

    def train(self, mode: bool = True):
        return super().train(False)


class TinyModel(BaseModel):
    """BN (the output), a frozen BN in the loss, a BN that nothing reaches."""

    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm2d(1, momentum=0.01)
        self.frozen = FrozenBN(1)
        self.unused = nn.BatchNorm2d(1)
        for layer in (self.bn, self.frozen, self.unused):
            layer.running_mean.fill_(-5.)  # wrong statistics
            layer.running_var.fill_(9.)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.bn(inputs)
        if mode == 'loss':
            return dict(loss=(self.frozen(out)**2).mean())
        return out


@DATASETS.register_module(name='PreciseBNTinyDataset', force=True)
class TinyDataset(Dataset):
    """PIXELS as (1, 1, 2) tensors; each item draws from numpy's generator,
    as augmentations do."""

    def __len__(self):
        return len(PIXELS)

    def __getitem__(self, index):
        np.random.rand()
        return dict(inputs=torch.tensor(PIXELS[index]).view(1, 1, 2))


def batches():
    """The two batches A and B as the dataloader collates them."""
    return [
        dict(inputs=torch.tensor([PIXELS[i], PIXELS[i + 1]]).view(2, 1, 1,
                                                                  2))
        for i in (0, 2)
    ]


def test_recompute_gives_the_batch_averages():
    model = TinyModel()
    model.train()
    done = recompute_bn_statistics(model, batches())
    assert done == dict(layers=1, batches=2)
    assert model.bn.running_mean.item() == pytest.approx(EXPECTED_MEAN)
    assert model.bn.running_var.item() == pytest.approx(EXPECTED_VAR)
    # momentum and the batch counter are as before
    assert model.bn.momentum == 0.01
    assert model.bn.num_batches_tracked.item() == 0
    # frozen and unreached layers are untouched
    for layer in (model.frozen, model.unused):
        assert layer.running_mean.item() == -5.
        assert layer.running_var.item() == 9.
    assert model.training


def test_recompute_one_batch_is_that_batch_and_restores_eval_mode():
    model = TinyModel()
    model.eval()
    recompute_bn_statistics(model, batches()[:1])
    assert model.bn.running_mean.item() == pytest.approx(3.)
    assert model.bn.running_var.item() == pytest.approx(20. / 3.)
    assert not model.training and not model.bn.training
    # eval-mode forward now normalises batch A to zero mean
    out = model.bn(batches()[0]['inputs'])
    assert out.mean().item() == pytest.approx(0., abs=1e-6)


def test_training_bn_layers_skips_frozen_and_untracked():
    model = TinyModel()
    model.add_module('untracked', nn.BatchNorm2d(1,
                                                 track_running_stats=False))
    model.train()
    assert training_bn_layers(model) == [model.bn, model.unused]


def test_hook_rejects_no_samples():
    with pytest.raises(ValueError, match='num_samples >= 1'):
        PreciseBNHook(num_samples=0)


class OutputMean(BaseMetric):
    """Mean of the model's eval-mode outputs over the val set."""

    def process(self, data_batch, data_samples):
        self.results.extend(data_samples)

    def compute_metrics(self, results):
        return dict(mean=torch.stack(results).mean().item())


def build_runner(tmp_path, max_epochs, val_interval, num_samples=4,
                 hooks=True):
    loader = dict(
        dataset=dict(type='PreciseBNTinyDataset'),
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=dict(type='default_collate'),
        batch_size=2,
        num_workers=0)
    return Runner(
        cfg=dict(train_dataloader=loader),  # as Runner.from_cfg has it
        model=TinyModel(),
        work_dir=str(tmp_path),
        train_dataloader=loader,
        val_dataloader=loader,
        val_evaluator=Evaluator(OutputMean()),
        val_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs,
                       val_interval=val_interval),
        custom_hooks=[dict(type='PreciseBNHook', num_samples=num_samples)]
        if hooks else None,
        default_hooks=dict(logger=None, checkpoint=None),
        default_scope='mmseg')


def test_hook_recomputes_before_validation(tmp_path):
    runner = build_runner(tmp_path, max_epochs=2, val_interval=1)
    runner.train()
    # lr 0: the weights never change, so the batch averages are exact
    assert runner.model.bn.running_mean.item() == pytest.approx(
        EXPECTED_MEAN)
    assert runner.model.bn.running_var.item() == pytest.approx(EXPECTED_VAR)
    # the validation saw the recomputed statistics: outputs centred on 0
    assert runner.message_hub.get_scalar('val/mean').current() == \
        pytest.approx(0., abs=1e-6)


def test_without_the_hook_the_statistics_lag(tmp_path):
    runner = build_runner(tmp_path, max_epochs=2, val_interval=1,
                          hooks=False)
    runner.train()
    # momentum 0.01 over four batches: still near the wrong start, -5
    assert runner.model.bn.running_mean.item() < -4.
    assert runner.message_hub.get_scalar('val/mean').current() > 2.


def test_hook_leaves_the_random_stream_alone(tmp_path):
    runner = build_runner(tmp_path, max_epochs=1, val_interval=1,
                          num_samples=3)
    runner.train()
    hook = next(h for h in runner.hooks if isinstance(h, PreciseBNHook))
    runner.model.bn.reset_running_stats()
    np.random.seed(123)
    torch.manual_seed(123)
    expected = (np.random.rand(), torch.rand(1).item())
    np.random.seed(123)
    torch.manual_seed(123)
    hook.recompute(runner)  # the dataset draws from numpy for each item
    assert (np.random.rand(), torch.rand(1).item()) == expected
    # 3 samples round up to 2 whole batches of 2
    assert runner.model.bn.running_var.item() == pytest.approx(EXPECTED_VAR)


@pytest.mark.parametrize('max_epochs,val_interval,expected', [
    (3, 2, [2, 3]),
    (4, 2, [2, 4]),
    (3, 5, [3]),
])
def test_hook_runs_before_each_validation_and_at_the_end(
        tmp_path, monkeypatch, max_epochs, val_interval, expected):
    runner = build_runner(tmp_path, max_epochs, val_interval)
    epochs = []
    monkeypatch.setattr(PreciseBNHook, 'recompute',
                        lambda self, runner: epochs.append(runner.epoch + 1))
    runner.train()
    assert epochs == expected


def _two_rank_worker(rank: int, init_file: str, out_file: str) -> None:
    import torch.distributed as dist
    dist.init_process_group('gloo', init_method=f'file://{init_file}',
                            rank=rank, world_size=2)
    torch.set_num_threads(1)
    model = TinyModel()
    recompute_bn_statistics(model, batches()[rank:rank + 1])  # A or B
    torch.save(dict(mean=model.bn.running_mean, var=model.bn.running_var),
               f'{out_file}.{rank}')
    dist.destroy_process_group()


@pytest.mark.processes
def test_recompute_averages_over_ranks(tmp_path):
    """Rank 0 sees batch A, rank 1 batch B: both get the average of both."""
    torch.multiprocessing.spawn(
        _two_rank_worker,
        args=(str(tmp_path / 'init'), str(tmp_path / 'stats')), nprocs=2)
    for rank in range(2):
        stats = torch.load(tmp_path / f'stats.{rank}', weights_only=True)
        assert stats['mean'].item() == pytest.approx(EXPECTED_MEAN)
        assert stats['var'].item() == pytest.approx(EXPECTED_VAR)
