"""What a resumed training may change: its config compared with the one
its checkpoint was written by, read without running either.

mmengine resumes any checkpoint with any config; a resume with another
model, data or optimizer would continue a training that never existed.
:class:`mmseg_affnet.engine.ResumableCheckpointHook` refuses it with
:func:`check_resumed_config`, naming every differing setting with both
values, and accepts what only changes how long or where the training runs
(:data:`RESUME_ACCEPTS`).
"""
import ast
import fnmatch
import logging
from typing import Any, Dict, List, Sequence, Tuple

from mmengine.logging import print_log

MAX_LISTED = 10

# What a resumed training may set differently from the config its checkpoint
# was written by (fnmatch patterns of dotted keys; a pattern also covers the
# keys below it): where and how this session runs, how long it trains, how
# often it validates, what it logs, and settings that only a new training
# (init_cfg) or a test reads. The learning-rate schedule is not among them:
# mmengine restores every scheduler's state (its `end` included) from the
# checkpoint, so a changed schedule would be silently ignored.
RESUME_ACCEPTS = (
    'work_dir', 'resume', 'load_from', 'launcher', 'experiment_name',
    'train_cfg.max_epochs', 'train_cfg.max_iters', 'train_cfg.val_interval',
    '*.num_workers', 'env_cfg', 'log_level', 'log_processor',
    'default_hooks.logger', 'visualizer', '*.init_cfg', 'test_dataloader',
    'test_evaluator', 'test_cfg', 'default_hooks.checkpoint.resume_accepts')
# The config keys mmengine's Runner reads (Runner.from_cfg), and those that
# choose the code that runs. A config file's helper variables (crop_size,
# max_epochs, ...) are compared through the settings they fill in.
_RUN_KEYS = (
    'model', 'data_preprocessor', 'train_dataloader', 'val_dataloader',
    'test_dataloader', 'train_cfg', 'val_cfg', 'test_cfg', 'auto_scale_lr',
    'optim_wrapper', 'param_scheduler', 'val_evaluator', 'test_evaluator',
    'default_hooks', 'custom_hooks', 'load_from', 'resume', 'launcher',
    'env_cfg', 'log_processor', 'log_level', 'visualizer', 'default_scope',
    'randomness', 'experiment_name', 'work_dir', 'runner_type',
    'custom_imports', 'model_wrapper_cfg', 'find_unused_parameters',
    'compile')
NOT_SET = '<not set>'


def parse_config_text(text: str) -> Dict[str, Any]:
    """Read a config dump without running it.

    mmengine stores the config of a run in every checkpoint
    (``meta['cfg']``, ``Config.pretty_text``: assignments of literals and
    ``dict(...)`` calls). ``Config.fromstring`` would execute that text, and
    a checkpoint's text is never executed here; this reads its literals,
    and any other expression as its source text.

    Args:
        text (str): The config dump.

    Returns:
        dict: Top-level names mapped to plain values (dicts, lists, numbers,
        strings, None).

    Raises:
        SyntaxError: If ``text`` is not Python.
    """
    values = {}
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                isinstance(node.targets[0], ast.Name):
            values[node.targets[0].id] = _literal(node.value)
    return values


def _literal(node: ast.AST) -> Any:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
            node.func.id == 'dict' and not node.args and \
            all(keyword.arg for keyword in node.keywords):
        return {kw.arg: _literal(kw.value) for kw in node.keywords}
    if isinstance(node, ast.Dict) and None not in node.keys:
        keys = [_literal(key) for key in node.keys]
        if all(isinstance(key, (str, int, float, bool)) for key in keys):
            return dict(zip(keys, (_literal(v) for v in node.values)))
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(element) for element in node.elts]
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError,
            RecursionError):
        return ast.unparse(node)


def _run_settings(text: str) -> Dict[str, Any]:
    values = parse_config_text(text)
    flat: Dict[str, Any] = {}
    for key in _RUN_KEYS:
        if key in values:
            _flatten(values[key], key, flat)
    return flat


def _flatten(value: Any, key: str, flat: Dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for name, item in value.items():
            _flatten(item, f'{key}.{name}', flat)
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            _flatten(item, f'{key}.{index}', flat)
    else:
        flat[key] = value


def _key_order(key: str) -> list:
    return [(0, int(part), '') if part.isdigit() else (1, 0, part)
            for part in key.split('.')]


def config_differences(
        saved: str,
        current: str,
        accepts: Sequence[str] = ()) -> List[Tuple[str, Any, Any]]:
    """The settings in which a resumed training's config differs from the
    config its checkpoint was written by.

    Both configs are compared as dumps (``Config.pretty_text``), read with
    :func:`parse_config_text`, flattened to dotted keys (list items by
    index, e.g. ``param_scheduler.0.end``). Only what the runner reads is
    compared, and the keys :data:`RESUME_ACCEPTS` and ``accepts`` match are
    left out.

    Args:
        saved (str): The checkpoint's config (``meta['cfg']``).
        current (str): The config of the resumed training.
        accepts (Sequence[str]): More fnmatch patterns of keys that may
            differ. Default: ().

    Returns:
        list[tuple]: ``(key, checkpoint's value, current value)`` for every
        differing setting; a value not set is ``'<not set>'``.

    Raises:
        SyntaxError: If either text is not Python.
    """
    before, now = _run_settings(saved), _run_settings(current)
    patterns = tuple(RESUME_ACCEPTS) + tuple(accepts)
    keys = sorted(before.keys() | now.keys(), key=_key_order)
    return [(key, before.get(key, NOT_SET), now.get(key, NOT_SET))
            for key in keys
            if before.get(key, NOT_SET) != now.get(key, NOT_SET)
            and not any(
                fnmatch.fnmatchcase(key, pattern)
                or fnmatch.fnmatchcase(key, pattern + '.*')
                for pattern in patterns)]


def check_resumed_config(checkpoint: Dict, config_text: str, filename: str,
                         accepts: Sequence[str] = ()) -> None:
    """Refuse to resume ``checkpoint`` with a config other than its own.

    Args:
        checkpoint (dict): The checkpoint to resume (its ``meta['cfg']``).
        config_text (str): The resumed training's config
            (``Config.pretty_text``).
        filename (str): The checkpoint's path, for the message.
        accepts (Sequence[str]): More settings that may differ
            (``resume_accepts``). Default: ().

    Raises:
        ValueError: Naming up to 10 differing settings with both values.
    """
    saved = (checkpoint.get('meta') or {}).get('cfg')
    try:
        differences = config_differences(saved, config_text, accepts) \
            if isinstance(saved, str) else None
    except SyntaxError:
        differences = None
    if differences is None:
        print_log(
            f'Checkpoint {filename} holds no readable config, so the '
            'config of the resumed training is not compared with the one '
            'it was written by.', logger='current', level=logging.WARNING)
        return
    if not differences:
        return
    listed = '\n'.join(
        f'  - {key}: {_short(before)} in the checkpoint, {_short(now)} '
        'now' for key, before, now in differences[:MAX_LISTED])
    more = (f'\n  ... and {len(differences) - MAX_LISTED} more'
            if len(differences) > MAX_LISTED else '')
    model_changed = any(key == 'model' or key.startswith('model.')
                        for key, _, _ in differences)
    fit = ('; the model settings differ, so they load only where every '
           'layer keeps its shape (one that does not is refused, named)'
           if model_changed else '')
    raise ValueError(
        f'--resume would continue the training of checkpoint {filename} '
        f'with another config: {len(differences)} setting(s) differ from '
        f'the config it was written by:\n{listed}{more}\n'
        'Resume with that training\'s config (a copy is in its work '
        'dir), or start a new training with another --work-dir (add '
        f'--cfg-options load_from={filename} to start from its weights'
        f'{fit}). '
        'A resume accepts other values only for: '
        f'{", ".join(RESUME_ACCEPTS)}; more with '
        "default_hooks.checkpoint.resume_accepts=['KEY', ...].")


def _short(value) -> str:
    if value == NOT_SET:
        return 'not set'
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + '...'


__all__ = [
    'RESUME_ACCEPTS', 'check_resumed_config', 'config_differences',
    'parse_config_text'
]
