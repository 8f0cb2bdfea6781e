"""Products of the analysis steps on disk: atomic writers, readers and the step state.

Every step records in ``<outdir>/analysis-state.json`` a key (a hash of the config settings it
depends on, of the sizes and modification times of its input files and of the keys of the steps
it builds on) and the list of files it wrote. A step whose recorded key equals the current one and
whose products all exist is up to date and is skipped.
"""
import hashlib
import json
import logging
from pathlib import Path

import yaml

from ..errors import ConfigError
from ..utils import atomic_output

__all__ = [
    "StepState",
    "config_hash",
    "file_stats",
    "write_datasets",
    "read_datasets",
    "write_models",
    "write_table",
    "write_yaml_atomic",
]

log = logging.getLogger(__name__)

STATE_FILE = "analysis-state.json"


def config_hash(*parts):
    """Short SHA-256 hex digest of JSON-serialisable parts (dict keys sorted)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def file_stats(paths):
    """``(path, size, mtime_ns)`` of files; a missing file is a `~gammapy_lat.errors.ConfigError`."""
    out = []
    for path in paths:
        path = Path(path)
        try:
            stat = path.stat()
        except OSError:
            raise ConfigError(f"Input file not found: {path}") from None
        out.append((str(path.resolve()), stat.st_size, stat.st_mtime_ns))
    return out


class StepState:
    """Keys and products of the steps already run in an output folder."""

    def __init__(self, outdir):
        self.outdir = Path(outdir)
        self.path = self.outdir / STATE_FILE
        self.steps = {}
        if self.path.exists():
            try:
                self.steps = json.loads(self.path.read_text()).get("steps", {})
            except (OSError, ValueError):
                log.warning(f"Ignoring unreadable state file {self.path}; all steps will run")

    def is_done(self, name, key):
        """Whether step ``name`` ran with ``key`` and all its products exist."""
        entry = self.steps.get(name)
        if entry is None or entry.get("key") != key:
            return False
        return all((self.outdir / p).exists() for p in entry.get("products", []))

    def products(self, name):
        return [self.outdir / p for p in self.steps.get(name, {}).get("products", [])]

    def record(self, name, key, products):
        """Store a finished step and remove the files of its previous run that are not reused."""
        rel = sorted({str(Path(p).resolve().relative_to(self.outdir.resolve())) for p in products})
        old = set(self.steps.get(name, {}).get("products", []))
        for stale in old - set(rel):
            path = self.outdir / stale
            if path.is_file():
                path.unlink()
        self.steps[name] = {"key": key, "products": rel}
        self.save()

    def invalidate(self, name):
        if self.steps.pop(name, None) is not None:
            self.save()

    def save(self):
        self.outdir.mkdir(parents=True, exist_ok=True)
        with atomic_output(self.path, overwrite=True) as tmp:
            tmp.write_text(json.dumps({"steps": self.steps}, indent=1, sort_keys=True))


def write_yaml_atomic(data, path):
    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_text(yaml.safe_dump(data, sort_keys=False))
    return Path(path)


def write_table(table, path, **kwargs):
    """Write an astropy table atomically (format from the extension)."""
    with atomic_output(path, overwrite=True) as tmp:
        table.write(tmp, overwrite=True, **kwargs)
    return Path(path)


def write_models(models, path, write_covariance=True):
    """Write `~gammapy.modeling.models.Models` to YAML (and the covariance next to it) atomically."""
    path = Path(path)
    written = []
    models._covar_file = None
    if write_covariance and models.covariance is not None and len(models.parameters) != 0:
        cov_path = path.with_name(path.stem + "_covariance.dat")
        with atomic_output(cov_path, overwrite=True) as tmp:
            models.write_covariance(tmp, format="ascii.fixed_width", delimiter="|", overwrite=True)
        models._covar_file = cov_path.name
        written.append(cov_path)
    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_text(models.to_yaml())
    written.append(path)
    return written


def write_datasets(datasets, folder, checksum=False):
    """Write datasets (one FITS file each), their own models and an index ``datasets.yaml``.

    Returns
    -------
    paths : list of `~pathlib.Path`
        Files written.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    index = {"datasets": []}
    written = []
    for dataset in datasets:
        filename = f"{dataset.name}.fits"
        with atomic_output(folder / filename, overwrite=True) as tmp:
            dataset.write(tmp, overwrite=True, checksum=checksum)
        written.append(folder / filename)
        index["datasets"].append({"name": dataset.name, "type": dataset.tag, "filename": filename})
    own = datasets.models
    if len(own) > 0:
        written += write_models(own, folder / "models.yaml", write_covariance=False)
        index["models"] = "models.yaml"
    written.append(write_yaml_atomic(index, folder / "datasets.yaml"))
    return written


def read_datasets(folder):
    """Read datasets written by `write_datasets`."""
    from gammapy.datasets import DATASET_REGISTRY, Datasets
    from gammapy.modeling.models import Models

    from .. import datasets as _lat_datasets  # noqa: F401  (registers the LAT dataset types)

    folder = Path(folder)
    index = yaml.safe_load((folder / "datasets.yaml").read_text())
    datasets = Datasets()
    for entry in index["datasets"]:
        cls = DATASET_REGISTRY.get_cls(entry["type"])
        path = folder / entry["filename"]
        if entry["type"] in ("SpectrumDataset", "SpectrumDatasetOnOff"):
            dataset = cls.read(path, format="gadf", name=entry["name"])
        else:
            dataset = cls.read(path, name=entry["name"])
        datasets.append(dataset)
    if index.get("models"):
        datasets.models = Models.read(folder / index["models"])
    return datasets
