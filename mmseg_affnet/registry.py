"""This package's scope in mmengine's registry tree: one child of each of
mmseg's registries, named ``mmseg_affnet``.

The classes themselves are registered in mmseg's registries (configs name
them under ``default_scope='mmseg'``). mmengine marks every dict that a
config inherits through ``mmseg_affnet::<path>`` with
``_scope_='mmseg_affnet'`` and builds it with the registry of that scope;
these children find it, and through their parents every mmseg, mmengine and
mmseg_affnet class, as ``mmseg.registry`` does for ``mmseg::``.
"""
import mmseg.registry as mmseg_registry
from mmengine.registry import Registry

SCOPE = 'mmseg_affnet'
__all__ = sorted(name for name, value in vars(mmseg_registry).items()
                 if isinstance(value, Registry))

for _name in __all__:
    _parent = getattr(mmseg_registry, _name)
    globals()[_name] = Registry(_parent.name, parent=_parent, scope=SCOPE)
