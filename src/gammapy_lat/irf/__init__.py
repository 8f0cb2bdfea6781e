"""LAT instrument response: CALDB access, IRF evaluation and response maps.

* `CALDB` finds IRF files through ``caldb.indx`` (``$CALDB`` by default).
* `LATIRFs.from_caldb` loads effective area, PSF and energy dispersion for an IRF name and an
  event-type selection.
* `make_exposure_map`, `make_psf_map` and `make_edisp_kernel_map` average the IRFs over the
  inclination angles of a `~gammapy_lat.livetime.LivetimeCube` for any Gammapy geometry
  (gtexpcube2, gtpsf and gtdrm equivalents).
* `LATPSFMap` and `LATEDispKernelMap` are the Gammapy PSF and energy-dispersion maps with kernels
  made once per IRF-map pixel and shared (`PSF_KERNEL_CACHE`).
* `UnbinnedExposureMap` (gtexpmap) and `gammapy_lat.irf.unbinned` hold the responses of the
  unbinned likelihood: per-event densities and the exposure integral of an acceptance cone.
"""
from .aeff import LATEffectiveArea, LATEfficiencyFactor
from .caldb import CALDB, EVENT_TYPE_BITS, parse_event_types
from .core import LATEventTypeIRF, LATIRFs
from .edisp import LATEnergyDispersion
from .expmap import UnbinnedExposureMap
from .kernel import PSF_KERNEL_CACHE, LATEDispKernelMap, LATPSFKernel, LATPSFMap
from .maps import RAD_AXIS_DEFAULT, exposure_weights, make_edisp_kernel_map, make_exposure_map, make_psf_map
from .psf import LATPSF
from .psf_pass6 import LATPass6PSF, read_psf

__all__ = [
    "CALDB",
    "EVENT_TYPE_BITS",
    "parse_event_types",
    "LATIRFs",
    "LATEventTypeIRF",
    "LATEffectiveArea",
    "LATEfficiencyFactor",
    "LATPSF",
    "LATPass6PSF",
    "read_psf",
    "LATEnergyDispersion",
    "make_exposure_map",
    "make_psf_map",
    "make_edisp_kernel_map",
    "exposure_weights",
    "RAD_AXIS_DEFAULT",
    "LATPSFMap",
    "LATPSFKernel",
    "LATEDispKernelMap",
    "PSF_KERNEL_CACHE",
    "UnbinnedExposureMap",
]
