"""Reading configs and walking them: the helpers every floor uses.

:func:`load_config` reads a config file or a config an OpenMMLab package
ships (``mmseg::...``, ``mmseg_affnet::...``), naming the file and line of
a syntax error, and the file that is not a text config (an image or a
checkpoint passed in the config's place); :func:`iter_dicts` yields every dict nested in a config, the
one walk behind the checks and rewrites of model and pipeline configs.
"""
import ast
import copy
import os.path as osp
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence, Tuple, Union

from mmengine.config import Config
from mmengine.hub import get_config

from .io import require_file

PACKAGE_PREFIX_SEPARATOR = '::'
#: The file types mmengine's ``Config.fromfile`` reads.
CONFIG_EXTENSIONS = ('.py', '.json', '.yaml', '.yml')
#: How a message says which file a config is.
CONFIG_EXAMPLE = 'configs/affnet_cityscapes.py'
_PASS_THE_CONFIG = (f'Pass the config (e.g. {CONFIG_EXAMPLE}) where the '
                    'command takes it; check the order of the arguments.')


def iter_dicts(node: Any) -> Iterator[dict]:
    """Yield every dict in a config, outer dicts before the dicts they hold.

    Lists and tuples are searched, other values are not. A caller may change
    the dict it is given (its values are read after that), e.g. drop a key
    to keep the walk out of it.

    Args:
        node (Any): A config or any part of it (``Config``, dicts, lists).

    Yields:
        dict: Each dict, depth first.
    """
    if isinstance(node, dict):
        yield node
        for value in list(node.values()):
            yield from iter_dicts(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from iter_dicts(value)


def load_config(config: Union[str, Path, Config],
                cfg_options: Optional[dict] = None) -> Config:
    """Read a config file, or a config shipped with an OpenMMLab package.

    Args:
        config (str | Path | Config): A config file path, or
            ``<package>::<dir>/<name>.py`` for a config shipped with an
            OpenMMLab package, e.g. ``mmseg::`` or ``mmseg_affnet::``
            (resolved by :func:`mmengine.hub.get_config`). A ``Config`` is
            returned as it is (a copy when ``cfg_options`` are given).
        cfg_options (dict, optional): Overrides merged into the config, as
            mmseg's tools merge ``--cfg-options`` (``Config.merge_from_dict``
            of ``{'key.sub': value}``). Default: None.

    Returns:
        Config: The config.

    Raises:
        FileNotFoundError: If the file does not exist.
        IsADirectoryError: If the path is a folder.
        ValueError: If the file is not a config (not a ``.py``, ``.json``,
            ``.yaml`` or ``.yml`` file), or it or one of its ``_base_``
            files is not text (not UTF-8, or holding NUL bytes) or has a
            syntax error; the message names that file (and line).
    """
    if isinstance(config, Config):
        cfg = config.copy() if cfg_options else config
    else:
        cfg = _read_config(str(config))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def _read_config(config: str) -> Config:
    if PACKAGE_PREFIX_SEPARATOR in config:
        return get_config(config)
    require_file(
        config, f'Config {config}', ', not a config file; pass a config '
        f'file such as {CONFIG_EXAMPLE}.',
        f'; pass a config file path (e.g. {CONFIG_EXAMPLE}) or '
        'mmseg::<dir>/<name>.py for a config shipped with mmseg.')
    extension = osp.splitext(config)[1]
    if extension not in CONFIG_EXTENSIONS:
        raise ValueError(
            f'Config {config} is not a config file: a config is a '
            f'{", ".join(CONFIG_EXTENSIONS[:-1])} or {CONFIG_EXTENSIONS[-1]} '
            f'file, not {extension or "a file without extension"}. '
            f'{_PASS_THE_CONFIG}')
    try:
        return Config.fromfile(config)
    except (SyntaxError, UnicodeDecodeError) as error:
        # mmengine parses the files without their names ("<unknown>") and
        # decodes them without naming them.
        path, found = _unreadable_config(config) or (config, error)
        if isinstance(found, SyntaxError):
            raise ValueError(
                f'Config {path} has a syntax error in line {found.lineno}: '
                f'{found.msg}{_source_line(found)}. Fix that line.') \
                from None
        fix = _PASS_THE_CONFIG if path == config else \
            f'It is a _base_ file of Config {config}: fix that _base_ entry.'
        raise ValueError(
            f'Config {path} is not a text config ({found}): it is a binary '
            f'file, e.g. an image or a checkpoint. {fix}') from None


def _not_text(data: bytes) -> Optional[str]:
    """Why ``data`` is not the text of a config, None if it is."""
    try:
        data.decode('utf-8')
    except UnicodeDecodeError as error:
        return f'byte {error.start} is not UTF-8'
    nul = data.find(b'\0')
    return None if nul < 0 else f'byte {nul} is NUL'


def _unreadable_config(path: str, seen: Optional[set] = None
                       ) -> Optional[Tuple[str, Union[str, SyntaxError]]]:
    """The first file of ``path`` and its local ``_base_`` files that is
    not text or (a ``.py`` file) does not parse, with why: a string for a
    file that is not text, the ``SyntaxError`` of one that does not
    parse."""
    seen = set() if seen is None else seen
    if path in seen or not osp.isfile(path):
        return None
    seen.add(path)
    with open(path, 'rb') as file:
        data = file.read()
    reason = _not_text(data)
    if reason is not None:
        return path, reason
    if not path.endswith('.py'):
        return None
    try:
        tree = ast.parse(data.decode('utf-8'), filename=path)
    except SyntaxError as error:
        return path, error
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                getattr(target, 'id', None) == '_base_'
                for target in node.targets):
            try:
                bases = ast.literal_eval(node.value)
            except ValueError:
                return None
            for base in [bases] if isinstance(bases, str) else bases:
                if PACKAGE_PREFIX_SEPARATOR not in base:
                    found = _unreadable_config(
                        osp.normpath(osp.join(osp.dirname(path), base)), seen)
                    if found:
                        return found
    return None


def _source_line(error: SyntaxError) -> str:
    text = (error.text or '').strip()
    return f' ({text!r})' if text else ''


def without_pretrained(cfg: Union[dict, list]) -> Union[dict, list]:
    """A model config without the weights it would download or read.

    Args:
        cfg (dict | list): A model config (or part of one) as plain data.

    Returns:
        dict | list: A copy without ``pretrained`` keys and without
        ``init_cfg`` entries that hold a ``Pretrained`` initialisation.
    """
    cfg = copy.deepcopy(cfg)
    for node in iter_dicts(cfg):
        for key in [key for key, value in node.items()
                    if key == 'pretrained' or key == 'init_cfg'
                    and 'Pretrained' in str(value)]:
            del node[key]
    return cfg


def check_names(names: Sequence[str], known: Sequence[str], what: str,
                fix: str = '') -> None:
    """Refuse unknown or repeated names of a user's choice.

    Args:
        names (Sequence[str]): The chosen names.
        known (Sequence[str]): The names there are.
        what (str): What they name, e.g. ``'models'``.
        fix (str): Text after the list of known names. Default: ''.

    Raises:
        ValueError: ``Unknown <what> [...]; choose from [...]`` or
            ``<what> named twice``.
    """
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f'Unknown {what} {unknown}; choose from '
                         f'{list(known)}{fix}.')
    if len(set(names)) != len(names):
        raise ValueError(f'{what[:1].upper()}{what[1:]} named twice in '
                         f'{list(names)}.')


#: The dataloaders of an mmseg training config.
DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def set_data_root(cfg: Config, data_root: Optional[str]) -> None:
    """Point every dataloader of ``cfg`` that it has at ``data_root``.

    Args:
        cfg (Config): A training config, changed in place.
        data_root (str, optional): The dataset folder; None blanks it (as a
            digest that must not depend on where the data lies wants).
    """
    for loader in DATALOADERS:
        if cfg.get(loader) is not None:
            cfg[loader].dataset.data_root = data_root
