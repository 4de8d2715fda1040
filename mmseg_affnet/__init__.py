"""AFFNet for MMSegmentation 1.x: importing this package registers its modules."""
from .models import *  # noqa: F401,F403
from .datasets import *  # noqa: F401,F403
from .engine import *  # noqa: F401,F403
from .evaluation import *  # noqa: F401,F403
from . import registry  # noqa: F401
from .compat import apply_patches

apply_patches()

__version__ = '0.1.0'
