"""Sky models of an analysis: Gammapy YAML, gtlike XML or catalog selections, plus per-dataset
background models."""
import logging

from ..errors import ConfigError

__all__ = ["build_models", "add_background_models", "read_models_entry"]

log = logging.getLogger(__name__)


def read_models_entry(entry, config):
    """`~gammapy.modeling.models.Models` of one ``models`` entry of the config."""
    from gammapy.modeling.models import Models

    if entry.file is not None:
        path = config.resolve_path(entry.file)
        if entry.format == "yaml":
            try:
                return Models.read(path)
            except (OSError, KeyError, ValueError, TypeError) as exc:
                raise ConfigError(f"models: cannot read Gammapy models YAML {path}: {exc}") from exc
        try:
            from ..models import read_xml_models
        except ImportError:
            raise ConfigError(
                f"models: reading gtlike XML ({path}) needs gammapy_lat.models.read_xml_models, "
                "which is not available in this installation"
            ) from None
        return Models(read_xml_models(path))
    try:
        from ..models import catalog_roi_models
    except ImportError:
        raise ConfigError(
            "models: catalog selection needs gammapy_lat.models.catalog_roi_models, which is not "
            "available in this installation"
        ) from None
    cat = entry.catalog
    kwargs = dict(
        catalog=config.resolve_path(cat.catalog),
        center=cat.center.to_skycoord(),
        radius=cat.radius,
    )
    if cat.free_radius is not None:
        kwargs["free_radius"] = cat.free_radius
    if cat.extdir is not None:
        kwargs["extdir"] = config.resolve_path(cat.extdir)
    return Models(catalog_roi_models(**kwargs))


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
    from gammapy.modeling.models import Models

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
    from gammapy.datasets import MapDatasetOnOff
    from gammapy.modeling.models import FoVBackgroundModel, Models

    models = Models(models)
    have = {m.datasets_names[0] for m in models if isinstance(m, FoVBackgroundModel)}
    for dataset in datasets:
        if dataset.tag != "MapDataset" or isinstance(dataset, MapDatasetOnOff):
            continue
        if dataset.background is None or dataset.name in have:
            continue
        models.append(FoVBackgroundModel(dataset_name=dataset.name))
    return models
