"""The comparison flow on tiny data: one recipe, results, summary, rerun."""
import csv
import json
import os.path as osp
import re
import shutil

import pytest
import torch
from mmengine.config import Config
from mmseg.structures import SegDataSample

from mmseg_affnet.engine import init_segmentor
from mmseg_affnet.engine.precise_bn import PreciseBNHook
from mmseg_affnet.research import campaign
from mmseg_affnet.research import comparison as compare
from mmseg_affnet.research import comparison_summary
from mmseg_affnet.research.comparison import run_comparison
from mmseg_affnet.research.comparison_recipe import (
    COMPARISON_MODELS, EVAL_SIZES, TEST_SIZE_DIVISORS, comparison_config,
    load_recipe, select_comparison_models)
from mmseg_affnet.utils.config import iter_dicts

from tests.utils.tools import exit_status

# One iteration per model: 2 training images in one batch of 2, one epoch.
TINY = {
    'demo_dataset.num_train': 2,
    'demo_dataset.num_val': 2,
    'train_dataloader.batch_size': 2,
    'train_cfg.max_epochs': 1,
    'train_cfg.val_interval': 1,
}


def tiny_run(tmp_path, models, **kwargs):
    return run_comparison(
        models, str(tmp_path / 'work'), data_root=str(tmp_path / 'data'),
        cfg_options=TINY, precise_bn_samples=2, warmup=0, iters=1, **kwargs)


@pytest.mark.slow
def test_two_models_one_iteration_each_then_a_rerun_skips_them(
        tmp_path, monkeypatch):
    rows, paths = tiny_run(tmp_path, ['Fast-SCNN', 'AFFNet'])
    assert [row['model'] for row in rows] == ['AFFNet', 'Fast-SCNN']
    work = tmp_path / 'work'
    for row in rows:
        result = json.loads((work / row['model'] / 'result.json').read_text())
        assert result['model'] == row['model']
        assert 0 <= result['mIoU'] <= 100
        assert set(result) >= {'mIoU_gamma0', 'mIoU_gamma1', 'mIoU_gamma2',
                               'params_m', 'gmacs', 'train_seconds',
                               'class_iou'}
        assert len(result['class_iou']) == 19
        assert result['eval_size'] == [128, 256]
        assert row['latency_median_ms'] > 0
        assert (work / row['model'] / 'epoch_1.pth').is_file()
        # the written config trains exactly this model with the recipe
        cfg = Config.fromfile(result['config'])
        assert cfg.train_cfg.max_epochs == 1
        assert cfg.custom_hooks[-1]['type'] == 'PreciseBNHook'
    # Fast-SCNN has fewer parameters than AFFNet (1.40 M vs 1.65 M)
    assert rows[1]['params_m'] < rows[0]['params_m']

    table = open(paths['md']).read()
    assert re.search(r'^\| AFFNet +\|', table, re.M)
    assert re.search(r'^\| Fast-SCNN +\|', table, re.M)
    with open(paths['csv']) as file:
        records = list(csv.DictReader(file))
    assert [r['model'] for r in records] == ['AFFNet', 'Fast-SCNN']
    assert 'IoU.road' in records[0] and 'IoU.bicycle' in records[0]
    assert float(records[0]['mIoU']) == rows[0]['mIoU']
    with open(paths['png'], 'rb') as file:
        assert file.read(8) == b'\x89PNG\r\n\x1a\n'

    # A rerun trains nothing: the results are read back.
    def no_training(*args, **kwargs):
        raise AssertionError('a finished model was trained again')

    monkeypatch.setattr(campaign, 'train_and_evaluate', no_training)
    stamp = (work / 'AFFNet' / 'result.json').stat().st_mtime_ns
    rerun_rows, _ = tiny_run(tmp_path, ['AFFNet', 'Fast-SCNN'])
    assert [r['mIoU'] for r in rerun_rows] == [r['mIoU'] for r in rows]
    assert (work / 'AFFNet' / 'result.json').stat().st_mtime_ns == stamp

    # Another recipe in the same work dir is refused, nothing is trained:
    # the finished model's result names another config.
    with pytest.raises(ValueError, match='trained with another config'):
        run_comparison(['AFFNet'], str(work),
                       data_root=str(tmp_path / 'data'),
                       cfg_options=dict(TINY, **{'train_cfg.max_epochs': 2}))


@pytest.mark.slow
def test_results_dir_apart_from_the_work_dir_summarises_alone(
        tmp_path, monkeypatch):
    results = tmp_path / 'results'
    rows, paths = tiny_run(tmp_path, ['AFFNet'], results_dir=str(results))
    result = json.loads((results / 'AFFNet' / 'result.json').read_text())
    assert result['config_sha256'] and result['world_size'] == 1
    assert result['machine']['cpu_count'] > 0
    latency = json.loads((results / 'latency.json').read_text())
    assert latency['latency_ms']['AFFNet'] == rows[0]['latency_median_ms']
    assert latency['size'] == [128, 256] and latency['iters'] == 1
    assert not (tmp_path / 'work' / 'AFFNet' / 'result.json').exists()
    assert (tmp_path / 'work' / 'AFFNet' / 'epoch_1.pth').is_file()
    assert osp.dirname(paths['md']) == str(results)
    table = open(paths['md']).read()

    # Without the work dir and the data, nothing trained or timed, the
    # summary regenerates from the results dir alone, the same.
    def nothing(*args, **kwargs):
        raise AssertionError('trained or timed in a summary-only run')

    monkeypatch.setattr(campaign, 'train_and_evaluate', nothing)
    monkeypatch.setattr(compare, 'measure_latency', nothing)
    for folder in ('work', 'data'):
        shutil.rmtree(tmp_path / folder)
    again, _ = run_comparison(
        ['AFFNet'], str(tmp_path / 'elsewhere'), data_root='absent',
        cfg_options=TINY, precise_bn_samples=2, results_dir=str(results),
        train=False)
    assert again[0]['mIoU'] == rows[0]['mIoU']
    assert open(paths['md']).read() == table
    assert not (tmp_path / 'elsewhere').exists()
    # A model of the comparison without a result is named, not dropped
    # silently.
    assert 'Partial' not in table
    partial, _ = run_comparison(
        ['AFFNet', 'Fast-SCNN'], str(tmp_path / 'elsewhere'),
        data_root='absent', cfg_options=TINY, precise_bn_samples=2,
        results_dir=str(results), train=False)
    assert [r['model'] for r in partial] == ['AFFNet']
    assert 'Partial: no result yet for Fast-SCNN;' in open(paths['md']).read()

    # A result of another recipe is refused, not mixed in.
    with pytest.raises(ValueError, match='trained with another config'):
        run_comparison(['AFFNet'], str(tmp_path / 'elsewhere'),
                       cfg_options=dict(TINY, **{'train_cfg.max_epochs': 2}),
                       precise_bn_samples=2, results_dir=str(results),
                       train=False)
    # A model without a latency is named, with the fix.
    with pytest.raises(FileNotFoundError, match="no CPU latency of "
                       r"\['Fast-SCNN'\]; run the comparison without"):
        comparison_summary.read_latency(str(results), ['AFFNet', 'Fast-SCNN'])
    # An edited latency.json is the user's: refused, never replaced.
    (results / 'latency.json').write_text('{}')
    with pytest.raises(FileExistsError, match='latency.json was not written'):
        run_comparison(['AFFNet'], str(tmp_path / 'elsewhere'),
                       cfg_options=TINY, precise_bn_samples=2,
                       results_dir=str(results), train=False)
    assert (results / 'latency.json').read_text() == '{}'


def test_summary_only_without_results_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match='without --summary-only'):
        run_comparison(['AFFNet'], str(tmp_path / 'work'),
                       results_dir=str(tmp_path / 'results'), train=False)


def test_every_model_gets_the_recipe_and_only_its_model(tmp_path):
    recipe = load_recipe('demo', 'data/x')
    configs = {
        name: comparison_config(recipe, config, str(tmp_path / name))
        for name, config in COMPARISON_MODELS.items()
    }
    affnet = configs['AFFNet']
    for name, cfg in configs.items():
        for key in ('train_dataloader', 'val_dataloader', 'optim_wrapper',
                    'param_scheduler', 'train_cfg', 'val_evaluator',
                    'default_hooks', 'custom_hooks'):
            assert cfg[key] == affnet[key], (name, key)
        assert cfg.model.data_preprocessor == recipe.model.data_preprocessor
        assert 'Pretrained' not in str(cfg.model)
        assert cfg.load_from is None
        # no CE with a class_weight left (it fails on ignored pixels)
        assert "'type': 'CrossEntropyLoss', 'class_weight'" not in str(
            cfg.model.to_dict())
    assert configs['Fast-SCNN'].model.backbone.type == 'FastSCNN'
    assert configs['SPSSNet'].model.decode_head.type == 'SPMHead'
    affnet_model = Config.fromfile(COMPARISON_MODELS['AFFNet']).model
    affnet_model.data_preprocessor = recipe.model.data_preprocessor
    assert affnet.model == affnet_model
    hooks = [h['type'] for h in affnet.custom_hooks]
    assert hooks.count(PreciseBNHook.__name__) == 1
    pipeline = [step['type'] for step in affnet.train_dataloader.dataset.
                pipeline]
    assert pipeline.index('GenerateEdge') == pipeline.index(
        'PackSegInputs') - 1


@pytest.mark.parametrize('name', list(COMPARISON_MODELS))
def test_every_model_predicts_camvids_classes_on_the_camvid_recipe(
        tmp_path, name):
    recipe = load_recipe('camvid', 'data/x')
    cfg = comparison_config(recipe, COMPARISON_MODELS[name],
                            str(tmp_path / name), test_size_divisor=
                            TEST_SIZE_DIVISORS.get(name))
    model = init_segmentor(cfg)
    # A val image as the recipe feeds it (540 rows: not a multiple of 8),
    # through the data preprocessor and the padding crop, as in validation.
    size = EVAL_SIZES['camvid']
    sample = SegDataSample(metainfo=dict(img_shape=size, ori_shape=size))
    batch = dict(inputs=[torch.randint(0, 256, (3, *size), dtype=torch.uint8)],
                 data_samples=[sample])
    with torch.no_grad():
        [prediction] = model.test_step(batch)
    assert prediction.seg_logits.data.shape == (11, *size)
    assert compare.model_input_size(cfg, size) == (
        (544, 720) if name in TEST_SIZE_DIVISORS else size)
    for node in iter_dicts(cfg.model.to_dict()):
        if 'class_frequencies' in node:
            assert node['class_frequencies'] == 'camvid', name
        if isinstance(node.get('class_weight'), list):
            assert len(node['class_weight']) == 11, name


def test_summary_header_names_padded_models_once_per_size():
    latency = dict(size=[540, 720], measured='2026-11-30T13:16:00',
                   machine=dict(cpu='cpu', cpu_count=2), threads=2, iters=20)
    header = comparison_summary.summary_header(
        'camvid', 0, 40, latency,
        padded={'PIDNet-S': (544, 720), 'DDRNet-23-slim': (544, 720),
                'OtherNet': (560, 720)})
    padded_lines = [line for line in header.splitlines()
                    if line.startswith('Input padded')]
    assert len(padded_lines) == 2
    assert padded_lines[0].startswith('Input padded to 544x720 ')
    assert padded_lines[0].endswith(': PIDNet-S, DDRNet-23-slim.')
    assert padded_lines[1].endswith(': OtherNet.')
    assert 'padded' not in comparison_summary.summary_header(
        'camvid', 0, 40, latency)


def test_bad_names_are_refused():
    with pytest.raises(ValueError, match='Unknown models'):
        select_comparison_models(['AFFNet', 'NoSuchNet'])
    with pytest.raises(ValueError, match='named twice'):
        select_comparison_models(['AFFNet', 'AFFNet'])
    with pytest.raises(ValueError, match='Unknown dataset'):
        load_recipe('ade20k', 'data')


def test_cli_rejects_an_unknown_model(capsys):
    assert exit_status('compare', '--models', 'NoSuchNet') == 2
    assert 'invalid choice' in capsys.readouterr().err


# ------------------------------------------ only the tool's own summaries ---
ROW = dict(model='AFFNet', mIoU=50.0, mIoU_gamma0=40.0, mIoU_gamma1=50.0,
           mIoU_gamma2=60.0, aAcc=90.0, params_m=1.65, gmacs=1.0,
           latency_median_ms=3.0, train_seconds=60.0, config='c.py',
           checkpoint='e.pth', class_iou={'road': 90.0})
NOTES = b'# my own notes on the comparison\n'


@pytest.mark.parametrize('name', ['comparison.md', 'comparison.csv',
                                  'comparison.png'])
def test_summary_never_replaces_a_users_file(tmp_path, name):
    (tmp_path / name).write_bytes(NOTES)

    with pytest.raises(FileExistsError, match=f'{name} was not written by '
                       'this tool'):
        comparison_summary.write_summary([ROW], str(tmp_path), 'header')

    assert (tmp_path / name).read_bytes() == NOTES
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_summary_is_regenerated_only_while_it_is_the_tools_own(tmp_path):
    paths = comparison_summary.write_summary([ROW], str(tmp_path), 'first')
    assert open(paths['md']).read().startswith('first')
    # A rerun replaces the files it wrote.
    comparison_summary.write_summary([ROW], str(tmp_path), 'second')
    assert open(paths['md']).read().startswith('second')
    # Once the user has edited one, it is theirs.
    with open(paths['md'], 'a') as file:
        file.write('my conclusion\n')
    edited = open(paths['md']).read()
    with pytest.raises(FileExistsError, match='or changed since'):
        comparison_summary.write_summary([ROW], str(tmp_path), 'third')
    assert open(paths['md']).read() == edited
    # A record the tool did not write is refused, not trusted.
    (tmp_path / 'comparison.md').unlink()
    (tmp_path / 'comparison_files.json').write_text('{"comparison.md": 1}')
    with pytest.raises(FileExistsError, match='not a record'):
        comparison_summary.write_summary([ROW], str(tmp_path), 'fourth')


def test_comparison_refuses_a_users_summary_before_training(
        tmp_path, monkeypatch):
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'comparison.md').write_bytes(NOTES)

    def no_training(*args, **kwargs):
        raise AssertionError('trained before the summary was checked')

    monkeypatch.setattr(campaign, 'train_and_evaluate', no_training)
    with pytest.raises(FileExistsError, match='comparison.md was not '
                       'written by this tool'):
        tiny_run(tmp_path, ['AFFNet'])
    assert (work / 'comparison.md').read_bytes() == NOTES
    assert not (tmp_path / 'data').exists()
