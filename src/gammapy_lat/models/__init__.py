"""Source models: gtlike XML ↔ Gammapy models, LAT spectral functions, diffuse backgrounds,
catalog ROI models.

Importing this package registers the LAT spectral models of `gammapy_lat.models.spectral` in
Gammapy's model registry, so that YAML model files using them can be read.
"""
from .catalog import (
    catalog_roi_models,
    source_is_variable,
    source_significance,
    write_catalog_roi_xml,
)
from .diffuse import (
    create_galactic_diffuse_model,
    create_isotropic_model,
    read_galactic_diffuse_cube,
    read_isotropic_spectrum,
)
from .dmfit import LATDMFitSpectralModel
from .spectral import (
    FileFunctionSpectralModel,
    LATBandSpectralModel,
    LATBrokenPowerLaw2SpectralModel,
    LATExpCutoffSpectralModel,
    LATSmoothBrokenPowerLawSpectralModel,
    LATSuperExpCutoff2SpectralModel,
    LATSuperExpCutoffSpectralModel,
    read_file_function,
)
from .srcmaps import create_srcmap_model, read_srcmap_npred, srcmap_names
from .xml import (
    XMLModelError,
    models_from_xml_string,
    models_to_xml_string,
    read_xml_models,
    to_lat_spectral_model,
    write_xml_models,
)

__all__ = [
    "catalog_roi_models",
    "write_catalog_roi_xml",
    "source_significance",
    "source_is_variable",
    "create_galactic_diffuse_model",
    "create_isotropic_model",
    "read_galactic_diffuse_cube",
    "read_isotropic_spectrum",
    "FileFunctionSpectralModel",
    "LATBandSpectralModel",
    "LATBrokenPowerLaw2SpectralModel",
    "LATSmoothBrokenPowerLawSpectralModel",
    "LATDMFitSpectralModel",
    "create_srcmap_model",
    "read_srcmap_npred",
    "srcmap_names",
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
