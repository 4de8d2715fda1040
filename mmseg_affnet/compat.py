"""Every patch this package applies to another package, in one place.

Importing ``mmseg_affnet`` calls :func:`apply_patches`. Each patch is one
function below, with what it replaces, why, the upstream issue and when it
can go; the replacements themselves live beside the code they belong to
and are documented there. :data:`PATCHES` lists them for a reader (and for
``tests/test_compat.py``, which checks that each one is in place).

=====================================  =====================================
patched (package: name)                replaced by
=====================================  =====================================
mmengine: ``config.config`` and        :mod:`mmseg_affnet.utils.mim`
``hub.hub``'s                          wrappers that resolve
``_get_package_and_cfg_path`` and      ``mmseg_affnet::<path>``
``get_installed_path``
mmengine: ``config.utils`` and         :func:`mmseg_affnet.utils.mim.
``hub.hub``'s ``_get_cfg_metainfo``    cached_cfg_metainfo`
mmengine: ``config.config`` and        :func:`mmseg_affnet.utils.mim.
``utils.package_utils``'s              remembered_installed`
``is_installed``
mmengine: ``CheckpointLoader``'s       :func:`mmseg_affnet.engine.checkpoint.
local-file scheme (``''``)             load_checkpoint`
mmseg: ``get_class_weight`` in five    :func:`mmseg_affnet.models.losses.
loss modules                           utils.get_class_weight`
mmseg: ``cross_entropy`` of            :func:`mmseg_affnet.models.losses.
``cross_entropy_loss``                 utils.ignore_safe_cross_entropy`
=====================================  =====================================
"""
import importlib
from types import ModuleType
from typing import Callable, Dict

from mmengine.runner.checkpoint import CheckpointLoader
from mmseg.models.losses import cross_entropy_loss as mmseg_cross_entropy_loss

from .engine.checkpoint import MapLocation, load_checkpoint
from .models.losses.utils import get_class_weight, ignore_safe_cross_entropy
from .utils.mim import (cached_cfg_metainfo, own_installed_path,
                        own_package_first, remembered_installed)

#: mmseg loss modules that call ``get_class_weight`` by their module-level
#: name (mmseg 1.2.2).
MMSEG_LOSS_MODULES = ('utils', 'cross_entropy_loss', 'lovasz_loss',
                      'tversky_loss', 'huasdorff_distance_loss')


def mmseg_loss_modules() -> Dict[str, ModuleType]:
    """The modules of :data:`MMSEG_LOSS_MODULES` this mmseg version has, by
    name."""
    modules = {}
    for name in MMSEG_LOSS_MODULES:
        try:
            modules[name] = importlib.import_module(
                f'mmseg.models.losses.{name}')
        except ImportError:  # a module another mmseg version lacks
            continue
    return modules


def patch_mmengine_package_configs() -> None:
    """Let mmengine resolve ``mmseg_affnet::<path>`` in ``_base_`` entries,
    ``Config.fromfile`` and :func:`mmengine.hub.get_config`.

    What: ``_get_package_and_cfg_path`` and ``get_installed_path`` of
    ``mmengine.config.config`` and ``mmengine.hub.hub`` (private helpers)
    are wrapped; other packages' paths go to mmengine's own helpers.
    Why: mmengine resolves ``package::path`` only for the packages of its
    fixed ``MODULE2PACKAGE`` table and only for paths with a folder.
    Upstream: open-mmlab/mmengine#1410 (the fix, #1411, was closed
    unmerged). Goes when mmengine resolves any installed package's
    ``.mim/configs``.
    """
    from mmengine.config import config as config_module
    from mmengine.hub import hub as hub_module
    for module in (config_module, hub_module):
        if not hasattr(module._get_package_and_cfg_path, 'upstream'):
            module._get_package_and_cfg_path = own_package_first(
                module._get_package_and_cfg_path)
        if not hasattr(module.get_installed_path, 'upstream'):
            module.get_installed_path = own_installed_path(
                module.get_installed_path)


def patch_mmengine_model_index_reads() -> None:
    """Read a package's model index once a process, not once per
    ``package::`` path.

    What: ``_get_cfg_metainfo`` of ``mmengine.config.utils`` (called for
    every ``package::`` ``_base_`` entry) and of ``mmengine.hub.hub``
    (:func:`mmengine.hub.get_config`, which imported it by name), a
    private helper, wrapped by :func:`cached_cfg_metainfo`. Why: mmengine
    0.10.7 parses mmseg's ``model-index.yml`` and its ~100 metafiles on
    each call, 0.3-1 s on a 2-core CPU, so a config with three
    ``mmseg::`` bases costs seconds to read and a tool that reads the
    model zoo's configs (the benchmark, the comparison, the experiment
    suite) spends most of its start there (the experiment suite's test:
    134 of 206 s). Upstream: mmengine has no cache there (its
    ``get_config`` and ``Config._get_cfg_path`` both call the helper).
    Goes when mmengine caches the model index.
    """
    from mmengine.config import utils as config_utils
    from mmengine.hub import hub as hub_module
    for module in (config_utils, hub_module):
        if not hasattr(module._get_cfg_metainfo, 'upstream'):
            module._get_cfg_metainfo = cached_cfg_metainfo(
                module._get_cfg_metainfo)


def patch_mmengine_installed_check() -> None:
    """Ask once a process whether a package is installed.

    What: ``is_installed`` of ``mmengine.config.config`` (called by
    ``Config._get_cfg_path`` for every ``package::`` path) and of
    ``mmengine.utils.package_utils`` (called by ``install_package``, which
    :func:`mmengine.hub.get_config` calls), wrapped by
    :func:`remembered_installed`. Why: mmengine 0.10.7 reloads
    ``pkg_resources`` on each call (about 50 ms, and a deprecation warning
    each time), twice or more per ``mmseg::`` config read. Upstream:
    mmengine's ``is_installed`` reloads on purpose, for packages installed
    while a process runs (pypa/setuptools#373); only packages found are
    remembered, so that case still works. Goes when mmengine stops
    reloading ``pkg_resources`` (it is deprecated) or caches the answer.
    """
    from mmengine.config import config as config_module
    from mmengine.utils import package_utils
    for module in (config_module, package_utils):
        if not hasattr(module.is_installed, 'upstream'):
            module.is_installed = remembered_installed(module.is_installed)


def _load_local(filename: str, map_location: MapLocation = None) -> dict:
    return load_checkpoint(filename, map_location)


def patch_mmengine_checkpoint_loader() -> None:
    """Read local checkpoints (``load_from``, ``--resume``) with this
    package's loader.

    What: the local-file scheme (prefix ``''``) of mmengine's
    ``CheckpointLoader``. Why: mmengine 0.10.7 calls ``torch.load`` with
    its defaults; on torch >= 2.6 that is weights-only loading, which
    fails on mmengine's own pickled checkpoints with a message naming
    ``weights_only=False`` as the fix, and a damaged or foreign file gives a
    traceback that names no fix. :func:`load_checkpoint` reads weights only
    (never ``weights_only=False``) and names the file and the fix.
    Upstream: open-mmlab/mmengine#1655. Goes when mmengine's loader is
    weights-only safe and reports damaged files itself.
    """
    CheckpointLoader.register_scheme(
        prefixes='', loader=_load_local, force=True)


def patch_mmseg_class_weight_reader() -> None:
    """Read ``class_weight`` files of mmseg's losses without running code.

    What: ``get_class_weight`` in :data:`MMSEG_LOSS_MODULES`. Why: mmseg
    1.2.2 reads any path with ``mmengine.load``, which unpickles ``.pkl``
    files and constructs Python objects from YAML tags, so a crafted
    class-weight file runs code when a loss is built; it also accepts
    negative, all-zero and non-finite weights. Upstream: mmseg's
    ``mmseg/models/losses/utils.py`` has no option for a safe reader.
    Goes when it stops calling ``mmengine.load`` on arbitrary files.
    """
    for module in mmseg_loss_modules().values():
        if hasattr(module, 'get_class_weight'):
            module.get_class_weight = get_class_weight


def patch_mmseg_cross_entropy() -> None:
    """Let mmseg's ``CrossEntropyLoss`` take class weights on batches with
    ignored pixels.

    What: ``mmseg.models.losses.cross_entropy_loss.cross_entropy``, the
    criterion ``CrossEntropyLoss`` picks by name when it is built. Why:
    mmseg 1.2.2 averages a class-weighted loss by ``class_weight[label]``
    of every pixel, ignored ones included, so ``class_weight[255]`` raises
    ``IndexError`` at the first batch. Upstream: open-mmlab/mmsegmentation
    #3734. Goes when mmseg masks ignored pixels before it looks up their
    class weights.
    """
    mmseg_cross_entropy_loss.cross_entropy = ignore_safe_cross_entropy


#: Every patch, by name.
PATCHES: Dict[str, Callable[[], None]] = {
    'mmengine package configs': patch_mmengine_package_configs,
    'mmengine model-index reads': patch_mmengine_model_index_reads,
    'mmengine installed check': patch_mmengine_installed_check,
    'mmengine checkpoint loader': patch_mmengine_checkpoint_loader,
    'mmseg class-weight reader': patch_mmseg_class_weight_reader,
    'mmseg cross entropy': patch_mmseg_cross_entropy,
}


def apply_patches() -> None:
    """Apply every patch of :data:`PATCHES` (idempotent)."""
    for patch in PATCHES.values():
        patch()
