"""Resolution of input file specifications in the Fermitools conventions.

The one parser of file lists of the package: the CLI, the Python API, the analysis runner and the
all-sky pipeline all accept the same forms.
"""
import glob
import os
from pathlib import Path

from ..errors import LATFileError

__all__ = ["resolve_paths"]

_GLOB_CHARS = set("*?[")


def _expand(spec):
    return Path(os.path.expandvars(os.path.expanduser(os.fspath(spec))))


def resolve_paths(paths, what="input", resolve=None, must_exist=True):
    """Turn a file specification into a list of files.

    Accepted forms, as in the Fermitools: a single file name, a glob pattern (``weekly/*.fits``),
    an ``@list.txt`` file holding one file name per line (blank lines and ``#`` comments ignored,
    relative names taken relative to the list file), a folder (its ``*.fit*`` files, sorted, e.g.
    a folder of weekly files), or a list mixing any of these. ``$VAR`` and ``~`` are expanded.

    Parameters
    ----------
    paths : str, `~pathlib.Path` or list
        The specification.
    what : str
        Description of the files used in error messages (e.g. ``"FT1"``).
    resolve : callable, optional
        Maps a (non-list) specification to a `~pathlib.Path`, e.g. to make relative names relative
        to a data root. Default: ``$VAR`` and ``~`` expansion only.
    must_exist : bool
        Raise for a file that does not exist (otherwise it is returned for the caller to report).

    Returns
    -------
    files : list of `~pathlib.Path`
        Files in the given order (glob matches and folder contents sorted), without duplicates.

    Raises
    ------
    LATFileError
        Nothing given, a missing list file, an empty list, a pattern matching nothing, or (with
        ``must_exist``) a missing file.
    """
    if paths is None:
        raise LATFileError(f"No {what} file given")
    resolve = resolve or _expand
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files = []
    for spec in paths:
        spec_str = os.fspath(spec)
        if spec_str.startswith("@"):
            listfile = resolve(spec_str[1:])
            if not listfile.is_file():
                raise LATFileError(f"{what} list file {listfile} does not exist")
            names = []
            for line in listfile.read_text().splitlines():
                line = line.split("#", 1)[0].strip()
                if not line:
                    continue
                name = _expand(line)
                names.append(name if name.is_absolute() else listfile.parent / name)
            if not names:
                raise LATFileError(f"{what} list file {listfile} lists no files")
            files.extend(resolve_paths(names, what=what, must_exist=must_exist))
            continue
        path = resolve(spec_str)
        if _GLOB_CHARS & set(str(path)) and not path.exists():
            matches = sorted(glob.glob(str(path)))
            if not matches:
                raise LATFileError(f"{what} pattern '{path}' matches no file")
            files.extend(Path(m) for m in matches)
            continue
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if ".fit" in p.name and p.is_file())
            if not found:
                raise LATFileError(f"{what} folder {path} holds no FITS file")
            files.extend(found)
            continue
        if must_exist and not path.exists():
            raise LATFileError(f"{what} file {path} does not exist")
        if must_exist and not path.is_file():
            raise LATFileError(f"{what} file {path} is not a regular file")
        files.append(path)
    unique, seen = [], set()
    for path in files:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(path)
    if not unique:
        raise LATFileError(f"No {what} file given")
    return unique
