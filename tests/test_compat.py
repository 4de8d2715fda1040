"""mmseg_affnet.compat: every patch of another package is applied by
importing the package, once, and nowhere else."""
import ast
import os
import os.path as osp

import mmengine.config.config as mmengine_config
import mmengine.config.utils as mmengine_config_utils
import mmengine.hub.hub as mmengine_hub
import mmengine.utils.package_utils as mmengine_package_utils
import pytest
from mmengine.runner.checkpoint import CheckpointLoader
from mmseg.models.losses import cross_entropy_loss as mmseg_cross_entropy_loss

from mmseg_affnet import compat
from mmseg_affnet.models.losses.utils import (get_class_weight,
                                              ignore_safe_cross_entropy)
from tests.utils.tools import REPO_ROOT

# torch is left out: its settings (threads, cudnn.benchmark) are set, not
# patched.
PATCHED_PACKAGES = ('mmengine', 'mmseg', 'mmcv')


def _mmengine_helpers():
    return [(module, name) for module in (mmengine_config, mmengine_hub)
            for name in ('_get_package_and_cfg_path', 'get_installed_path')
            ] + [(module, '_get_cfg_metainfo')
                 for module in (mmengine_config_utils, mmengine_hub)
                 ] + [(module, 'is_installed')
                      for module in (mmengine_config, mmengine_package_utils)]


def test_importing_the_package_applies_every_patch():
    for module, name in _mmengine_helpers():
        assert hasattr(getattr(module, name), 'upstream'), (module, name)
    assert CheckpointLoader._schemes[''] is compat._load_local
    modules = compat.mmseg_loss_modules()
    assert set(modules) >= {'utils', 'cross_entropy_loss'}
    for module in modules.values():
        if hasattr(module, 'get_class_weight'):
            assert module.get_class_weight is get_class_weight
    assert mmseg_cross_entropy_loss.cross_entropy is \
        ignore_safe_cross_entropy


def test_applying_the_patches_again_wraps_nothing_twice():
    before = {(module, name): getattr(module, name)
              for module, name in _mmengine_helpers()}
    compat.apply_patches()
    for (module, name), helper in before.items():
        assert getattr(module, name) is helper
        assert not hasattr(helper.upstream, 'upstream')


def test_every_patch_says_what_why_upstream_and_when_it_goes():
    for name, patch in compat.PATCHES.items():
        doc = patch.__doc__ or ''
        for part in ('What:', 'Why:', 'Upstream:', 'Goes when'):
            assert part in doc, f'{name}: {patch.__name__} lacks {part!r}'


def _external_module_names(tree: ast.Module) -> set:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {(alias.asname or alias.name).split('.')[0]
                      for alias in node.names
                      if alias.name.split('.')[0] in PATCHED_PACKAGES}
        elif isinstance(node, ast.ImportFrom) and not node.level and \
                (node.module or '').split('.')[0] in PATCHED_PACKAGES:
            names |= {alias.asname or alias.name for alias in node.names}
    return names


def test_no_module_but_compat_patches_another_package():
    """An attribute set on an imported mmengine/mmseg/mmcv object,
    or a CheckpointLoader scheme registered, outside compat.py."""
    package = osp.join(REPO_ROOT, 'mmseg_affnet')
    offenders = []
    for folder, _, files in os.walk(package):
        for file in files:
            path = osp.join(folder, file)
            if not file.endswith('.py') or path == compat.__file__:
                continue
            with open(path, encoding='utf-8') as f:
                tree = ast.parse(f.read(), path)
            external = _external_module_names(tree)
            for node in ast.walk(tree):
                targets = node.targets if isinstance(node, ast.Assign) else []
                for target in targets:
                    base = target
                    while isinstance(base, ast.Attribute):
                        base = base.value
                    if target is not base and isinstance(base, ast.Name) \
                            and base.id in external:
                        offenders.append(f'{path}:{node.lineno}')
                if isinstance(node, ast.Call) and \
                        getattr(node.func, 'attr', '') == 'register_scheme':
                    offenders.append(f'{path}:{node.lineno}')
    assert not offenders, '\n'.join(offenders)


def test_model_index_is_read_once_per_config_path(monkeypatch):
    """mmengine's metafile scan runs once per (package, path): a config
    entry and a base's ValueError both come back without a second scan,
    and a caller cannot change the remembered entry."""
    from mmseg_affnet.utils.mim import cached_cfg_metainfo

    scans = []

    def scan(package_path, cfg_path):
        scans.append(cfg_path)
        if cfg_path.startswith('_base_'):
            raise ValueError(f'Expected configs: ..., but got {cfg_path}')
        return {'Config': f'configs/{cfg_path}.py'}

    cached = cached_cfg_metainfo(scan)
    for _ in range(3):
        entry = cached('/pkg', 'fastscnn/fast_scnn')
        assert entry == {'Config': 'configs/fastscnn/fast_scnn.py'}
        entry['Config'] = 'changed by a caller'
        with pytest.raises(ValueError, match='but got _base_/x'):
            cached('/pkg', '_base_/x')
    assert scans == ['fastscnn/fast_scnn', '_base_/x']
    assert cached.upstream is scan


def test_installed_packages_are_looked_up_once():
    """A package found is not looked up again; one not found is (it may be
    installed meanwhile)."""
    from mmseg_affnet.utils.mim import remembered_installed

    lookups = []
    present = {'mmseg'}

    def lookup(package):
        lookups.append(package)
        return package in present

    is_installed = remembered_installed(lookup)
    assert is_installed('mmseg') and is_installed('mmseg')
    assert not is_installed('mmdet') and not is_installed('mmdet')
    present.add('mmdet')
    assert is_installed('mmdet') and is_installed('mmdet')
    assert lookups == ['mmseg', 'mmdet', 'mmdet', 'mmdet']
