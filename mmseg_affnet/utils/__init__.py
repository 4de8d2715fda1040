from .cli import add_debug_argument, error_line, reported_errors
from .io import (atomic_open, atomic_write_bytes, atomic_write_text,
                 check_output_folder, refuse_existing, refuse_foreign,
                 refuse_inputs, write_owned)

__all__ = [
    'add_debug_argument', 'atomic_open', 'atomic_write_bytes',
    'atomic_write_text', 'check_output_folder', 'error_line',
    'refuse_existing', 'refuse_foreign', 'refuse_inputs', 'reported_errors',
    'write_owned'
]
