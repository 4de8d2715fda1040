"""The result store of the campaigns: ``result.json`` files meant to be
committed (what a result was trained with, its content digest), and the
documentation block generated from a summary.

Shared by the experiment suites (:mod:`.experiment_suite`) and the
comparison (:mod:`.comparison`), whose ``result.json`` files live in a
results dir small
enough to commit, apart from the checkpoints and logs of a work dir, so
that their tables regenerate on another machine without retraining.
"""
import hashlib
import json
import math
import os
import os.path as osp
import stat
from typing import Dict, Optional

from mmengine.config import Config

from ..utils.generated_files import replace_marked_block
from ..utils.io import atomic_write_text

__all__ = ['RESULT_FILE', 'UNDIGESTED', 'digest', 'load_result',
           'publish_summary', 'settings_digest', 'update_readme',
           'write_result']

#: Config keys outside a digest: where a run writes, and test-time
#: augmentation (results are scored without it).
UNDIGESTED = ('work_dir', 'tta_model', 'tta_pipeline')


def digest(data: object) -> str:
    """SHA-256 of a config text, or of a JSON-serialisable value."""
    text = data if isinstance(data, str) else json.dumps(
        data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


#: A run's result file, in its folder of the results dir.
RESULT_FILE = 'result.json'
#: Key of a result's digest of its own content.
CONTENT_DIGEST = 'content_sha256'
#: Largest gap between a result's mIoU and the mean of its class IoUs, both
#: rounded to 2 decimals (0.005 each) before they were written.
ROUNDING_SLACK = 0.011


def write_result(path: str, result: dict) -> None:
    """Write a ``result.json`` atomically, with the digest of its content.

    Args:
        path (str): The file.
        result (dict): JSON-serialisable; ``content_sha256`` is added.
    """
    body = {key: value for key, value in result.items()
            if key != CONTENT_DIGEST}
    atomic_write_text(path, json.dumps(
        dict(body, **{CONTENT_DIGEST: digest(body)}), indent=2))


def load_result(path: str) -> dict:
    """Read a ``result.json`` and check that it is what the tool wrote.

    Checks, each refused with the file's name and the fix: a regular file
    (not a FIFO or device, which would hang or never end), a JSON object,
    its content digest (a number edited by hand no longer matches it), and
    that its ``mIoU`` is the mean of its own ``class_iou``.

    Args:
        path (str): The file.

    Returns:
        dict: The result (with its ``content_sha256``).

    Raises:
        ValueError: If the file is not a result the tool wrote, or was
            edited since.
    """
    fix = ('move it away and run the tool again to retrain that run (or '
           'restore the committed file, e.g. `git checkout -- FILE`)'
           ).replace('FILE', path)
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise ValueError(f'{path} is not a regular file (a FIFO, device or '
                         f'folder), so not a result.json; {fix}.')
    try:
        with open(path, encoding='utf-8') as file:
            result = json.load(file)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f'{path} is not a JSON result file ({error}); '
                         f'{fix}.') from None
    if not isinstance(result, dict):
        raise ValueError(f'{path} holds a JSON {type(result).__name__}, '
                         f'not a result; {fix}.')
    body = {key: value for key, value in result.items()
            if key != CONTENT_DIGEST}
    if result.get(CONTENT_DIGEST) != digest(body):
        raise ValueError(
            f'{path} does not match its {CONTENT_DIGEST} (it was edited '
            'since the tool wrote it, or written by a version that recorded '
            f'no digest): its numbers cannot be trusted; {fix}.')
    class_iou = [v for v in result.get('class_iou', {}).values()
                 if isinstance(v, (int, float)) and not math.isnan(v)]
    if class_iou and abs(
            sum(class_iou) / len(class_iou) - result['mIoU']) > ROUNDING_SLACK:
        raise ValueError(
            f"{path}: mIoU {result['mIoU']} is not the mean of its class "
            f'IoUs ({sum(class_iou) / len(class_iou):.2f}); {fix}.')
    return result


def settings_digest(cfg: Config, world_size: int) -> str:
    """SHA-256 of a training config's settings and its number of processes.

    Taken over the settings as sorted JSON (not over mmengine's formatted
    text, which depends on the installed formatter), without
    :data:`UNDIGESTED`, and with ``world_size`` (the global batch).

    Args:
        cfg (Config): The config.
        world_size (int): Training processes.

    Returns:
        str: Hex digest.
    """
    settings = {
        key: value
        for key, value in cfg.to_dict().items() if key not in UNDIGESTED
    }
    return digest(dict(settings, world_size=world_size))


def update_readme(readme: str, paths: Dict[str, str], block: str,
                  caption: str) -> None:
    """Put a summary (its Markdown table and its plot) into a README.

    Args:
        readme (str): The README; it holds the block's markers
            (:func:`mmseg_affnet.utils.replace_marked_block`).
        paths (dict[str, str]): ``md`` (and ``png``) -> the summary's files.
        block (str): The markers' name, e.g. ``experiments-paper``.
        caption (str): Alternative text of the plot.
    """
    with open(paths['md'], encoding='utf-8') as file:
        text = file.read()
    if 'png' in paths:
        image = osp.relpath(paths['png'], osp.dirname(osp.abspath(readme)))
        text += f'\n![{caption}]({image})\n'
    replace_marked_block(readme, block, text)


def publish_summary(paths: Dict[str, str], readme: Optional[str],
                    block: str, caption: str) -> str:
    """Put a summary into a README if asked; what a tool prints of it.

    Args:
        paths (dict[str, str]): ``md``, ``csv`` (and ``png``) -> the
            summary's files; empty on the ranks that write none.
        readme (str, optional): README to update (:func:`update_readme`);
            None leaves every README alone.
        block (str): The markers' name.
        caption (str): Alternative text of the plot.

    Returns:
        str: The Markdown table and the files written; empty without
        ``paths``.
    """
    if not paths:
        return ''
    if readme:
        update_readme(readme, paths, block, caption)
    with open(paths['md'], encoding='utf-8') as file:
        table = file.read()
    return (f'\n{table}\nWrote {", ".join(paths.values())}' +
            (f' and the block in {readme}' if readme else '') + '.')
