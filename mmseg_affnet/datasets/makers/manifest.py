"""The manifest every dataset maker keeps in its output folder: a JSON
record of what was written there with which arguments, read before writing
(to resume, keep or refuse a folder) and replaced atomically."""
import json
import os.path as osp
from typing import Any, Optional

from ...utils.io import atomic_write_text


def read_manifest(path: str) -> Optional[Any]:
    """The JSON content of a manifest file, None if there is no file.

    Args:
        path (str): The manifest file.

    Returns:
        Any: Its content; None if the file does not exist.

    Raises:
        ValueError: If the file is not JSON (naming the file).
    """
    if not osp.isfile(path):
        return None
    with open(path) as file:
        try:
            return json.load(file)
        except json.JSONDecodeError as err:
            raise ValueError(f'{path} is not JSON ({err})') from None


def write_manifest(path: str, manifest: dict) -> None:
    """Write (or replace: it is the maker's own) a manifest atomically.

    Args:
        path (str): The manifest file.
        manifest (dict): Its content.
    """
    atomic_write_text(path, json.dumps(manifest, indent=2), overwrite=True)
