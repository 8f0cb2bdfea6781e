"""Products of the analysis steps on disk: atomic writers, readers and the step state.

Every step records in ``<outdir>/analysis-state.json`` a key (a hash of the config settings it
depends on, of the sizes and modification times of its input files and of the keys of the steps
it builds on) and the list of files it wrote. A step whose recorded key equals the current one and
whose products all exist is up to date and is skipped.
"""
import json
import logging
from pathlib import Path

import yaml
from gammapy.datasets import DATASET_REGISTRY, Datasets
from gammapy.modeling.models import Models

from ..datasets import as_lat_dataset
from ..utils import atomic_output
from ..utils.io import is_inside, write_models, write_table, write_yaml_atomic

__all__ = [
    "StepState",
    "write_datasets",
    "read_datasets",
    "write_models",
    "write_table",
    "write_yaml_atomic",
]

log = logging.getLogger(__name__)

STATE_FILE = "analysis-state.json"


class StepState:
    """Keys and products of the steps already run in an output folder."""

    def __init__(self, outdir):
        self.outdir = Path(outdir)
        self.path = self.outdir / STATE_FILE
        self.steps = {}
        if self.path.exists():
            try:
                steps = json.loads(self.path.read_text()).get("steps", {})
                if not isinstance(steps, dict):
                    raise ValueError("'steps' is not a mapping")
                self.steps = {k: v for k, v in steps.items() if isinstance(v, dict)}
            except (OSError, ValueError, AttributeError, UnicodeDecodeError):
                log.warning(f"Ignoring unreadable state file {self.path}; all steps will run")

    def _inside(self, product):
        """``outdir / product`` if it is a relative path inside the output folder, else None.

        The state file is data on disk: an entry such as ``../x`` or ``/abs/path`` (edited by
        hand, or copied from another folder) must never make a run read or delete a file outside
        the output folder.
        """
        if not isinstance(product, str) or not product or Path(product).is_absolute():
            return None
        path = self.outdir / product
        return path if is_inside(path, self.outdir) else None

    def _products(self, name):
        products = self.steps.get(name, {}).get("products", [])
        return products if isinstance(products, list) else []

    def is_done(self, name, key):
        """Whether step ``name`` ran with ``key`` and all its products exist inside the output folder."""
        entry = self.steps.get(name)
        if entry is None or entry.get("key") != key:
            return False
        paths = [self._inside(p) for p in self._products(name)]
        return all(path is not None and path.exists() for path in paths)

    def products(self, name):
        return [path for p in self._products(name) if (path := self._inside(p)) is not None]

    def record(self, name, key, products):
        """Store a finished step and remove the files of its previous run that are not reused.

        Only regular files inside the output folder are removed; entries of the state file that
        point elsewhere are ignored with a warning.
        """
        rel = sorted({str(Path(p).resolve().relative_to(self.outdir.resolve())) for p in products})
        old = set(p for p in self._products(name) if isinstance(p, str))
        for stale in sorted(old - set(rel)):
            path = self._inside(stale)
            if path is None:
                log.warning(
                    f"{self.path}: ignoring the entry {stale!r} of step '{name}', which is not inside {self.outdir}"
                )
                continue
            if path.is_file() and not path.is_symlink():
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
            # LAT map datasets come back with the LAT likelihood
            dataset = as_lat_dataset(cls.read(path, name=entry["name"]))
        datasets.append(dataset)
    if index.get("models"):
        datasets.models = Models.read(folder / index["models"])
    return datasets
