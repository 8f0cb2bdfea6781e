"""Exceptions raised by gammapy-lat.

Every error names the file, key or column concerned and the cause, so that a user can act on it
without reading the traceback.
"""

__all__ = [
    "GammapyLATError",
    "LATFileError",
    "LATDataError",
    "SelectionError",
    "FilterExpressionError",
    "CALDBError",
    "LivetimeCubeError",
    "ConfigError",
    "XMLModelError",
    "SimulationError",
    "PipelineError",
    "MissingSharedData",
    "OutputError",
    "ResourceLimitError",
]


class GammapyLATError(Exception):
    """Base class of all gammapy-lat errors."""


class LATFileError(GammapyLATError, OSError):
    """A file is missing, unreadable or lacks a required extension or column."""


class LATDataError(GammapyLATError, ValueError):
    """Data content is inconsistent (time coverage, ordering, NaN values, ...)."""


class SelectionError(LATDataError):
    """A selection is invalid or selects nothing."""


class FilterExpressionError(GammapyLATError, ValueError):
    """A gtmktime-style filter expression cannot be parsed or evaluated.

    Parameters
    ----------
    message : str
        Description of the problem.
    expression : str, optional
        The full expression.
    position : int, optional
        Character offset of the offending token in ``expression``.
    """

    def __init__(self, message, expression=None, position=None):
        self.expression = expression
        self.position = position
        text = message
        if expression is not None and position is not None:
            shown, caret = expression, position
            if len(expression) > 100:  # a window around the position
                start = max(0, position - 40)
                shown = ("..." if start else "") + expression[start : start + 80]
                shown += "..." if start + 80 < len(expression) else ""
                caret = position - start + (3 if start else 0)
            text = f"{message}\n  {shown}\n  {' ' * caret}^"
        super().__init__(text)


class CALDBError(GammapyLATError, LookupError):
    """An IRF or event type is not available in the CALDB."""


class LivetimeCubeError(GammapyLATError, ValueError):
    """Livetime cubes are incompatible or cannot be computed from the given input."""


class ConfigError(GammapyLATError, ValueError):
    """An analysis configuration is invalid."""


class XMLModelError(GammapyLATError, ValueError):
    """A gtlike XML model cannot be read, or a Gammapy model cannot be written as XML."""


class SimulationError(GammapyLATError, ValueError):
    """Invalid simulation parameters."""


class PipelineError(GammapyLATError, RuntimeError):
    """One or more pipeline tasks failed, or the pipeline cannot start."""


class MissingSharedData(GammapyLATError, RuntimeError):
    """The reference data kit (or a file in it) is not available (tests and benchmarks)."""
class OutputError(GammapyLATError, OSError):
    """An output cannot be written: folder not writable, disk full, unusable name, folder in use."""


class ResourceLimitError(GammapyLATError, ValueError):
    """The estimated memory, disk space or number of tasks of a request exceeds the limit.

    The message gives the estimate, the limit and how to raise it
    (see `gammapy_lat.utils.resources`).
    """
