"""Memory, disk and work estimates checked before a computation starts.

A request whose arrays would not fit in memory (a livetime cube of NSIDE 8192, a HEALPix map of
order 13, a map of 0.0001° pixels, millions of energy bins) or that would create an unreasonable
number of tasks (time chunks of one second) is refused at once, with the estimate and the limit,
instead of running for an hour or being killed by the operating system.

The limits:

* memory: half of the physical memory by default; set another value in GB with the environment
  variable ``GAMMAPY_LAT_MAX_MEMORY``, the command-line option ``gammapy-lat --max-memory GB`` or
  `set_limits` (``0`` disables the check);
* tasks of one all-sky pipeline run: 200 000 by default; ``GAMMAPY_LAT_MAX_TASKS``,
  ``gammapy-lat --max-tasks N`` or `set_limits`;
* disk: the free space of the output folder's file system.

Estimates are of the largest arrays held at once; they are meant to catch requests that are off by
orders of magnitude, not to predict the peak memory to a few percent.
"""
import contextlib
import os
import shutil
from pathlib import Path

from ..errors import ConfigError, ResourceLimitError

__all__ = [
    "MEMORY_ENV",
    "TASKS_ENV",
    "set_limits",
    "reset_limits",
    "memory_limit",
    "task_limit",
    "check_memory",
    "check_tasks",
    "check_disk",
    "livetime_cube_bytes",
]

MEMORY_ENV = "GAMMAPY_LAT_MAX_MEMORY"
TASKS_ENV = "GAMMAPY_LAT_MAX_TASKS"
DEFAULT_MAX_TASKS = 200_000
_GB = 1e9

_OVERRIDE = {"memory": None, "tasks": None}


def set_limits(max_memory_gb=None, max_tasks=None):
    """Set the memory limit (GB, ``0``: no limit) and the task limit for this process.

    ``None`` leaves a limit unchanged. The values take precedence over the environment variables.
    """
    if max_memory_gb is not None:
        if not float(max_memory_gb) >= 0:
            raise ConfigError(f"The memory limit must be >= 0 GB, got {max_memory_gb}")
        _OVERRIDE["memory"] = float(max_memory_gb)
    if max_tasks is not None:
        if not int(max_tasks) >= 1:
            raise ConfigError(f"The task limit must be >= 1, got {max_tasks}")
        _OVERRIDE["tasks"] = int(max_tasks)


def reset_limits():
    """Forget the limits given to `set_limits` (back to the environment variables and defaults)."""
    _OVERRIDE.update(memory=None, tasks=None)


def _physical_memory():
    with contextlib.suppress(ValueError, OSError, AttributeError):
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return 16 * 1024**3


def _env_number(name, cast):
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    try:
        value = cast(text)
    except ValueError:
        raise ConfigError(f"Environment variable {name}={text!r} is not a number") from None
    if not value >= 0:
        raise ConfigError(f"Environment variable {name}={text!r} must be >= 0")
    return value


def memory_limit():
    """``(limit in bytes or None for no limit, description of where it comes from)``."""
    if _OVERRIDE["memory"] is not None:
        gb, source = _OVERRIDE["memory"], "--max-memory"
    else:
        gb = _env_number(MEMORY_ENV, float)
        source = MEMORY_ENV
        if gb is None:
            return _physical_memory() / 2, "half of the physical memory"
    return (None if gb == 0 else gb * _GB), source


def task_limit():
    """``(maximum number of tasks, description of where it comes from)``."""
    if _OVERRIDE["tasks"] is not None:
        return _OVERRIDE["tasks"], "--max-tasks"
    value = _env_number(TASKS_ENV, int)
    if value is None:
        return DEFAULT_MAX_TASKS, "default"
    return value, TASKS_ENV


def _gb(nbytes):
    gb = nbytes / _GB
    return f"{gb:,.0f} GB" if gb >= 1000 else f"{gb:.3g} GB"


def check_memory(nbytes, what, advice=None):
    """Refuse a request whose estimated memory ``nbytes`` exceeds the limit.

    Parameters
    ----------
    nbytes : float
        Estimated memory (bytes) of the largest arrays held at once.
    what : str
        The request, e.g. ``"livetime cube of NSIDE 8192 with 40 cos(theta) bins"``.
    advice : str, optional
        How to ask for less.

    Raises
    ------
    ResourceLimitError
        With the estimate, the limit and how to raise it.
    """
    limit, source = memory_limit()
    if limit is None or nbytes <= limit:
        return
    hint = f"; {advice}" if advice else ""
    raise ResourceLimitError(
        f"{what} would need about {_gb(nbytes)} of memory, above the limit of {_gb(limit)} ({source}){hint}; "
        f"to go ahead anyway raise the limit (gammapy-lat --max-memory GB, or {MEMORY_ENV}=GB)"
    )


def check_tasks(ntasks, what, advice=None):
    """Refuse a request that would create more than the allowed number of tasks."""
    limit, source = task_limit()
    if ntasks <= limit:
        return
    hint = f"; {advice}" if advice else ""
    raise ResourceLimitError(
        f"{what} would create about {int(ntasks):,} tasks, above the limit of {limit:,} ({source}){hint}; "
        f"to go ahead anyway raise the limit (gammapy-lat --max-tasks N, or {TASKS_ENV}=N)"
    )


def check_disk(nbytes, folder, what):
    """Refuse a request whose products (``nbytes``) do not fit in the free space of ``folder``."""
    folder = Path(os.path.abspath(folder))
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if nbytes > free:
        raise ResourceLimitError(
            f"{what} would write about {_gb(nbytes)}, but only {_gb(free)} are free in {folder}"
        )


def livetime_cube_bytes(npix, nbins, phibins=0, copies=4):
    """Memory of a livetime computation: ``copies`` pairs (livetime, weighted) of float64 arrays."""
    return 2.0 * copies * npix * nbins * (1 + phibins) * 8
