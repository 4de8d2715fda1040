"""The package as a user installs it: from a wheel, not from this checkout.

The wheel is built once per test session (``pip wheel --no-deps
--no-build-isolation``, a few seconds) from a copy of the repository and
installed with ``pip install --no-deps --target`` into a folder that a
fresh interpreter puts first on its path (the test environment supplies the
dependencies); the interpreter runs outside the checkout.
"""
import glob
import os
import os.path as osp
import shutil
import subprocess
import sys
import textwrap

import pytest

# Every test here starts processes (pip, the installed tools).
pytestmark = pytest.mark.processes

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
NOT_SHIPPED = shutil.ignore_patterns('.git', '.venv', 'data', 'work_dirs',
                                     'build', 'dist', '*.egg-info', '.mim',
                                     '__pycache__', '.pytest_cache')


def _run(command, **kwargs) -> None:
    result = subprocess.run(command, capture_output=True, text=True,
                            timeout=600, **kwargs)
    assert result.returncode == 0, \
        result.stdout[-2000:] + result.stderr[-3000:]


@pytest.fixture(scope='session')
def installed_package(tmp_path_factory) -> str:
    """A folder holding ``mmseg_affnet`` installed from a wheel."""
    root = tmp_path_factory.mktemp('install')
    source, wheels, target = root / 'src', root / 'wheels', root / 'site'
    shutil.copytree(REPO_ROOT, source, ignore=NOT_SHIPPED, symlinks=True)
    pip = [sys.executable, '-m', 'pip', '--disable-pip-version-check']
    _run(pip + ['wheel', '--no-deps', '--no-build-isolation', '--no-index',
                '-w', str(wheels), str(source)], cwd=str(root))
    wheel, = glob.glob(str(wheels / '*.whl'))
    _run(pip + ['install', '--no-deps', '--no-index', '--target',
                str(target), wheel], cwd=str(root))
    return str(target)


INSTALLED_SCRIPT = textwrap.dedent("""
    import os.path as osp
    import sys

    site, user_config = sys.argv[1:]
    import mmseg_affnet
    assert mmseg_affnet.__file__.startswith(site), mmseg_affnet.__file__
    from mmengine.config import Config
    from mmengine.hub import get_config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    from mmseg_affnet.analysis import MODEL_ZOO, select_models
    from mmseg_affnet.apis import init_segmentor, load_config
    from mmseg_affnet.research.comparison_recipe import (COMPARISON_MODELS,
                                                         RECIPES)
    from mmseg_affnet.utils import iter_dicts

    mim = osp.join(site, 'mmseg_affnet', '.mim')
    for name in ('affnet_cityscapes.py', '_base_/models/affnet.py',
                 'camvid/affnet_camvid_cpu.py'):
        assert osp.isfile(osp.join(mim, 'configs', name)), name
    for name in ('train.py', 'test.py', 'benchmark.py', 'dist_train.sh'):
        assert osp.isfile(osp.join(mim, 'tools', name)), name
    # a user's config inherits AFFNet's as it inherits mmseg's
    user = Config.fromfile(user_config)
    shipped = get_config('mmseg_affnet::affnet_cityscapes.py')
    loaded = load_config('mmseg_affnet::affnet_cityscapes.py')
    # inherited dicts carry the package's scope, as mmseg:: ones carry mmseg
    scoped = user.model.to_dict()
    assert scoped['_scope_'] == 'mmseg_affnet'
    for node in iter_dicts(scoped):
        node.pop('_scope_', None)
    assert scoped == shipped.model.to_dict() == loaded.model.to_dict()
    base = get_config('mmseg_affnet::_base_/models/affnet.py')
    assert base.model.backbone.type == shipped.model.backbone.type == 'AFFNet'
    init_default_scope('mmseg')
    MODELS.build(user.model)
    # the benchmark and the comparison find AFFNet's configs
    assert select_models(['AFFNet'])['AFFNet'].startswith(mim)
    for path in (MODEL_ZOO['AFFNet'], COMPARISON_MODELS['AFFNet'],
                 COMPARISON_MODELS['SPSSNet'], *RECIPES.values()):
        assert path.startswith(mim) and osp.isfile(path), path
    model = init_segmentor(MODEL_ZOO['AFFNet'])
    camvid = load_config('mmseg_affnet::camvid/affnet_camvid_cpu.py')
    assert camvid.val_evaluator.class_frequencies == 'camvid'
    print('installed', type(model).__name__,
          sum(p.numel() for p in model.parameters()))
""")


def test_installed_wheel_ships_configs_and_tools(installed_package,
                                                 tmp_path):
    (tmp_path / 'user.py').write_text(
        "_base_ = ['mmseg_affnet::affnet_cityscapes.py']\n")
    (tmp_path / 'check.py').write_text(INSTALLED_SCRIPT)
    env = dict(os.environ, PYTHONPATH=installed_package)

    result = subprocess.run(
        [sys.executable, 'check.py', installed_package,
         str(tmp_path / 'user.py')],
        cwd=str(tmp_path), env=env, capture_output=True, text=True,
        timeout=300)

    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-3:] == ['installed', 'EncoderDecoder',
                                          '1651692'], result.stdout
    # the mmseg_affnet scope has its registries (no fallback warnings)
    assert 'Failed to' not in result.stdout + result.stderr
    # a shipped tool runs from the installed package
    tool = osp.join(installed_package, 'mmseg_affnet', '.mim', 'tools',
                    'benchmark.py')
    shipped = subprocess.run([sys.executable, tool, '--help'],
                             cwd=str(tmp_path), env=env, capture_output=True,
                             text=True, timeout=300)
    assert shipped.returncode == 0 and '--models' in shipped.stdout, \
        shipped.stderr[-3000:]
