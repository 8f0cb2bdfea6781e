"""Resolution of input file specifications in the Fermitools conventions."""
import glob
import os
from pathlib import Path

from ..errors import LATFileError

__all__ = ["resolve_paths"]

_GLOB_CHARS = set("*?[")


def resolve_paths(paths, what="input"):
    """Turn a file specification into a list of existing files.

    Accepted forms, as in the Fermitools: a single file name, a glob pattern (``weekly/*.fits``),
    an ``@list.txt`` file holding one file name per line (blank lines and ``#`` comments ignored,
    relative names taken relative to the list file), or a list mixing any of these.

    Parameters
    ----------
    paths : str, `~pathlib.Path` or list
        The specification.
    what : str
        Description of the files used in error messages (e.g. ``"FT1"``).

    Returns
    -------
    files : list of `~pathlib.Path`
        Existing files in the given order (glob matches sorted), without duplicates.
    """
    if paths is None:
        raise LATFileError(f"No {what} file given")
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files = []
    for spec in paths:
        spec_str = os.fspath(spec)
        if spec_str.startswith("@"):
            listfile = Path(os.path.expandvars(os.path.expanduser(spec_str[1:])))
            if not listfile.is_file():
                raise LATFileError(f"{what} list file {listfile} does not exist")
            names = []
            for line in listfile.read_text().splitlines():
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                name = Path(os.path.expandvars(os.path.expanduser(line)))
                if not name.is_absolute():
                    name = listfile.parent / name
                names.append(name)
            if not names:
                raise LATFileError(f"{what} list file {listfile} lists no files")
            files.extend(resolve_paths(names, what=what))
            continue
        spec_str = os.path.expandvars(os.path.expanduser(spec_str))
        if _GLOB_CHARS & set(spec_str) and not Path(spec_str).exists():
            matches = sorted(glob.glob(spec_str))
            if not matches:
                raise LATFileError(f"{what} pattern {spec_str} matches no file")
            files.extend(Path(m) for m in matches)
            continue
        path = Path(spec_str)
        if not path.exists():
            raise LATFileError(f"{what} file {path} does not exist")
        if not path.is_file():
            raise LATFileError(f"{what} file {path} is not a regular file")
        files.append(path)
    unique = []
    seen = set()
    for path in files:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(path)
    if not unique:
        raise LATFileError(f"No {what} file given")
    return unique
