"""Location of the reference data kit (``shared/``) for tests, benchmarks and examples.

The kit is found through the environment variable ``GAMMAPY_LAT_SHARED``; by default it is the
folder ``shared`` next to the repository root (``../shared`` seen from the project).
"""
import os
from pathlib import Path

from ..errors import MissingSharedData

__all__ = ["shared_data_path", "is_ci", "MissingSharedData"]


def _default_root():
    """``../shared`` seen from the repository root.

    The repository root is the source tree holding this module when running from a checkout
    (editable install), otherwise the current directory (tests and benchmarks run from the root).
    """
    here = Path(__file__).resolve()
    candidates = []
    if here.parents[2].name == "src":
        candidates.append(here.parents[3])
    candidates.append(Path.cwd())
    for repo in candidates:
        if (repo.parent / "shared").exists():
            return repo.parent / "shared"
    return candidates[0].parent / "shared"


def is_ci():
    """Whether we run under CI (``CI=true``), where missing reference data is a failure."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def shared_data_path(*parts):
    """Path of the reference data kit, or of a file or folder inside it.

    Parameters
    ----------
    *parts : str
        Path components relative to the kit root, e.g. ``"data", "lat", "crab-1day"``.

    Returns
    -------
    path : `~pathlib.Path`

    Raises
    ------
    MissingSharedData
        If the kit or the requested path does not exist.
    """
    env = os.environ.get("GAMMAPY_LAT_SHARED")
    root = Path(env).expanduser().resolve() if env else _default_root()
    path = root.joinpath(*parts)
    if not path.exists():
        raise MissingSharedData(
            f"Reference data not found: {path} (set GAMMAPY_LAT_SHARED to the data kit folder)"
        )
    return path
