"""tools/benchmark.py and tools/compare_demo.py, end to end on tiny settings.

No timing is asserted: only that every model, variant and column is there,
that numbers are well formed and that results are never overwritten.
"""
import csv
import json
import math
import os.path as osp
import sys

import matplotlib.image
import pytest

from _tools import TOOLS_DIR, load_tool
from _train_helpers import run_tool

FAST_SCNN_CONFIG = 'mmseg::fastscnn/fast_scnn_8xb4-160k_cityscapes-512x1024.py'
FAST_SCNN_NAME = 'fast_scnn_8xb4-160k_cityscapes-512x1024'


benchmark = load_tool('benchmark')


@pytest.fixture(scope='module')
def benchmark_dir(tmp_path_factory) -> str:
    """Benchmark AFFNet and a config given by path, with deploy rows for the
    latter, at one tiny size."""
    out_dir = str(tmp_path_factory.mktemp('benchmark'))
    run_tool([
        sys.executable,
        osp.join(TOOLS_DIR, 'benchmark.py'), '--models', 'AFFNet',
        '--configs', FAST_SCNN_CONFIG, '--deploy-models', FAST_SCNN_NAME,
        '--sizes', '64x128', '--warmup', '1', '--iters', '2', '--threads',
        '1', '--device', 'cpu', '--out-dir', out_dir
    ])
    return out_dir


def read_csv(path: str):
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


def test_benchmark_csv_has_every_run_and_column(benchmark_dir):
    rows = read_csv(osp.join(benchmark_dir, 'benchmark.csv'))
    runs = {(r['model'], r['variant']) for r in rows}
    assert runs == {('AFFNet', 'eager'), (FAST_SCNN_NAME, 'eager'),
                    (FAST_SCNN_NAME, 'fused'),
                    (FAST_SCNN_NAME, 'onnxruntime')}
    assert len(rows) == len(runs)
    for row in rows:
        assert set(row) == set(benchmark.CSV_FIELDS)
        assert row['input'] == '64x128' and row['device'] == 'cpu'
        assert row['peak_memory_mib'] == ''  # not measured on CPU
        median, p90 = float(row['latency_median_ms']), float(
            row['latency_p90_ms'])
        assert 0 < median <= p90
        assert math.isclose(float(row['fps']), 1e3 / median, rel_tol=1e-6)
        assert float(row['params_m']) > 0 and float(row['gmacs']) > 0
    reference = next(r for r in rows
                     if (r['model'], r['variant']) == ('AFFNet', 'eager'))
    assert float(reference['latency_vs_affnet']) == 1.0
    assert float(reference['macs_vs_affnet']) == 1.0


def test_benchmark_json_matches_csv(benchmark_dir):
    with open(osp.join(benchmark_dir, 'benchmark.json')) as f:
        result = json.load(f)
    rows = read_csv(osp.join(benchmark_dir, 'benchmark.csv'))
    assert [(r['model'], r['variant']) for r in result['rows']] == \
        [(r['model'], r['variant']) for r in rows]
    for from_json, from_csv in zip(result['rows'], rows):
        assert from_json['latency_median_ms'] == pytest.approx(
            float(from_csv['latency_median_ms']))
    environment = result['environment']
    assert environment['threads'] == 1 and environment['iters'] == 2
    assert 'multiply-add' in environment['flop_counter']


def test_benchmark_plot_is_an_image(benchmark_dir):
    image = matplotlib.image.imread(osp.join(benchmark_dir, 'benchmark.png'))
    assert image.ndim == 3 and min(image.shape[:2]) > 100


def test_benchmark_refuses_to_overwrite_results(benchmark_dir):
    with pytest.raises(FileExistsError, match='--force'):
        benchmark.result_paths(benchmark_dir, 'benchmark', force=False)
    paths = benchmark.result_paths(benchmark_dir, 'benchmark', force=True)
    assert paths['csv'] == osp.join(benchmark_dir, 'benchmark.csv')
    assert not any(
        osp.exists(p)
        for p in benchmark.result_paths(benchmark_dir, 'other',
                                        force=False).values())


def test_benchmark_rejects_unknown_models_and_sizes():
    with pytest.raises(ValueError, match='Unknown models'):
        benchmark.select_models(['NoSuchNet'], [])
    with pytest.raises(ValueError, match='named'):
        benchmark.select_models(['AFFNet'], ['a/AFFNet.py'])
    with pytest.raises(SystemExit):
        benchmark.parse_args(['--sizes', '512by1024'])


def test_compare_demo_reports_each_model(tmp_path):
    work_dir = str(tmp_path / 'compare')
    command = [
        sys.executable,
        osp.join(TOOLS_DIR, 'compare_demo.py'), '--others', 'Fast-SCNN',
        '--work-dir', work_dir, '--data-root',
        str(tmp_path / 'data'), '--threads', '1', '--warmup', '0', '--iters',
        '1', '--cfg-options', 'train_cfg.max_epochs=1',
        'train_cfg.val_interval=1', 'demo_dataset.num_train=2',
        'demo_dataset.num_val=1', 'train_dataloader.batch_size=2'
    ]
    run_tool(command)
    rows = read_csv(osp.join(work_dir, 'compare_demo.csv'))
    assert [r['model'] for r in rows] == ['AFFNet', 'Fast-SCNN']
    for row in rows:
        assert 0 <= float(row['val_miou']) <= 100
        assert float(row['latency_median_ms']) > 0
        assert osp.isfile(row['checkpoint'])
    with open(osp.join(work_dir, 'compare_demo.md')) as f:
        assert f.read().count('| Fast-SCNN |') == 1

    with pytest.raises(FileExistsError):
        load_tool('compare_demo').check_outputs_are_new(work_dir, ['AFFNet', 'Fast-SCNN'])
