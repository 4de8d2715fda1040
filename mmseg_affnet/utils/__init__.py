from .cli import add_debug_argument, error_line, reported_errors
from .config import iter_dicts, load_config, without_pretrained
from .device import resolve_device
from .image import UnreadableImageError, read_image, write_png
from .mim import config_file, shipped_folder
from .io import (atomic_open, atomic_write_bytes, atomic_write_text,
                 check_output_folder, refuse_existing, refuse_inputs)
from .generated_files import refuse_foreign, replace_marked_block, write_owned

__all__ = [
    'add_debug_argument', 'atomic_open', 'config_file', 'atomic_write_bytes',
    'atomic_write_text', 'check_output_folder', 'error_line', 'iter_dicts',
    'load_config', 'refuse_existing', 'refuse_foreign', 'refuse_inputs',
    'replace_marked_block',
    'read_image', 'reported_errors',
    'shipped_folder', 'resolve_device', 'UnreadableImageError',
    'without_pretrained', 'write_owned', 'write_png'
]
