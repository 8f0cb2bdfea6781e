"""Sky models of an analysis: Gammapy YAML, gtlike XML or catalog selections, plus per-dataset
background models."""
import logging

from gammapy.catalog import CATALOG_REGISTRY
from gammapy.datasets import MapDatasetOnOff
from gammapy.modeling.models import FoVBackgroundModel, Models

from ..errors import ConfigError
from ..models import read_xml_models
from ..models.catalog import catalog_roi_models

__all__ = ["build_models", "add_background_models", "read_models_entry"]

log = logging.getLogger(__name__)


def read_models_entry(entry, config):
    """`~gammapy.modeling.models.Models` of one ``models`` entry of the config."""

    if entry.file is not None:
        path = config.resolve_path(entry.file)
        if entry.format == "yaml":
            try:
                return Models.read(path)
            except (OSError, KeyError, ValueError, TypeError) as exc:
                raise ConfigError(f"models: cannot read Gammapy models YAML {path}: {exc}") from exc

        return Models(read_xml_models(path, missing_files=entry.missing_files))


    cat = entry.catalog
    path = config.resolve_path(cat.catalog)
    try:
        catalog = CATALOG_REGISTRY.get_cls(cat.type)(filename=path)
    except (OSError, KeyError, ValueError) as exc:
        raise ConfigError(f"models: cannot read {cat.type} catalog {path}: {exc}") from exc
    kwargs = dict(
        center=cat.center.to_skycoord(),
        radius=cat.radius,
        margin=cat.margin,
        free_radius=cat.free_radius,
        min_significance=cat.min_significance,
        free_shape=cat.free_shape,
    )
    if cat.extdir is not None:
        kwargs["extended_dir"] = config.resolve_path(cat.extdir)
    return Models(catalog_roi_models(catalog, **kwargs))


def build_models(config, block_datasets):
    """Global models of the config, restricted to the datasets of their blocks where requested.

    Parameters
    ----------
    config : `~gammapy_lat.analysis.AnalysisConfig`
        Config.
    block_datasets : dict
        Block name -> `~gammapy.datasets.Datasets`.

    Returns
    -------
    models : `~gammapy.modeling.models.Models`
    """

    models = Models()
    for entry in config.models:
        entry_models = read_models_entry(entry, config)
        if entry.datasets is not None:
            names = [n for block in entry.datasets for n in block_datasets[block].names]
            for model in entry_models:
                model.datasets_names = names
        for model in entry_models:
            if model.name in models.names:
                raise ConfigError(f"models: model name {model.name!r} is defined twice")
            models.append(model)
    return models


def add_background_models(datasets, models):
    """Append a `~gammapy.modeling.models.FoVBackgroundModel` for every `MapDataset` that has a
    background map and no background model yet (as Gammapy's `Analysis` does)."""

    models = Models(models)
    have = {m.datasets_names[0] for m in models if isinstance(m, FoVBackgroundModel)}
    for dataset in datasets:
        if dataset.tag != "MapDataset" or isinstance(dataset, MapDatasetOnOff):
            continue
        if dataset.background is None or dataset.name in have:
            continue
        models.append(FoVBackgroundModel(dataset_name=dataset.name))
    return models
