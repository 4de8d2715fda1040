from .io import (atomic_open, atomic_write_bytes, atomic_write_text,
                 refuse_existing)

__all__ = [
    'atomic_open', 'atomic_write_bytes', 'atomic_write_text',
    'refuse_existing'
]
