"""Source models: gtlike XML ↔ Gammapy models, LAT spectral functions, catalog ROI models.

Importing this package registers the LAT spectral models of `gammapy_lat.models.spectral` in
Gammapy's model registry, so that YAML model files using them can be read.
"""
from .spectral import (
    FileFunctionSpectralModel,
    LATBandSpectralModel,
    LATExpCutoffSpectralModel,
    LATSuperExpCutoff2SpectralModel,
    LATSuperExpCutoffSpectralModel,
    read_file_function,
)
from .xml import (
    XMLModelError,
    models_from_xml_string,
    models_to_xml_string,
    read_xml_models,
    to_lat_spectral_model,
    write_xml_models,
)

__all__ = [
    "FileFunctionSpectralModel",
    "LATBandSpectralModel",
    "LATExpCutoffSpectralModel",
    "LATSuperExpCutoff2SpectralModel",
    "LATSuperExpCutoffSpectralModel",
    "read_file_function",
    "XMLModelError",
    "models_from_xml_string",
    "models_to_xml_string",
    "read_xml_models",
    "to_lat_spectral_model",
    "write_xml_models",
]
