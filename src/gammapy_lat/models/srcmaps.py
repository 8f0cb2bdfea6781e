"""Source maps of gtsrcmaps as fixed-shape Gammapy background templates.

A gtsrcmaps file holds the counts cube (primary image, ``EBOUNDS``, ``GTI``) and one image HDU
per source of the model, named after the source: the model counts density of that source
(counts per MeV per pixel, exposure and PSF included) at the ``n + 1`` edges of the ``n`` energy
bins of the counts cube. For a diffuse source whose spectrum is a constant or a normalisation,
the predicted counts of a bin are the integral of that density over the bin, times the
normalisation: a Gammapy `~gammapy.modeling.models.TemplateNPredModel` with a free norm.

Between the two edges of a bin the density is taken as a power law (linear in log-log), the
natural interpolation of a density falling steeply with energy; ``integration="trapezoid"``
gives the linear trapezoid of the ScienceTools of the Pass 6 era (BinnedLikelihood before 2011),
which overestimates steep spectra (by about 10 % for the Galactic diffuse in bins a factor 1.6
wide).
"""
import numpy as np
from astropy.io import fits
from gammapy.maps import Map
from gammapy.modeling.models import PowerLawNormSpectralModel, TemplateNPredModel

from ..data.binning import read_counts_geom
from ..errors import LATFileError

__all__ = ["srcmap_names", "read_srcmap_npred", "create_srcmap_model"]

_NOT_SOURCES = {"PRIMARY", "GTI", "EBOUNDS"}


def srcmap_names(filename):
    """Names of the source maps held by a gtsrcmaps file (its image HDUs after the counts cube)."""
    try:
        with fits.open(filename, memmap=False) as hdulist:
            return [
                hdu.name if not hdu.header.get("EXTNAME") else str(hdu.header["EXTNAME"])
                for hdu in hdulist[1:]
                if hdu.name.upper() not in _NOT_SOURCES and isinstance(hdu, (fits.ImageHDU, fits.CompImageHDU))
            ]
    except OSError as exc:
        raise LATFileError(f"Cannot read the source-map file {filename}: {exc}") from exc


def _bin_integral(density, edges, integration):
    """Integral over each bin of a density given at the bin edges (first axis)."""
    e1, e2 = edges[:-1], edges[1:]
    shape = (-1,) + (1,) * (density.ndim - 1)
    e1, e2 = e1.reshape(shape), e2.reshape(shape)
    y1, y2 = density[:-1], density[1:]
    trapezoid = 0.5 * (y1 + y2) * (e2 - e1)
    if integration == "trapezoid":
        return trapezoid
    if integration != "powerlaw":
        raise ValueError(f"integration must be 'powerlaw' or 'trapezoid', got {integration!r}")
    positive = (y1 > 0) & (y2 > 0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.log(e2 / e1)
        index = np.log(y2 / y1) / ratio
        g1 = index + 1.0
        small = np.abs(g1) < 1e-8
        powerlaw = np.where(small, y1 * e1 * ratio, y1 * e1 * np.expm1(g1 * ratio) / np.where(small, 1.0, g1))
    return np.where(positive, powerlaw, trapezoid)


def read_srcmap_npred(filename, name, integration="powerlaw"):
    """Predicted counts per energy bin of one source of a gtsrcmaps file.

    Parameters
    ----------
    filename : str or `~pathlib.Path`
        gtsrcmaps output.
    name : str
        Source name (the HDU name).
    integration : {"powerlaw", "trapezoid"}
        Interpolation of the density between the bin edges (see the module docstring).

    Returns
    -------
    npred : `~gammapy.maps.Map`
        Counts per pixel and reconstructed-energy bin, on the geometry of the counts cube.

    Raises
    ------
    gammapy_lat.errors.LATFileError
        No such source map, or its planes do not match the energy bins of the counts cube.
    """
    geom = read_counts_geom(filename)
    if "energy" not in geom.axes.names:
        raise LATFileError(f"Source-map file {filename} has no energy axis (EBOUNDS)")
    axis = geom.axes["energy"]
    names = srcmap_names(filename)
    if name not in names:
        raise LATFileError(f"Source-map file {filename} has no map of {name!r}; it holds {names}")
    with fits.open(filename, memmap=False) as hdulist:
        data = np.asarray(hdulist[name].data, dtype=float)
    if data.ndim != 3 or data.shape[1:] != geom.data_shape[1:]:
        raise LATFileError(
            f"Source map {name!r} of {filename} has shape {data.shape}, the counts cube {geom.data_shape}"
        )
    if data.shape[0] != axis.nbin + 1:
        raise LATFileError(
            f"Source map {name!r} of {filename} has {data.shape[0]} planes; expected one per energy-bin "
            f"edge ({axis.nbin + 1})"
        )
    edges = axis.edges.to_value("MeV")
    npred = _bin_integral(data, edges, integration)
    return Map.from_geom(geom, data=npred)


def create_srcmap_model(filename, name, integration="powerlaw", datasets_names=None, model_name=None):
    """A gtsrcmaps source map as a fixed-shape template of predicted counts with a free norm.

    Parameters
    ----------
    filename : str or `~pathlib.Path`
        gtsrcmaps output.
    name : str
        Source name (the HDU name).
    integration : {"powerlaw", "trapezoid"}
        See `read_srcmap_npred`.
    datasets_names : list of str, optional
        Datasets the model applies to (it must match their counts geometry).
    model_name : str, optional
        Name of the model (default: ``name``).

    Returns
    -------
    model : `~gammapy.modeling.models.TemplateNPredModel`
        Predicted counts times ``norm`` (free, 1) with a frozen zero tilt.
    """
    npred = read_srcmap_npred(filename, name, integration=integration)
    spectral = PowerLawNormSpectralModel(norm=1, tilt=0, reference="1 GeV")
    spectral.tilt.frozen = True
    return TemplateNPredModel(
        npred, spectral_model=spectral, name=model_name or name, datasets_names=datasets_names
    )
