"""Result files meant to be committed: what a result was trained with, and
the README block generated from a summary.

Shared by the experiment suites (:mod:`.experiments`) and the comparison
(:mod:`.compare`), whose ``result.json`` files live in a results dir small
enough to commit, apart from the checkpoints and logs of a work dir, so
that their tables regenerate on another machine without retraining.
"""
import hashlib
import json
import os.path as osp
from typing import Dict, Optional

from mmengine.config import Config

from ..utils.io import replace_marked_block

__all__ = ['UNDIGESTED', 'digest', 'publish_summary', 'settings_digest',
           'update_readme']

#: Config keys outside a digest: where a run writes, and test-time
#: augmentation (results are scored without it).
UNDIGESTED = ('work_dir', 'tta_model', 'tta_pipeline')


def digest(data: object) -> str:
    """SHA-256 of a config text, or of a JSON-serialisable value."""
    text = data if isinstance(data, str) else json.dumps(
        data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


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
