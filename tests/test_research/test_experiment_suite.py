"""The experiment suites: variants carried onto a recipe, runs on tiny data
(files, skip, resume, refusal), summaries and the README block."""
import csv
import json
import os
import os.path as osp

import pytest
import torch

from mmseg_affnet.datasets.makers import generate_demo_dataset
from mmseg_affnet.models.losses import (enet_class_weights,
                                       load_class_frequencies,
                                       use_ignore_safe_class_weighted_ce)
from mmseg_affnet.research.comparison_recipe import (adapt_model_to_recipe,
                                                     load_recipe)
from mmseg_affnet.research.experiment_suite import (load_experiment_recipe,
                                                    run_experiments)
from mmseg_affnet.research.suites import (REFERENCE_VARIANT, SUITES,
                                          VARIANTS, apply_difference,
                                          run_order, select_variants,
                                          variant_model)
from mmseg_affnet.utils import replace_marked_block
from mmseg_affnet.utils.config import iter_dicts, load_config
from mmseg_affnet.utils.mim import config_file

from tests.utils.tools import REPO_ROOT, tool_main

CAMVID_RECIPE = config_file('camvid/affnet_camvid_cpu_short.py')
DEMO_RECIPE = config_file('affnet_demo.py')
# Two iterations per run: 2 training images, batch 2, two epochs (so that a
# run can be cut after its first epoch's checkpoint).
TINY = {
    'train_dataloader.batch_size': 2,
    'train_cfg.max_epochs': 2,
    'train_cfg.val_interval': 2,
    'param_scheduler.0.end': 2,
    'default_hooks.checkpoint.interval': 1,
}


def losses_of(head):
    losses = head['loss_decode']
    return losses if isinstance(losses, list) else [losses]


@pytest.fixture(scope='module')
def camvid_recipe():
    return load_config(CAMVID_RECIPE)


def test_the_suites_and_their_run_order():
    paper = SUITES['paper'].variants
    assert len(paper) == 9 and paper[0] == REFERENCE_VARIANT
    assert len({VARIANTS[name].config for name in paper}) == 9
    assert [v.name for v in select_variants('paper', ['CE'])] == [
        'AFFNet', 'CE']
    with pytest.raises(ValueError, match='Unknown variants of suite'):
        select_variants('paper', ['Taps 3-6'])
    with pytest.raises(ValueError, match='Unknown suite'):
        select_variants('nope')
    # the converged suite: stage by stage, within a stage seed by seed
    order = run_order('converged', select_variants('converged'), 3)
    assert [(v.name, seed) for v, seed in order[:10]] == [
        ('AFFNet', 0), ('WCEL', 0), ('Add-Add@128', 0), ('AFFNet', 1),
        ('WCEL', 1), ('Add-Add@128', 1), ('AFFNet', 2), ('WCEL', 2),
        ('Add-Add@128', 2), ('OWFL', 0)
    ]
    assert [v.name for v, _ in order[-3:]] == ['Add-Add@340'] * 3
    assert len(order) == 18
    chosen = select_variants('converged', ['Add-Add@340'])
    assert [(v.name, seed) for v, seed in run_order('converged', chosen,
                                                    2)] == [
        ('AFFNet', 0), ('AFFNet', 1), ('Add-Add@340', 0), ('Add-Add@340', 1)]


@pytest.mark.parametrize('suite_name', ['paper', 'converged'])
def test_a_suite_recipe_is_pinned_to_its_committed_results(suite_name):
    """A change of the shipped recipe that reaches a suite's recipe changes
    its digest, and the committed results would be refused: the recipe must
    restate what changed instead."""
    record = json.loads(open(osp.join(
        REPO_ROOT, 'results', 'camvid', suite_name, 'suite.json')).read())
    assert record['recipe'] == SUITES[suite_name].recipe
    _, recipe_digest = load_experiment_recipe(record['recipe'])
    assert recipe_digest == record['recipe_sha256']


def test_add_add_at_affnets_width_differs_only_in_the_fusion(camvid_recipe):
    reference = variant_model(camvid_recipe, VARIANTS['AFFNet'])
    narrow = variant_model(camvid_recipe, VARIANTS['Add-Add@128'])
    matched = variant_model(camvid_recipe, VARIANTS['Add-Add@340'])
    changed = {key for key in narrow['decode_head']
               if narrow['decode_head'][key] != reference['decode_head'].get(
                   key)}
    assert changed == {'attention_fusion'}  # pooling: Add, as AFFNet's
    assert narrow['decode_head']['channels'] == 128
    assert matched['decode_head']['channels'] == 340
    assert {k: v for k, v in matched['decode_head'].items()
            if k != 'channels'} == {k: v for k, v in narrow[
                'decode_head'].items() if k != 'channels'}


def test_a_fusion_variant_changes_only_the_fusion(camvid_recipe):
    reference = variant_model(camvid_recipe, VARIANTS['AFFNet'])
    add_cat = variant_model(camvid_recipe, VARIANTS['Add-Cat@104'])
    assert reference == camvid_recipe.model.to_dict()  # the recipe itself
    changed = {key for key in add_cat['decode_head']
               if add_cat['decode_head'][key] != reference['decode_head'].get(
                   key)}
    assert changed == {'attention_fusion', 'pooling_fusion', 'channels'}
    assert add_cat['decode_head']['attention_fusion'] == 'add'
    assert add_cat['decode_head']['pooling_fusion'] == 'concat'
    assert add_cat['decode_head']['channels'] == 104
    assert add_cat['backbone'] == reference['backbone']


@pytest.mark.parametrize('name', list(VARIANTS))
def test_every_variant_differs_from_the_recipe_only_where_it_says(
        camvid_recipe, name):
    model = variant_model(camvid_recipe, VARIANTS[name])
    recipe = camvid_recipe.model.to_dict()
    differing = {key for key in model if model[key] != recipe.get(key)}
    assert differing <= {'decode_head', 'backbone'}
    assert ('backbone' in differing) == (name == 'Taps 3-6')
    assert model['decode_head']['num_classes'] == 11
    assert 'Pretrained' not in str(model)


def test_a_new_head_keeps_the_recipes_classes_and_loss(camvid_recipe):
    fpn_pan = variant_model(camvid_recipe, VARIANTS['FPN+PAN'])
    head = fpn_pan['decode_head']
    assert head['type'] == 'FPNPANHead'
    assert head['num_classes'] == 11
    assert head['loss_decode'] == \
        camvid_recipe.model.decode_head.loss_decode


def test_loss_variants_read_the_recipes_class_frequencies(camvid_recipe):
    for name, loss_types in [('WCEL', ['ClassWeightedCrossEntropyLoss']),
                             ('OWFL', ['ObjectWeightedFocalLoss']),
                             ('CE', ['CrossEntropyLoss'])]:
        head = variant_model(camvid_recipe, VARIANTS[name])['decode_head']
        assert [loss['type'] for loss in losses_of(head)] == loss_types
        assert head['num_classes'] == 11
        for loss in losses_of(head):
            if loss['type'] != 'CrossEntropyLoss':
                assert loss['class_frequencies'] == 'camvid', name


def test_apply_difference_adds_removes_and_replaces():
    reference = dict(a=1, head=dict(type='H', x=1, n=19), gone=3)
    variant = dict(a=1, head=dict(type='H', x=2, n=19), new=4)
    target = dict(a=5, head=dict(type='H', x=1, n=11), gone=3)
    assert apply_difference(target, reference, variant) == dict(
        a=5, head=dict(type='H', x=2, n=11), new=4)
    variant = dict(a=1, head=dict(type='G', y=0, n=19), gone=3)
    assert apply_difference(target, reference, variant)['head'] == dict(
        type='G', y=0, n=11)


def test_zoo_models_predict_camvids_classes_with_camvid_weights(
        camvid_recipe):
    from mmseg_affnet.analysis import MODEL_ZOO
    stdc = adapt_model_to_recipe(
        load_config(MODEL_ZOO['STDC1']).model.to_dict(), camvid_recipe)
    counts = [node['num_classes'] for node in iter_dicts(stdc)
              if str(node.get('type', '')).endswith('Head')]
    assert sorted(counts) == [2, 11, 11, 11]  # the detail head keeps 2
    cgnet = adapt_model_to_recipe(
        use_ignore_safe_class_weighted_ce(
            load_config(MODEL_ZOO['CGNet']).model.to_dict()), camvid_recipe)
    loss = cgnet['decode_head']['loss_decode']
    enet = enet_class_weights(load_class_frequencies('camvid')).tolist()
    assert loss['class_weight'] == pytest.approx(enet, abs=1e-4)
    assert loss['class_frequencies'] == 'camvid'
    pidnet = adapt_model_to_recipe(
        load_config(MODEL_ZOO['PIDNet-S']).model.to_dict(), camvid_recipe)
    weights = [node['class_weight'] for node in iter_dicts(pidnet)
               if 'class_weight' in node]
    assert weights and all(w == loss['class_weight'] for w in weights)
    # a Cityscapes recipe leaves the Cityscapes models as they are
    cityscapes = load_recipe('cityscapes', 'data/cityscapes')
    model = use_ignore_safe_class_weighted_ce(
        load_config(MODEL_ZOO['CGNet']).model.to_dict())
    assert adapt_model_to_recipe(model, cityscapes) == model


def test_the_recipe_digest_ignores_the_data_folder():
    _, first = load_experiment_recipe(DEMO_RECIPE, 'a')
    _, second = load_experiment_recipe(DEMO_RECIPE, 'b')
    _, other = load_experiment_recipe(DEMO_RECIPE, 'a',
                                      {'optim_wrapper.optimizer.lr': 1.0})
    _, two_processes = load_experiment_recipe(DEMO_RECIPE, 'a',
                                              world_size=2)
    assert first == second
    assert len({first, other, two_processes}) == 3


@pytest.fixture(scope='module')
def demo_data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('data'))
    generate_demo_dataset(root, num_train=2, num_val=2, size=(128, 256),
                          progress=False)
    return root


def suite(tmp_path, data_root, **kwargs):
    options = dict(suite='paper', variants=['CE'], seeds=2,
                   recipe=DEMO_RECIPE, data_root=data_root,
                   work_dir=str(tmp_path / 'work'),
                   results_dir=str(tmp_path / 'results'), cfg_options=TINY)
    options.update(kwargs)
    return run_experiments(**options)


@pytest.mark.slow
def test_a_two_variant_two_seed_suite_then_skip_resume_and_refusal(
        tmp_path, demo_data, monkeypatch):
    paths = suite(tmp_path, demo_data)
    results = tmp_path / 'results'
    files = sorted(str(p.relative_to(results))
                   for p in results.rglob('result.json'))
    assert files == ['affnet/seed0/result.json', 'affnet/seed1/result.json',
                     'ce/seed0/result.json', 'ce/seed1/result.json']
    result = json.loads((results / 'ce/seed1/result.json').read_text())
    assert result['variant'] == 'CE' and result['seed'] == 1
    assert set(result) >= {'mIoU', 'mIoU_gamma0', 'class_iou', 'params_m',
                           'gmacs', 'train_seconds', 'recipe_sha256',
                           'variant_sha256', 'machine'}
    assert 'checkpoint' not in result  # nothing machine-specific
    assert result['eval_size'] == [512, 1024]
    # the seeds are different trainings
    weights = [
        torch.load(tmp_path / 'work' / 'ce' / seed / 'epoch_2.pth')
        ['state_dict']['decode_head.conv_seg.weight']
        for seed in ('seed0', 'seed1')
    ]
    assert not torch.equal(*weights)
    # the summary: the Table VII-others claim compares AFFNet with CE
    assert set(paths) == {'md', 'csv', 'png'}
    markdown = open(paths['md']).read()
    assert 'Table VII: the other losses' in markdown
    assert 'incomplete (1 of 2 variants)' in markdown  # OWFL did not run
    assert 'Table I:' not in markdown  # no fusion variant was run
    rows = list(csv.DictReader(open(paths['csv'])))
    assert [row['variant'] for row in rows] == ['AFFNet', 'CE']
    assert rows[1]['seeds'] == '2' and rows[1]['verdict']

    # a rerun trains nothing
    def no_training(*args, **kwargs):
        raise AssertionError('a finished run was trained again')

    from mmseg_affnet.research import campaign
    monkeypatch.setattr(campaign, 'train_and_evaluate', no_training)
    suite(tmp_path, demo_data)
    monkeypatch.undo()

    # a run killed after its first epoch resumes from that epoch
    work = tmp_path / 'work' / 'ce' / 'seed1'
    (results / 'ce/seed1/result.json').unlink()
    uninterrupted = torch.load(work / 'epoch_2.pth')['state_dict']
    (work / 'epoch_2.pth').unlink()
    (work / 'last_checkpoint').write_text(str(work / 'epoch_1.pth'))
    suite(tmp_path, demo_data)
    resumed = json.loads((results / 'ce/seed1/result.json').read_text())
    assert resumed['resumed'] is True
    # the same training, continued: the same final weights
    final = torch.load(work / 'epoch_2.pth')['state_dict']
    assert final.keys() == uninterrupted.keys()
    assert all(torch.equal(final[k], uninterrupted[k]) for k in final)

    # a stray folder (a user's backup) is not a seed
    (results / 'ce' / 'seed1.bak').mkdir()
    (results / 'ce' / 'seed1.bak' / 'result.json').write_text('{}')
    paths = suite(tmp_path, demo_data)
    assert list(csv.DictReader(open(paths['csv'])))[1]['seeds'] == '2'

    # another recipe is refused before anything is trained
    with pytest.raises(FileExistsError, match='another recipe'):
        suite(tmp_path, demo_data,
              cfg_options={**TINY, 'optim_wrapper.optimizer.lr': 1e-2})

    # the summary alone, from the results, into a README block
    readme = tmp_path / 'README.md'
    readme.write_text('# Title\n<!-- BEGIN experiments-paper -->\nOLD BLOCK\n'
                      '<!-- END experiments-paper -->\nafter\n')
    tool_main('experiments')([
        '--summary-only', '--variants', 'CE', '--recipe', DEMO_RECIPE,
        '--results-dir', str(results), '--readme', str(readme),
        '--cfg-options', *(f'{k}={v}' for k, v in TINY.items())
    ])
    text = readme.read_text()
    assert 'OLD BLOCK' not in text and text.endswith('after\n')
    assert 'Table VII: the other losses' in text
    assert '](results/summary.png)' in text


def test_replace_marked_block_needs_both_markers(tmp_path):
    readme = tmp_path / 'README.md'
    readme.write_text('a\n<!-- BEGIN x -->\nb\n<!-- END x -->\nc\n')
    replace_marked_block(readme, 'x', 'new\n')
    assert readme.read_text() == \
        'a\n<!-- BEGIN x -->\nnew\n<!-- END x -->\nc\n'
    readme.write_text('a\n<!-- END x -->\n<!-- BEGIN x -->\n')
    with pytest.raises(ValueError, match='once each, in this order'):
        replace_marked_block(readme, 'x', 'new')
    assert os.listdir(tmp_path) == ['README.md']


def test_the_camvid_comparison_recipe_is_the_short_cpu_recipe():
    recipe = load_recipe('camvid', 'somewhere')
    assert recipe.train_cfg.max_epochs == 20
    assert recipe.train_dataloader.dataset.data_root == 'somewhere'
    assert osp.basename(CAMVID_RECIPE) == 'affnet_camvid_cpu_short.py'
