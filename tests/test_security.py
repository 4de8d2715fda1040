"""No entry point runs code from a checkpoint, every bad
checkpoint is named with its fix, and no output a user has is overwritten."""
import json
import os
import os.path as osp
import pickle
import shutil
import sys
import zipfile

import mmseg
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmseg.registry import MODELS
from PIL import Image

from tests.utils.tools import tool_error, tool_main
from tests.utils.training import build_tiny_runner, run_tool
from mmseg_affnet.apis import build_runner, init_segmentor
from mmseg_affnet.engine.checkpoint import load_checkpoint
from mmseg_affnet.models.losses import load_class_frequencies
from mmseg_affnet.utils import error_line

MMSEG_TEST_TOOL = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools',
                           'test.py')
REFUSED = 'holds Python objects'
# How a test run logs its metrics (the config dump only names them).
NO_METRICS = 'mIoU: '
# A decode head of other width: same keys, other shapes.
OTHER_HEAD = '\nmodel = dict(decode_head=dict(channels=64))\n'


class _RunsCode:
    """Unpickling this creates ``marker``: what a malicious file would do."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return exec, (f'open({self.marker!r}, "w").close()', )


@pytest.fixture(scope='module')
def config(trained):
    """The config of the session's trained run (its schedule, so that
    ``--resume`` accepts its checkpoints)."""
    return trained.config


@pytest.fixture(scope='module')
def other_config(tmp_path_factory, config):
    """The tiny config with a narrower decode head."""
    path = tmp_path_factory.mktemp('other_config') / 'other_head.py'
    path.write_text(f"_base_ = [{config!r}]{OTHER_HEAD}")
    return str(path)


@pytest.fixture(scope='module')
def checkpoint(trained):
    """``epoch_1.pth`` of the session's trained run."""
    return trained.checkpoint(1)


@pytest.fixture(scope='module')
def marker(tmp_path_factory):
    return str(tmp_path_factory.mktemp('marker') / 'code_was_run')


@pytest.fixture(scope='module')
def evil(tmp_path_factory, marker):
    """A real torch zip checkpoint whose unpickling would run code."""
    path = str(tmp_path_factory.mktemp('evil') / 'evil.pth')
    torch.save({'state_dict': {}, 'x': _RunsCode(marker)}, path)
    assert zipfile.is_zipfile(path)
    return path


@pytest.fixture
def no_code_run(marker):
    assert not osp.exists(marker)
    yield
    assert not osp.exists(marker), 'the checkpoint ran code'


def _plant(evil: str, folder: str, name: str = 'epoch_150.pth') -> str:
    os.makedirs(folder, exist_ok=True)
    path = osp.join(folder, name)
    shutil.copy(evil, path)
    return path


def _refused(capsys, tool: str, argv, *needles: str) -> str:
    """Run ``tools/<tool>.py`` in this process; it must exit with an error.
    Return what it printed and its error line, which hold every needle."""
    message = tool_error(tool, *argv)
    captured = capsys.readouterr()
    output = captured.out + captured.err + message
    for needle in needles:
        assert needle in output, output[-3000:]
    return output


def _refused_in_a_process(command, *needles: str) -> str:
    """Run a command line that must fail; return its output."""
    result = run_tool(command, expect_rc=1)
    output = result.stdout + result.stderr
    for needle in needles:
        assert needle in output, output[-3000:]
    return output


def test_the_malicious_file_runs_code_when_unpickled(tmp_path):
    """Control: the fixture's file does run code through a full unpickle."""
    marker = str(tmp_path / 'ran')
    path = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {}, 'x': _RunsCode(marker)}, path)

    # What every loader of this project must never do.
    torch.load(path, weights_only=False)

    assert osp.exists(marker)


def test_load_checkpoint_refuses_python_objects(evil, no_code_run):
    with pytest.raises(ValueError, match=REFUSED) as error:
        load_checkpoint(evil)
    # It names what was refused, in plain text.
    assert 'Unsupported global: GLOBAL exec' in str(error.value)
    assert '\x1b' not in str(error.value)


def test_init_segmentor_refuses_python_objects(config, evil, no_code_run):
    with pytest.raises(ValueError, match=REFUSED):
        init_segmentor(config, evil)


def test_load_from_refuses_python_objects(tmp_path, demo_root, evil,
                                          no_code_run):
    runner = build_tiny_runner(tmp_path, demo_root, load_from=evil)
    with pytest.raises(ValueError, match=REFUSED):
        runner.train()


def test_test_tool_refuses_a_file_in_its_own_work_dir(tmp_path, config,
                                                      evil, no_code_run,
                                                      capsys):
    work_dir = str(tmp_path / 'work_dirs' / 'tiny')
    planted = _plant(evil, work_dir)
    output = _refused(capsys, 'test', [config, planted, '--work-dir',
                                       work_dir], REFUSED, planted)
    assert NO_METRICS not in output


def test_resume_never_runs_the_config_text_of_a_checkpoint(
        tmp_path, config, checkpoint, marker, no_code_run):
    # mmengine's Runner.resume executes meta['config'] (Config.fromstring).
    content = torch.load(checkpoint, weights_only=True)
    content['meta']['config'] = f'open({marker!r}, "w").close()'
    work_dir = tmp_path / 'work_dir'
    work_dir.mkdir()
    torch.save(content, work_dir / 'epoch_1.pth')
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'epoch_1.pth'))
    cfg = Config.fromfile(config)
    cfg.work_dir, cfg.resume = str(work_dir), True
    cfg.train_cfg.max_epochs = 1
    build_runner(cfg).train()


def test_resume_refuses_a_planted_last_checkpoint(tmp_path, config, evil,
                                                  no_code_run, capsys):
    work_dir = str(tmp_path / 'work_dir')
    planted = _plant(evil, work_dir, 'epoch_3.pth')
    with open(osp.join(work_dir, 'last_checkpoint'), 'w') as f:
        f.write(planted)
    _refused(capsys, 'train', [config, '--work-dir', work_dir, '--resume'],
             REFUSED, planted)
    assert [name for name in os.listdir(work_dir)
            if name.endswith('.pth')] == ['epoch_3.pth']


def test_infer_refuses_python_objects(tmp_path, config, demo_root, evil,
                                      no_code_run, capsys):
    image = next(
        osp.join(root, name)
        for root, _, names in os.walk(osp.join(demo_root, 'leftImg8bit'))
        for name in names)
    out = str(tmp_path / 'out')
    _refused(capsys, 'infer', [config, evil, image, '--out', out], REFUSED)
    assert not osp.exists(out) or not os.listdir(out)


def test_export_refuses_python_objects(tmp_path, config, evil, no_code_run,
                                       capsys):
    onnx_file = str(tmp_path / 'x.onnx')
    _refused(capsys, 'export_onnx',
             [config, evil, '--shape', '64', '64', '--out', onnx_file],
             REFUSED)
    assert not osp.exists(onnx_file)


@pytest.mark.processes
def test_mmseg_test_tool_loads_through_the_project_loader(
        tmp_path, config, evil, no_code_run):
    work_dir = str(tmp_path / 'work_dir')
    planted = _plant(evil, work_dir)
    output = _refused_in_a_process([
        sys.executable, MMSEG_TEST_TOOL, config, planted, '--work-dir',
        work_dir
    ], REFUSED)
    assert NO_METRICS not in output


def test_an_image_is_not_a_checkpoint(tmp_path, config):
    png = str(tmp_path / 'weights.pth')
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(png, format='PNG')
    for load in (load_checkpoint, lambda path: init_segmentor(config, path)):
        with pytest.raises(ValueError,
                           match='is not a PyTorch checkpoint') as error:
            load(png)
        assert 'Python objects' not in str(error.value)
        assert 'weights_only' not in str(error.value)


@pytest.mark.parametrize('damage', ['empty', 'truncated'])
def test_resume_from_a_damaged_last_checkpoint_names_the_intact_one(
        tmp_path, config, checkpoint, damage, capsys):
    work_dir = str(tmp_path / 'work_dir')
    intact = _plant(checkpoint, work_dir, 'epoch_1.pth')
    damaged = osp.join(work_dir, 'epoch_2.pth')
    with open(checkpoint, 'rb') as f:
        content = f.read()
    with open(damaged, 'wb') as f:
        f.write(b'' if damage == 'empty' else content[:len(content) // 2])
    with open(osp.join(work_dir, 'last_checkpoint'), 'w') as f:
        f.write(damaged)

    _refused(
        capsys, 'train', [config, '--work-dir', work_dir, '--resume'],
        'is empty' if damage == 'empty' else 'is truncated or damaged',
        f'--resume --cfg-options load_from={intact}')

    if damage == 'truncated':  # the advice works
        tool_main('train')([
            config, '--work-dir', work_dir, '--resume', '--cfg-options',
            f'load_from={intact}', 'train_cfg.max_epochs=2'])
        resumed = load_checkpoint(damaged)
        assert resumed['meta']['epoch'] == 2


def test_resume_from_a_missing_last_checkpoint_says_so(tmp_path, config,
                                                       checkpoint, capsys):
    work_dir = str(tmp_path / 'work_dir')
    intact = _plant(checkpoint, work_dir, 'epoch_1.pth')
    missing = osp.join(work_dir, 'epoch_2.pth')
    with open(osp.join(work_dir, 'last_checkpoint'), 'w') as f:
        f.write(missing)

    output = _refused(
        capsys, 'train', [config, '--work-dir', work_dir, '--resume'],
        f'Checkpoint {missing} does not exist',
        'last_checkpoint, which points to a file that is no longer there',
        f'--resume --cfg-options load_from={intact}')

    message = output[output.index(f'Checkpoint {missing} does not exist'):]
    assert 'stage' not in message


def test_test_tool_refuses_a_checkpoint_of_another_config(
        tmp_path, other_config, checkpoint, capsys):
    output = _refused(
        capsys, 'test',
        [other_config, checkpoint, '--work-dir', str(tmp_path / 'work_dir')],
        'does not fit this model',
        'of another shape', 'decode_head.', 'written by run')
    assert NO_METRICS not in output


def test_resume_refuses_a_checkpoint_of_another_config(
        tmp_path, other_config, checkpoint, capsys):
    work_dir = str(tmp_path / 'work_dir')
    output = _refused(
        capsys, 'train', [other_config, '--work-dir', work_dir, '--resume',
                          '--cfg-options', f'load_from={checkpoint}'],
        f'--resume would continue the training of checkpoint {checkpoint} '
        'with another config', '- model.decode_head.channels: 128 in the '
        'checkpoint, 64 now')
    # Refused before the runner is built (issue 31, case 1): nothing is
    # loaded into a model, and nothing is written.
    assert 'torch/optim/' not in output
    assert not osp.exists(work_dir)


@pytest.mark.parametrize('option', ['--out', '--show-dir'])
def test_test_tool_does_not_overwrite_output_folders(
        tmp_path, config, checkpoint, option, capsys):
    folder = tmp_path / 'results'
    folder.mkdir()
    kept = folder / 'keep.png'
    kept.write_bytes(b'users file')

    output = _refused(
        capsys, 'test', [config, checkpoint, option, str(folder),
                         '--work-dir', str(tmp_path / 'work_dir')],
        'already exist', 'empty or new folder')

    assert NO_METRICS not in output
    assert os.listdir(folder) == ['keep.png']
    assert kept.read_bytes() == b'users file'


def test_resume_into_another_runs_work_dir_is_refused(tmp_path, config,
                                                      checkpoint, capsys):
    work_dir = tmp_path / 'other_run'
    work_dir.mkdir()
    theirs = work_dir / 'epoch_1.pth'
    theirs.write_bytes(b'another run')
    (work_dir / 'last_checkpoint').write_text(str(theirs))
    before = {path.name: path.read_bytes() for path in work_dir.iterdir()}

    _refused(
        capsys, 'train', [config, '--work-dir', str(work_dir), '--resume',
                          '--cfg-options', f'load_from={checkpoint}'],
        'would overwrite them')

    after = {path.name: path.read_bytes() for path in work_dir.iterdir()}
    assert after == before


@pytest.mark.parametrize('tool', ['train', 'test'])
def test_missing_config_is_a_clean_error(tmp_path, tool):
    missing = str(tmp_path / 'missing.py')
    extra = ['x.pth'] if tool == 'test' else []
    message = tool_error(tool, missing, *extra)
    assert message.startswith(f'error: Config {missing} does not exist'), \
        message


# ------------------------------------------------ class weights and counts --
def _code_running_files(folder, marker):
    """A pickle, a YAML file and a pickled .npy whose loading runs code."""
    pickled = osp.join(folder, 'weights.pkl')
    with open(pickled, 'wb') as f:
        pickle.dump(_RunsCode(marker), f)
    yaml_file = osp.join(folder, 'weights.yaml')
    with open(yaml_file, 'w') as f:
        f.write(f"!!python/object/apply:builtins.exec\n"
                f"- open({marker!r}, 'w').close()\n")
    npy = osp.join(folder, 'weights.npy')
    np.save(npy, np.array([_RunsCode(marker), 1.0], dtype=object),
            allow_pickle=True)
    return [pickled, yaml_file, npy]


LOSSES_OF_A_FILE = {
    'ClassWeightedCrossEntropyLoss': 'class_weight',
    'ObjectWeightedFocalLoss': 'class_frequencies',
    'CrossEntropyLoss': 'class_weight',  # mmseg's own, through its reader
    'LovaszLoss': 'class_weight',
}


@pytest.mark.parametrize('loss_type', list(LOSSES_OF_A_FILE))
def test_a_class_weight_file_never_runs_code(tmp_path, marker, no_code_run,
                                             loss_type):
    for path in _code_running_files(str(tmp_path), marker):
        loss_cfg = dict(type=loss_type, **{LOSSES_OF_A_FILE[loss_type]: path})
        if loss_type == 'LovaszLoss':
            loss_cfg['reduction'] = 'none'
        with pytest.raises(ValueError, match=osp.basename(path)) as error:
            MODELS.build(loss_cfg)
        message = str(error.value)
        assert ('only .json and .npy' in message
                or 'pickled data is never loaded' in message), message


def test_class_weight_and_frequency_files_json_and_npy(tmp_path):
    weights = [0.5, 1.5, 3.0]
    (tmp_path / 'w.json').write_text(json.dumps(weights))
    (tmp_path / 'wd.json').write_text(json.dumps({'class_weight': weights}))
    np.save(tmp_path / 'w.npy', np.array(weights))
    for name in ('w.json', 'wd.json', 'w.npy'):
        path = str(tmp_path / name)
        loss = MODELS.build(
            dict(type='ClassWeightedCrossEntropyLoss', class_weight=path))
        assert list(loss.class_weight) == weights
        assert list(MODELS.build(dict(type='CrossEntropyLoss',
                                      class_weight=path)).class_weight) \
            == weights
    owfl = MODELS.build(dict(type='ObjectWeightedFocalLoss',
                             class_frequencies=str(tmp_path / 'w.npy')))
    assert owfl.alpha.shape == (3, )


@pytest.mark.parametrize('content,needle', [
    ('[1.0, NaN, 2.0]', r'must be finite; classes \[1\]'),
    ('[1.0, "2", 3.0]', r"entry 1 is '2' \(str\)"),
    ('[[1.0, 2.0]]', r'entry 0 is \[1.0, 2.0\] \(list\)'),
    ('{"weights": [1.0]}', "a 'class_weight' list"),
    ('[]', 'hold no values'),
    ('[1.0, 2.0', 'is not valid JSON'),
])
def test_class_weight_json_is_validated(tmp_path, content, needle):
    path = tmp_path / 'weights.json'
    path.write_text(content)
    for loss_type in ('ClassWeightedCrossEntropyLoss', 'CrossEntropyLoss'):
        with pytest.raises(ValueError, match=needle):
            MODELS.build(dict(type=loss_type, class_weight=str(path)))


def test_class_frequencies_of_the_wrong_length_are_refused(tmp_path):
    path = tmp_path / 'freq.npy'
    np.save(path, np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match='got 2 values for num_classes=3'):
        load_class_frequencies(str(path), num_classes=3)
    np.save(path, np.ones((2, 2)))
    with pytest.raises(ValueError, match='one-dimensional numeric array'):
        load_class_frequencies(str(path))


# ------------------------------ one line per error, traceback on request --
def _no_traceback(message: str) -> str:
    assert message.startswith('error: '), message
    assert 'Traceback' not in message and '\n  File ' not in message, message
    return message


def test_train_reports_a_value_error_in_one_line(tmp_path, config, evil,
                                                 no_code_run):
    """A refused checkpoint (a ValueError) is one line; --debug: traceback."""
    argv = [config, '--work-dir', str(tmp_path / 'work_dir'),
            '--cfg-options', f'load_from={evil}']
    message = _no_traceback(tool_error('train', *argv))
    assert REFUSED in message and evil in message
    with pytest.raises(ValueError, match=REFUSED):
        tool_main('train')(argv + ['--debug'])


@pytest.fixture
def broken_config(tmp_path, config):
    path = tmp_path / 'broken.py'
    path.write_text(f"_base_ = [{config!r}]\nmodel = dict(type='x'\n")
    return str(path)


@pytest.mark.parametrize('tool,extra', [
    ('train', []), ('test', ['x.pth']), ('infer', ['x.pth', 'a.png']),
    ('export_onnx', ['--shape', '64', '64']),
    ('quantize', ['--shape', '64', '64', '--out', 'x.onnx'])])
def test_config_syntax_error_names_the_file_and_line(tmp_path,
                                                     broken_config, tool,
                                                     extra):
    if tool == 'infer':
        extra = extra + ['--out', str(tmp_path / 'out')]
    message = _no_traceback(tool_error(tool, broken_config, *extra))
    assert f'Config {broken_config} has a syntax error in line 2' in message
    assert '<unknown>' not in message


PNG_BYTES = b'\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR'


@pytest.mark.parametrize('kind', ['png', 'binary_py', 'nul_py', 'base'])
def test_a_binary_file_as_config_is_named(tmp_path, kind):
    """Issue 31, case 16: an image passed as the config gave mmengine's
    'Only py/yml/yaml/json type are supported now!' or a UTF-8 decode
    error, naming no file."""
    image = tmp_path / 'street.png'
    image.write_bytes(PNG_BYTES)
    binary = tmp_path / 'binary.py'
    binary.write_bytes(dict(nul_py=b'x = 1\x00\n').get(kind, PNG_BYTES))
    top = tmp_path / 'top.py'
    top.write_text("_base_ = ['binary.py']\n")
    config = dict(png=image, base=top).get(kind, binary)
    message = _no_traceback(tool_error(
        'infer', str(config), 'x.pth', str(image), '--out',
        str(tmp_path / 'out')))
    expected = {
        'png': f'Config {image} is not a config file: a config is a .py, '
        '.json, .yaml or .yml file, not .png. Pass the config',
        'binary_py': f'Config {binary} is not a text config (byte 0 is not '
        'UTF-8): it is a binary file, e.g. an image or a checkpoint. Pass '
        'the config',
        'nul_py': f'Config {binary} is not a text config (byte 5 is NUL)',
        'base': f'Config {binary} is not a text config (byte 0 is not '
        f'UTF-8): it is a binary file, e.g. an image or a checkpoint. It is '
        f'a _base_ file of Config {top}: fix that _base_ entry.'}[kind]
    assert message.startswith(f'error: {expected}'), message
    assert not (tmp_path / 'out').exists()


@pytest.mark.parametrize('tool', ['train', 'test'])
def test_folder_as_config_or_checkpoint_is_named_a_folder(tmp_path, config,
                                                          checkpoint, tool):
    extra = [checkpoint] if tool == 'test' else []
    message = _no_traceback(tool_error(tool, str(tmp_path), *extra))
    assert f'Config {tmp_path} is a folder, not a config file' in message
    if tool == 'test':
        message = _no_traceback(tool_error(
            'test', config, osp.dirname(checkpoint), '--work-dir',
            str(tmp_path / 'work_dir')))
        assert 'is a folder, not a checkpoint file' in message


@pytest.mark.parametrize('tool', ['train', 'test', 'demo'])
def test_work_dir_that_is_a_file_is_named(tmp_path, config, checkpoint, tool):
    afile = tmp_path / 'afile'
    afile.write_text('mine')
    first = {'train': [config], 'test': [config, checkpoint],
             'demo': ['--data-root', str(tmp_path / 'data')]}[tool]
    message = _no_traceback(
        tool_error(tool, *first, '--work-dir', str(afile)))
    assert f'--work-dir {afile} is a file, not a folder' in message
    assert afile.read_text() == 'mine'


def test_test_tool_hint_offers_only_intact_checkpoints(tmp_path, config,
                                                       checkpoint):
    folder = tmp_path / 'checkpoints'
    intact = _plant(checkpoint, str(folder), 'epoch_1.pth')
    with open(checkpoint, 'rb') as f:
        content = f.read()
    (folder / 'epoch_2.pth').write_bytes(content[:len(content) // 2])
    (folder / 'epoch_3.pth').write_bytes(content[:len(content) // 3])
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(
        folder / 'picture.pth', format='PNG')

    message = _no_traceback(tool_error(
        'test', config, str(folder / 'epoch_3.pth'), '--work-dir',
        str(tmp_path / 'work_dir')))

    assert 'epoch_3.pth is truncated or damaged' in message
    assert f'Intact checkpoints of this model in that folder: epoch_1.pth; ' \
        f'pass one of them instead, e.g. {intact}' in message
    assert '--resume' not in message
    assert 'picture.pth' not in message and 'epoch_2.pth' not in message


def test_truncated_label_at_test_time_names_the_file(tmp_path, config,
                                                     demo_root, checkpoint):
    """Without the preflight hook, the test pipeline's own error is named."""
    data = tmp_path / 'data'
    shutil.copytree(demo_root, data)
    label = sorted((data / 'gtFine' / 'val').rglob('*labelTrainIds.png'))[0]
    label.write_bytes(label.read_bytes()[:100])

    message = _no_traceback(tool_error(
        'test', config, checkpoint, '--work-dir', str(tmp_path / 'work_dir'),
        '--cfg-options', 'custom_hooks=[]',
        f'test_dataloader.dataset.data_root={data}'))

    assert 'truncated' in message and str(label) in message


def test_unexpected_and_worker_errors_are_one_line():
    worker = OSError('Caught OSError in DataLoader worker process 0.\n'
                     'Original Traceback (most recent call last):\n'
                     '  File "x.py", line 1, in <module>\n'
                     'OSError: image file is truncated')
    assert error_line(worker) == (
        'error: OSError: image file is truncated (raised in a DataLoader '
        'worker; rerun with --debug for the full traceback)')
    assert error_line(KeyError('Foo is not in the registry')) == \
        'error: Foo is not in the registry'
    assert error_line(ZeroDivisionError('division by zero')) == (
        'error: ZeroDivisionError: division by zero (rerun with --debug for '
        'the full traceback)')
