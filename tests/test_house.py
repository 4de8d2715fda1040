"""The house rules: stock configs that mmseg's own tools run, no
import-path edits, thin tools, imports only down the package's floors."""
import ast
import os
import os.path as osp
import signal
import subprocess
import sys
import textwrap

import cv2
import mmseg
import numpy as np
import pytest
import torch

from tests.utils.tools import CONFIGS_DIR, REPO_ROOT, TOOLS_DIR, tool_error
from tests.utils.training import (make_demo_data, run_tool, tool_env,
                            wait_for_checkpoint)

MMSEG_TOOLS = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools')
MODEL_BASE = osp.join(CONFIGS_DIR, '_base_', 'models', 'affnet.py')
# Kept short so that the literal never appears in this file's own source.
SYS_PATH = 'sys' + '.path'
# mmseg's own tools/train.py and test.py have 104 and 123 lines.
MAX_TOOL_LINES = 120
# Thin tools: together about as long as mmseg's own train.py, test.py and
# a handful of their converters.
MAX_TOOLS_TOTAL_LINES = 1000
TOOL_ENTRY_POINTS = {'parse_args', 'main'}


def _source_files(*folders: str):
    for folder in folders:
        for root, _, names in os.walk(osp.join(REPO_ROOT, folder)):
            for name in names:
                if name.endswith(('.py', '.sh')):
                    yield osp.join(root, name)


def test_no_file_touches_sys_path():
    offenders = []
    for path in _source_files('tools', 'tests', 'mmseg_affnet'):
        with open(path, encoding='utf-8') as f:
            for number, line in enumerate(f, 1):
                if SYS_PATH in line:
                    offenders.append(
                        f'{osp.relpath(path, REPO_ROOT)}:{number}: '
                        f'{line.strip()}')
    assert not offenders, '\n'.join(offenders)


def test_tests_do_not_import_tools():
    """Tests import the package; a tool runs only as a command line."""
    offenders = []
    for path in _source_files('tests'):
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or '']
            elif isinstance(node, ast.Attribute):
                names = ['importlib.' + node.attr] \
                    if node.attr == 'spec_from_file_location' else []
            offenders += [
                f'{osp.relpath(path, REPO_ROOT)}:{node.lineno}: {name}'
                for name in names
                if name.split('.')[0] == 'tools' or 'spec_from' in name
            ]
    assert not offenders, '\n'.join(offenders)


def _tool_sources():
    return sorted(
        osp.join(TOOLS_DIR, name) for name in os.listdir(TOOLS_DIR)
        if name.endswith('.py'))


@pytest.mark.parametrize('tool', [osp.basename(p) for p in _tool_sources()])
def test_tool_is_a_thin_command_line(tool):
    """parse_args, main and at most one small helper; no classes."""
    with open(osp.join(TOOLS_DIR, tool), encoding='utf-8') as f:
        source = f.read()
    tree = ast.parse(source, tool)
    classes = [
        node.name for node in tree.body if isinstance(node, ast.ClassDef)
    ]
    functions = [
        node.name for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]
    helpers = [name for name in functions if name not in TOOL_ENTRY_POINTS]
    lines = len(source.splitlines())

    assert 'main' in functions
    assert not classes, f'{tool} defines classes {classes}: move them ' \
        'into mmseg_affnet'
    assert len(helpers) <= 1, f'{tool} defines helpers {helpers}: move ' \
        'them into mmseg_affnet'
    assert lines < MAX_TOOL_LINES, f'{tool} has {lines} lines'


def test_tools_are_well_under_half_their_former_size():
    total = 0
    for path in _tool_sources():
        with open(path, encoding='utf-8') as f:
            total += len(f.read().splitlines())
    assert total < MAX_TOOLS_TOTAL_LINES


# Run in a fresh interpreter: only custom_imports may register the plugin.
STOCK_BUILD_SCRIPT = textwrap.dedent("""
    import sys
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    plain_path, plugin_path = sys.argv[1:]
    assert 'mmseg_affnet' not in sys.modules
    init_default_scope('mmseg')
    plain = Config.fromfile(plain_path)
    try:
        MODELS.build(plain.model)
    except KeyError as err:
        assert 'AFFNet' in str(err), err
    else:
        raise AssertionError('AFFNet built without custom_imports')
    assert 'mmseg_affnet' not in sys.modules

    cfg = Config.fromfile(plugin_path)
    assert 'mmseg_affnet' in sys.modules
    model = MODELS.build(cfg.model).eval()
    with torch.no_grad():
        logits = model(torch.rand(1, 3, 64, 128), mode='tensor')
    print(type(model).__module__, type(model).__name__,
          tuple(logits.shape[:2]), bool(torch.isfinite(logits).all()))
""")


@pytest.mark.processes
def test_model_dict_builds_under_stock_encoder_decoder(tmp_path):
    bases = [
        'mmseg::_base_/datasets/cityscapes.py',
        'mmseg::_base_/default_runtime.py', MODEL_BASE
    ]
    plain = tmp_path / 'plain.py'
    plain.write_text(f'_base_ = {bases!r}\n')
    plugin = tmp_path / 'plugin.py'
    plugin.write_text(
        "_base_ = ['./plain.py']\n"
        "custom_imports = dict(imports=['mmseg_affnet'], "
        'allow_failed_imports=False)\n')
    script = tmp_path / 'build.py'
    script.write_text(STOCK_BUILD_SCRIPT)

    result = subprocess.run(
        [sys.executable, str(script), str(plain), str(plugin)],
        cwd=str(tmp_path), env=tool_env(), capture_output=True, text=True,
        timeout=120)

    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-5:] == [
        'mmseg.models.segmentors.encoder_decoder', 'EncoderDecoder', '(1,',
        '19)', 'True'
    ], result.stdout


@pytest.mark.processes
def test_mmseg_own_tools_train_resume_and_test_the_demo_config(tmp_path):
    # 8 images in batches of 2: epoch 2 lasts long enough to be killed in.
    data_root = make_demo_data(str(tmp_path / 'data'), num_train=8)
    config = osp.join(CONFIGS_DIR, 'affnet_demo.py')
    work_dir = str(tmp_path / 'work_dir')
    options = [
        '--cfg-options', f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
        'train_dataloader.batch_size=2', 'train_cfg.max_epochs=2',
        'train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=1',
        'default_hooks.logger.interval=1', 'randomness.seed=0'
    ]
    train = [sys.executable, osp.join(MMSEG_TOOLS, 'train.py'), config,
             '--work-dir', work_dir]
    with open(tmp_path / 'killed.log', 'w') as log:
        killed = subprocess.Popen(train + options, env=tool_env(),
                                  stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_checkpoint(work_dir, 'epoch_1.pth', killed)
            killed.send_signal(signal.SIGKILL)
            assert killed.wait(timeout=60) == -signal.SIGKILL
        finally:
            if killed.poll() is None:
                killed.kill()
    assert not osp.exists(osp.join(work_dir, 'epoch_2.pth'))

    resumed = run_tool(train + ['--resume'] + options)

    log = resumed.stdout + resumed.stderr
    assert 'resumed epoch: 1,' in log
    final = osp.join(work_dir, 'epoch_2.pth')
    checkpoint = torch.load(final, map_location='cpu', weights_only=True)
    assert checkpoint['meta']['epoch'] == 2
    assert not [name for name in os.listdir(work_dir)
                if name.endswith('.part')]

    tested = run_tool([
        sys.executable, osp.join(MMSEG_TOOLS, 'test.py'), config, final,
        '--work-dir', str(tmp_path / 'test_dir')
    ] + options)
    assert 'mIoU:' in tested.stdout + tested.stderr


# Every tool that reads a config takes mmseg's --cfg-options, and
# the override reaches the config the tool works with. Each override makes
# the tool fail early, naming the overridden value.
SENTINEL = 'Sentinel15x4'
TINY_DEMO = ['demo_dataset.num_train=1', 'demo_dataset.num_val=1',
             'demo_dataset.size=[32,64]']
CFG_OPTION_RUNS = {
    'train': (['{config}', '--work-dir', '{tmp}/w'],
              [f'train_dataloader.dataset.data_root={{tmp}}/{SENTINEL}']),
    'test': (['{config}', '{tmp}/x.pth', '--work-dir', '{tmp}/w'],
             [f'test_dataloader.dataset.data_root={{tmp}}/{SENTINEL}']),
    'demo': (['--work-dir', '{tmp}/w', '--data-root', '{tmp}/data'],
             [f'train_cfg.type={SENTINEL}', *TINY_DEMO]),
    'compare': (['--models', 'AFFNet', '--work-dir', '{tmp}/w',
                 '--data-root', '{tmp}/data'],
                [f'train_cfg.type={SENTINEL}', *TINY_DEMO]),
    'export_onnx': (['{config}', '--shape', '64', '64', '--out',
                     '{tmp}/x.onnx'], [f'model.type={SENTINEL}']),
    'quantize': (['{config}', '--shape', '64', '64', '--out',
                  '{tmp}/x.onnx'],
                 [f'train_dataloader.dataset.data_root={{tmp}}/{SENTINEL}']),
    'infer': (['{config}', '{tmp}/x.pth', '{tmp}/a.png', '--out',
               '{tmp}/out', '--device', 'cpu'], [f'model.type={SENTINEL}']),
    'benchmark': (['--models', 'AFFNet', '--sizes', '64x64', '--warmup', '0',
                   '--iters', '1', '--device', 'cpu', '--out-dir', '{tmp}/b'],
                  [f'model.type={SENTINEL}']),
}


@pytest.mark.parametrize('tool', [
    pytest.param(tool, marks=pytest.mark.slow) if tool == 'compare' else tool
    for tool in CFG_OPTION_RUNS
])  # compare builds its demo dataset first: about 7 s
def test_every_tool_that_reads_a_config_takes_cfg_options(tmp_path, tool):
    cv2.imwrite(str(tmp_path / 'a.png'), np.zeros((8, 8, 3), np.uint8))
    config = osp.join(CONFIGS_DIR, 'affnet_demo.py')
    args, options = CFG_OPTION_RUNS[tool]
    argv = [arg.format(config=config, tmp=tmp_path)
            for arg in args + ['--cfg-options'] + options]

    message = tool_error(tool, *argv)

    assert SENTINEL in message, message


# Floors of the package, top to bottom: a module imports its own floor and
# the floors below it, never one above.
FLOORS = {
    'research': 4,
    'apis': 3,
    'analysis': 2, 'compat': 2, 'deploy': 2, 'engine': 2,
    'datasets': 1, 'evaluation': 1,
    'models': 0, 'registry': 0, 'utils': 0,
}
PACKAGE = 'mmseg_affnet'


def _executed_on_import(tree: ast.AST):
    """The nodes of a module that run when it is imported: all but the
    bodies of functions."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        stack += [child for child in ast.iter_child_nodes(node)
                  if not isinstance(child, (ast.FunctionDef,
                                            ast.AsyncFunctionDef, ast.Lambda))]


def _imported_modules(path: str, module: str, on_import_only: bool = False):
    """(line, absolute module name) of every import in a source file, or with
    ``on_import_only`` of those that run when the module is imported."""
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read(), path)
    package = module if path.endswith('__init__.py') else \
        module.rpartition('.')[0]
    nodes = _executed_on_import(tree) if on_import_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                parts = package.split('.')
                parent = '.'.join(parts[:len(parts) - node.level + 1])
                base = f'{parent}.{base}' if base else parent
            yield node.lineno, base
            for alias in node.names:  # ``from .. import deploy``
                yield node.lineno, f'{base}.{alias.name}'


def _package_modules():
    root = osp.join(REPO_ROOT, PACKAGE)
    for folder, _, names in os.walk(root):
        for name in sorted(names):
            if name.endswith('.py'):
                path = osp.join(folder, name)
                relative = osp.relpath(path, REPO_ROOT)[:-len('.py')]
                yield path, relative.replace(os.sep, '.').removesuffix(
                    '.__init__')


def _room(module: str):
    parts = module.split('.')
    return parts[1] if len(parts) > 1 and parts[0] == PACKAGE else None


def test_imports_only_go_down_the_floors():
    """tools -> apis -> analysis/deploy/engine -> datasets/evaluation ->
    models/utils: nothing below ``apis`` imports it, and no floor imports
    one above it."""
    offenders, rooms = [], set()
    for path, module in _package_modules():
        room = _room(module)
        if room is None:  # the package's __init__ registers every room
            continue
        rooms.add(room)
        for line, imported in _imported_modules(path, module):
            target = _room(imported)
            if target in FLOORS and FLOORS[target] > FLOORS[room]:
                offenders.append(f'{osp.relpath(path, REPO_ROOT)}:{line}: '
                                 f'{room} imports {imported}')
    assert rooms == set(FLOORS), f'rooms without a floor: {rooms}'
    assert not offenders, '\n'.join(offenders)


def test_the_research_harness_stands_apart():
    """Nothing of the plugin imports the research harness (its command
    lines are tools/compare.py and tools/experiments.py)."""
    importers = []
    for path, module in _package_modules():
        if _room(module) in (None, 'research'):
            continue
        importers += [f'{module}:{line}: {imported}'
                      for line, imported in _imported_modules(path, module)
                      if _room(imported) == 'research']
    assert not importers, '\n'.join(importers)


#: Runtimes of deployment that training, testing and the demo do without.
DEPLOY_RUNTIMES = ('onnx', 'onnxruntime', 'openvino', 'nncf')


def test_training_testing_and_the_demo_import_no_deploy_runtime():
    """``tools/train.py``, ``tools/test.py`` and ``tools/demo.py`` start
    without onnx (about 0.9 s of CPU a process): what their entry points
    import when they are imported, packages above them included, names no
    deploy runtime."""
    paths = {module: path for path, module in _package_modules()}
    pending = ['mmseg_affnet.apis.train', 'mmseg_affnet.apis.test',
               'mmseg_affnet.apis.demo']
    seen, offenders = set(), []
    while pending:
        module = pending.pop()
        parts = module.split('.')
        for parent in ('.'.join(parts[:i]) for i in range(1, len(parts) + 1)):
            if parent in seen or parent not in paths:
                continue
            seen.add(parent)
            for line, imported in _imported_modules(paths[parent], parent,
                                                    on_import_only=True):
                if imported.split('.')[0] in DEPLOY_RUNTIMES:
                    offenders.append(f'{parent}:{line}: {imported}')
                elif _room(imported) is not None:
                    pending.append(imported)
    assert 'mmseg_affnet.apis.train' in seen
    assert not offenders, '\n'.join(offenders)


#: Longest a module of the package may be, and the user's entry points
#: (``apis/``) together, in lines.
MAX_MODULE_LINES = 450
MAX_APIS_LINES = 2000


def test_modules_stay_small_and_apis_stays_the_users_entry_points():
    sizes = {}
    for path, module in _package_modules():
        with open(path, encoding='utf-8') as f:
            sizes[module] = sum(1 for _ in f)
    too_long = {m: n for m, n in sizes.items() if n > MAX_MODULE_LINES}
    assert not too_long, f'modules over {MAX_MODULE_LINES} lines: {too_long}'
    apis = sum(n for m, n in sizes.items() if _room(m) == 'apis')
    assert 0 < apis <= MAX_APIS_LINES, f'apis/ holds {apis} lines'


def test_no_tool_imports_another_tool():
    tools = {osp.splitext(osp.basename(p))[0] for p in _tool_sources()}
    offenders = []
    for path in _tool_sources():
        with open(path, encoding='utf-8') as f:
            source = f.read()
        for line, imported in _imported_modules(path, 'tools.' + osp.splitext(
                osp.basename(path))[0]):
            first = imported.split('.')[0]
            if first == 'tools' or first in tools:
                offenders.append(f'{osp.basename(path)}:{line}: {imported}')
        if 'runpy' in source or 'spec_from_file_location' in source:
            offenders.append(f'{osp.basename(path)}: runs another file')
    assert not offenders, '\n'.join(offenders)
