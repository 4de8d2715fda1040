"""The configs and tools shipped with the package, and ``mmseg_affnet::``
config paths in mmengine.

As in every OpenMMLab package, an installed ``mmseg_affnet`` holds copies of
the repository's ``configs/`` and ``tools/`` in ``mmseg_affnet/.mim/``
(``setup.py`` writes them when it builds; an editable install links them).
In a source checkout without ``.mim`` the repository's own folders are used.

mmengine resolves ``package::path`` (``_base_`` entries,
:func:`mmengine.hub.get_config`) only for the packages of its fixed
``MODULE2PACKAGE`` table and only for paths with a folder
(open-mmlab/mmengine#1410; the fix, #1411, was closed unmerged).
:func:`own_package_first` and :func:`own_installed_path` wrap the two
private helpers mmengine's config and hub modules call, so that they
resolve ``mmseg_affnet::<path>`` and other packages as before;
:func:`mmseg_affnet.compat.patch_mmengine_package_configs` puts them in
place when the package is imported.

mmengine also reads every metafile of a package's model index (about 100
YAML files for mmseg, 0.3-1 s) each time it resolves one ``package::``
path, that is for every ``mmseg::_base_/...`` entry of every config it
reads; :func:`cached_cfg_metainfo` remembers each answer for the process.
Before each of those lookups it asks whether the package is installed by
reloading ``pkg_resources`` (about 50 ms); :func:`remembered_installed`
remembers the packages found.
"""
import os.path as osp
from typing import Callable, Dict, Optional, Tuple

PACKAGE = 'mmseg_affnet'
PACKAGE_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))
MIM_DIR = osp.join(PACKAGE_DIR, '.mim')


def shipped_folder(name: str) -> str:
    """The package's ``.mim/<name>`` folder, or the source checkout's
    ``<name>`` folder when the package is not built (no ``.mim``).

    Args:
        name (str): 'configs' or 'tools'.

    Returns:
        str: The folder (it may not exist in a broken install).
    """
    mim = osp.join(MIM_DIR, name)
    checkout = osp.join(osp.dirname(PACKAGE_DIR), name)
    return mim if osp.isdir(mim) or not osp.isdir(checkout) else checkout


def config_file(path: str) -> str:
    """The file of a config shipped with the package.

    Args:
        path (str): Path under ``configs/``, e.g.
            ``'affnet_cityscapes.py'`` or ``'mmseg_affnet::affnet_demo.py'``.

    Returns:
        str: The config file's absolute path.
    """
    return osp.join(shipped_folder('configs'),
                    path.split('::', 1)[1] if '::' in path else path)


def own_package_first(upstream: Callable[[str], Tuple[str, str]]
                      ) -> Callable[[str], Tuple[str, str]]:
    """mmengine's ``_get_package_and_cfg_path``, also for
    ``mmseg_affnet::<path>`` (a path without a folder included).

    Args:
        upstream (Callable): mmengine's own helper, called for every other
            path; kept as the wrapper's ``upstream`` attribute.

    Returns:
        Callable[[str], tuple[str, str]]: ``cfg_path`` -> (package, path).
    """

    def get_package_and_cfg_path(cfg_path: str) -> Tuple[str, str]:
        package, separator, path = cfg_path.partition('::')
        if separator and package == PACKAGE:
            return PACKAGE, path
        return upstream(cfg_path)

    get_package_and_cfg_path.upstream = upstream
    return get_package_and_cfg_path


def own_installed_path(upstream: Callable[[str], str]
                       ) -> Callable[[str], str]:
    """mmengine's ``get_installed_path``, also for this package (installed,
    editable, or a checkout with ``.mim`` links).

    Args:
        upstream (Callable): mmengine's own helper, called for every other
            package; kept as the wrapper's ``upstream`` attribute.

    Returns:
        Callable[[str], str]: package name -> the folder holding ``.mim``.
    """

    def get_installed_path(package: str) -> str:
        # ``.mim`` is looked up under the returned folder.
        if package == PACKAGE:
            return osp.dirname(MIM_DIR) if osp.isdir(MIM_DIR) else \
                _checkout_as_package()
        return upstream(package)

    get_installed_path.upstream = upstream
    return get_installed_path


def cached_cfg_metainfo(upstream: Callable[[str, str], dict]
                        ) -> Callable[[str, str], dict]:
    """mmengine's ``_get_cfg_metainfo``, each answer read once a process.

    mmengine reads the package's ``model-index.yml`` and every metafile it
    imports on each call, to find one config's entry; a ``_base_`` entry,
    which no metafile lists, ends in the ``ValueError`` mmengine catches to
    fall back to the path itself. Both answers are kept, by package folder
    and config path (the installed packages do not change while a process
    runs).

    Args:
        upstream (Callable): mmengine's own helper; kept as the wrapper's
            ``upstream`` attribute.

    Returns:
        Callable[[str, str], dict]: (package path, config path) -> the
        config's metafile entry (a copy), or the ``ValueError`` raised again.
    """
    answers: Dict[Tuple[str, str], Tuple[dict, Optional[tuple]]] = {}

    def get_cfg_metainfo(package_path: str, cfg_path: str) -> dict:
        key = (package_path, cfg_path)
        if key not in answers:
            try:
                answers[key] = (upstream(package_path, cfg_path), None)
            except ValueError as error:
                answers[key] = ({}, error.args)
        entry, error_args = answers[key]
        if error_args is not None:
            raise ValueError(*error_args)
        return dict(entry)

    get_cfg_metainfo.upstream = upstream
    return get_cfg_metainfo


def remembered_installed(upstream: Callable[[str], bool]
                         ) -> Callable[[str], bool]:
    """mmengine's ``is_installed``, asked once a process for a package
    that is installed.

    A package found stays installed while the process runs; one not found
    is asked again (mmengine's ``install_package`` may install it).

    Args:
        upstream (Callable): mmengine's own helper; kept as the wrapper's
            ``upstream`` attribute.

    Returns:
        Callable[[str], bool]: Package name -> whether it is installed.
    """
    installed = set()

    def is_installed(package: str) -> bool:
        if package not in installed and upstream(package):
            installed.add(package)
        return package in installed

    is_installed.upstream = upstream
    return is_installed


def _checkout_as_package() -> str:
    raise FileNotFoundError(
        f'{PACKAGE_DIR} has no .mim folder of configs: mmseg_affnet:: paths '
        'need an installed package (pip install .) or an editable one (pip '
        'install -e .); in a source checkout use configs/... paths.')
