"""Deprecated aliases of names that moved to another module."""
import importlib
import warnings

__all__ = ["moved_names"]


def moved_names(module_name, names, new_module):
    """A module ``__getattr__`` that resolves ``names`` from ``new_module`` with a warning.

    The new module is imported only when an old name is used, so a module may keep aliases of
    names that moved to a layer above it without importing that layer.

    Parameters
    ----------
    module_name : str
        The module keeping the aliases (its ``__name__``).
    names : iterable of str
        The moved names.
    new_module : str
        Absolute name of the module that holds them now.
    """
    names = frozenset(names)

    def __getattr__(name):
        if name in names:
            warnings.warn(
                f"{module_name}.{name} moved to {new_module}.{name}; import it from there",
                DeprecationWarning,
                stacklevel=2,
            )
            return getattr(importlib.import_module(new_module), name)
        raise AttributeError(f"module {module_name!r} has no attribute {name!r}")

    return __getattr__
