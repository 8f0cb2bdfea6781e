"""Shared PSF and energy-dispersion kernels of LAT IRF maps against Gammapy's own kernels.

The PSF and energy-dispersion maps are made by `LATMapDatasetMaker` from the kit's one-day Crab
data (gtltcube livetime cube, P8R2_SOURCE_V6); the references are Gammapy's
`PSFMap.get_psf_kernel`, `PSFMap.containment_radius`, `EDispKernelMap.get_edisp_kernel` and
`WcsNDMap.convolve` on the same maps.
"""
import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from gammapy.irf import EDispKernelMap, PSFKernel, PSFMap
from gammapy.maps import Map, MapAxis, WcsGeom
from gammapy.modeling.models import GaussianSpatialModel, PointSpatialModel

from gammapy_lat.datasets.evaluator import convolve_kernel_planes
from gammapy_lat.irf import LATEDispKernelMap, LATPSFKernel, LATPSFMap
from gammapy_lat.irf.kernel import PSFKernelCache, containment_radius_profile


@pytest.fixture(scope="module")
def irf_dataset(crab_day, caldb_path):
    from gammapy_lat.makers import LATMapDatasetMaker, create_lat_map_dataset
    from gammapy_lat.observations import LATObservation

    counts = Map.read(crab_day / "cntmap.fits.gz")
    axis = MapAxis.from_edges(counts.geom.axes["energy"].edges[::2], name="energy", interp="log")
    geom = WcsGeom.create(
        skydir=counts.geom.center_skydir, binsz=0.4, width=20, frame="galactic", proj="CAR", axes=[axis]
    )
    obs = LATObservation.read(crab_day / "ft1.fits.gz", crab_day / "ft2.fits.gz")
    maker = LATMapDatasetMaker(irf_name="P8R2_SOURCE_V6", caldb=caldb_path, ltcube=crab_day / "ltcube.fits.gz")
    return maker.run(create_lat_map_dataset(geom, name="irf"), obs)


def gammapy_psf(dataset):
    return PSFMap(dataset.psf.psf_map, exposure_map=dataset.psf.exposure_map)


def pixel_centres(psf):
    return psf.psf_map.geom.to_image().get_coord().skycoord


def test_containment_radius_as_gammapy(irf_dataset):
    psf = irf_dataset.psf
    centres = pixel_centres(psf)
    energy = psf.psf_map.geom.axes["energy_true"].center
    for iy, ix in [(5, 5), (0, 9)]:
        profile = psf.psf_map.quantity[..., iy, ix].to_value("sr-1")
        for fraction in (0.68, 0.95, 0.999):
            ref = gammapy_psf(irf_dataset).containment_radius(fraction, energy, position=centres[iy, ix])
            mine = containment_radius_profile(profile, psf.psf_map.geom.axes["rad"], fraction)
            np.testing.assert_allclose(mine, ref.to_value("deg"), rtol=1e-12)


def test_psf_kernel_as_gammapy_at_pixel_centres(irf_dataset):
    psf = irf_dataset.psf
    assert isinstance(psf, LATPSFMap)
    geom = irf_dataset.exposure.geom
    centres = pixel_centres(psf)
    for iy, ix in [(2, 2), (4, 7)]:
        kernel = psf.get_psf_kernel(geom, position=centres[iy, ix])
        ref = gammapy_psf(irf_dataset).get_psf_kernel(geom, position=centres[iy, ix])
        assert isinstance(kernel, LATPSFKernel)
        assert kernel.geom == ref.psf_kernel_map.geom
        data = kernel.psf_kernel_map.data
        peak = ref.data.max(axis=(1, 2))
        assert np.all(np.abs(data - ref.data).max(axis=(1, 2)) <= 1e-6 * peak)
        np.testing.assert_allclose(data.sum(axis=(1, 2)), 1, rtol=1e-6)
        # each plane on its own square: the 0.999 radius, a few pixels at the highest energies
        sizes = [p.shape[0] for p in kernel.planes]
        assert sizes[0] == data.shape[-1] and sizes[-1] < sizes[0] / 3


def test_psf_kernel_shared(irf_dataset):
    psf = irf_dataset.psf
    geom = irf_dataset.exposure.geom
    centre = pixel_centres(psf)[5, 5]
    kernel = psf.get_psf_kernel(geom, position=centre)
    # another position in the same 2 deg pixel, in another frame
    near = SkyCoord(centre.l + 0.5 * u.deg, centre.b - 0.4 * u.deg, frame="galactic").icrs
    assert psf.get_psf_kernel(geom, position=near) is kernel
    # the PSF map of a dataset copy made by an estimator (energy slice), and of a copy
    sliced = irf_dataset.slice_by_idx({"energy": slice(2, 6)})
    assert sliced.psf is not psf
    assert sliced.psf.get_psf_kernel(sliced.exposure.geom, position=centre) is kernel
    assert irf_dataset.copy().psf.get_psf_kernel(geom, position=centre) is kernel
    # another pixel: another kernel
    assert psf.get_psf_kernel(geom, position=pixel_centres(psf)[5, 6]) is not kernel


def test_psf_kernel_outside_the_map(irf_dataset):
    """Gammapy takes the nearest valid PSF pixel for positions outside the PSF map."""
    psf = irf_dataset.psf
    geom = irf_dataset.exposure.geom
    outside = SkyCoord(184.56 + 12, -5.78 + 3, unit="deg", frame="galactic")
    kernel = psf.get_psf_kernel(geom, position=outside)
    nearest = gammapy_psf(irf_dataset).mask_safe_image.mask_nearest_position(outside)
    ref = gammapy_psf(irf_dataset).get_psf_kernel(geom, position=nearest)
    assert np.abs(kernel.psf_kernel_map.data - ref.data).max() <= 1e-6 * ref.data.max()


def test_kernel_cache_memory_bound(irf_dataset):
    psf = LATPSFMap.from_psf_map(irf_dataset.psf)
    psf.kernel_cache = cache = PSFKernelCache(max_bytes=1)
    geom = irf_dataset.exposure.geom
    centres = pixel_centres(psf)
    for ix in range(3):
        psf.get_psf_kernel(geom, position=centres[5, ix])
    assert len(cache) == 1 and cache.misses == 3


def test_edisp_kernel_as_gammapy(irf_dataset):
    edisp = irf_dataset.edisp
    assert isinstance(edisp, LATEDispKernelMap)
    ref_map = EDispKernelMap(edisp.edisp_map, exposure_map=edisp.exposure_map)
    axis = irf_dataset.counts.geom.axes["energy"]
    for position in [
        SkyCoord(83.63, 22.01, unit="deg"),
        SkyCoord(184.56 + 9.9, -5.78 - 9.9, unit="deg", frame="galactic"),
        SkyCoord(184.56 - 14, -5.78, unit="deg", frame="galactic"),  # outside: nearest valid pixel
    ]:
        kernel = edisp.get_edisp_kernel(position=position, energy_axis=axis)
        ref = ref_map.get_edisp_kernel(position=position, energy_axis=axis)
        assert kernel.axes.names == ref.axes.names
        np.testing.assert_array_equal(kernel.pdf_matrix, ref.pdf_matrix)


@pytest.mark.parametrize("spatial", ["point", "gauss"])
def test_plane_convolution_as_gammapy(irf_dataset, spatial):
    geom = irf_dataset.exposure.geom
    position = SkyCoord(184.56 + 1.3, -5.78 - 0.7, unit="deg", frame="galactic")
    kernel = irf_dataset.psf.get_psf_kernel(geom, position=position)
    if spatial == "point":
        model = PointSpatialModel(lon_0=position.l, lat_0=position.b, frame="galactic")
    else:
        model = GaussianSpatialModel(lon_0=position.l, lat_0=position.b, sigma="0.8 deg", frame="galactic")
    image = model.integrate_geom(geom.to_image())
    mine = convolve_kernel_planes(image, kernel)
    # Gammapy: the full kernel map, scipy convolution plane by plane
    ref = image.convolve(PSFKernel(kernel.psf_kernel_map, normalize=False))
    assert mine.geom == ref.geom and mine.data.dtype == np.float32
    scale = ref.data.max(axis=(1, 2), keepdims=True)
    assert np.abs(mine.data - ref.data).max() <= 1e-5 * scale.max()
    np.testing.assert_allclose(mine.data.sum(axis=(1, 2)), ref.data.sum(axis=(1, 2)), rtol=1e-5)


def test_psf_kernel_of_a_healpix_psf_map(observation_hpx):
    """A HEALPix PSF map (which Gammapy 2.1 cannot interpolate) gives the kernel of the HEALPix
    pixel: Gammapy's kernel of a one-pixel WCS PSF map holding that pixel's PSF."""
    dataset = observation_hpx
    psf = dataset.psf
    image = psf.psf_map.geom.to_image()
    assert image.is_hpx and image.data_shape[-1] > 4
    centre = image.get_coord().skycoord.flatten()[1]
    geom = WcsGeom.create(skydir=centre, binsz=0.5, width=10, frame="icrs", axes=[dataset.exposure.geom.axes["energy_true"]])
    kernel = psf.get_psf_kernel(geom, position=centre)
    axes = psf.psf_map.geom.axes
    one = WcsGeom.create(skydir=centre, binsz=5, npix=1, frame="icrs", axes=axes)
    data = psf.psf_map.data[..., 1][..., None, None]
    ref_map = PSFMap(Map.from_geom(one, data=data, unit=psf.psf_map.unit))
    ref = ref_map.get_psf_kernel(geom, position=centre)
    assert np.abs(kernel.psf_kernel_map.data - ref.data).max() <= 1e-6 * ref.data.max()


@pytest.fixture(scope="module")
def observation_hpx(crab_day, caldb_path):
    from gammapy.maps import HpxGeom

    from gammapy_lat.makers import LATMapDatasetMaker, create_lat_map_dataset
    from gammapy_lat.observations import LATObservation

    obs = LATObservation.read(crab_day / "ft1.fits.gz", crab_day / "ft2.fits.gz")
    axis = MapAxis.from_energy_bounds("200 MeV", "20 GeV", 5, name="energy")
    geom = HpxGeom.create(nside=32, region="DISK(83.63,22.01,6)", frame="icrs", axes=[axis])
    maker = LATMapDatasetMaker(
        irf_name="P8R2_SOURCE_V6", caldb=caldb_path, ltcube=crab_day / "ltcube.fits.gz", selection=["exposure", "psf"]
    )
    return maker.run(create_lat_map_dataset(geom, binsz_irf=2, name="hpx"), obs)
