"""Diffuse background helpers against the Fermitools products of the one-day Crab data set."""
import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from gammapy.datasets import MapDataset
from gammapy.maps import Map, MapAxis, WcsGeom
from gammapy.modeling.models import Models

from gammapy_lat.errors import LATFileError
from gammapy_lat.makers.utils import make_energy_axis_true
from gammapy_lat.models.diffuse import (
    create_galactic_diffuse_model,
    create_isotropic_model,
    read_galactic_diffuse_cube,
    read_isotropic_spectrum,
)


def powerlaw_bin_integral(e1, e2, y1, y2):
    """Integral of a power law through (e1, y1), (e2, y2): the gtlike ``pixelCounts`` rule."""
    y1 = np.asarray(y1, dtype=float)
    y2 = np.asarray(y2, dtype=float)
    ok = (y1 > 0) & (y2 > 0)
    gamma = np.where(ok, np.log(np.where(ok, y2 / np.where(ok, y1, 1), 1)) / np.log(e2 / e1), 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        val = y1 * e1 / (gamma + 1) * ((e2 / e1) ** (gamma + 1) - 1)
        val_m1 = y1 * e1 * np.log(e2 / e1)
    val = np.where(np.abs(gamma + 1) < 1e-6, val_m1, val)
    trapz = 0.5 * (y1 + y2) * (e2 - e1)
    return np.where(ok, val, trapz)


def srcmap_counts_per_bin(srcmap_cube, energies, spectrum):
    """Per-bin counts from a gtsrcmaps model map (values at the energy edges, per MeV)."""
    y = srcmap_cube.sum(axis=(1, 2)) * spectrum
    return powerlaw_bin_integral(energies[:-1], energies[1:], y[:-1], y[1:])


def test_isotropic_spectrum_matches_file(crab_day):
    path = crab_day / "iso_P8R2_SOURCE_V6_v06.txt"
    table = np.loadtxt(path)
    model = read_isotropic_spectrum(path)
    # At the tabulated energies the template returns the file values.
    values = model(table[:, 0] * u.MeV).to_value("MeV-1 cm-2 s-1")
    np.testing.assert_allclose(values, table[:, 1], rtol=1e-6)
    # Between two rows: log-log interpolation (as the Fermitools FileFunction).
    e1, e2 = table[3, 0], table[4, 0]
    y1, y2 = table[3, 1], table[4, 1]
    e = np.sqrt(e1 * e2)
    expected = np.sqrt(y1 * y2)
    assert model(e * u.MeV).to_value("MeV-1 cm-2 s-1") == pytest.approx(expected, rel=1e-6)


def test_isotropic_model_structure(crab_day):
    model = create_isotropic_model(crab_day / "iso_P8R2_SOURCE_V6_v06.txt", datasets_names=["a"])
    free = [p.name for p in model.parameters.free_parameters]
    assert free == ["norm"]
    assert model.apply_irf["psf"] is False
    # Intensity of the sky model = file value (sr-1 carried by the spatial part).
    table = np.loadtxt(crab_day / "iso_P8R2_SOURCE_V6_v06.txt")
    value = model.evaluate(0 * u.deg, 0 * u.deg, table[5, 0] * u.MeV)
    assert value.to_value("MeV-1 cm-2 s-1 sr-1") == pytest.approx(table[5, 1], rel=1e-6)
    # Serialisation round trip through Gammapy's YAML.
    models = Models.from_yaml(Models([model]).to_yaml())
    assert models[0].spectral_model(1 * u.GeV).to_value("MeV-1 cm-2 s-1") == pytest.approx(
        model.spectral_model(1 * u.GeV).to_value("MeV-1 cm-2 s-1")
    )


def test_isotropic_npred_matches_gtsrcmaps(crab_day):
    """Isotropic predicted counts per energy bin vs the ``Extragal_diffuse`` map of gtsrcmaps.

    The exposure is the gtexpcube2 cube of the data kit, so this checks the spectrum handling and
    the per-bin integration of the model in the dataset against the Fermitools.
    """
    with fits.open(crab_day / "srcmap.fits.gz") as hdulist:
        srcmap = hdulist["Extragal_diffuse"].data.astype(float)
    counts = Map.read(crab_day / "cntmap.fits.gz")
    energy_axis = counts.geom.axes["energy"].copy()
    energy_axis = MapAxis.from_edges(energy_axis.edges.to("MeV"), name="energy", interp="log")
    geom = counts.geom.to_image().to_cube([energy_axis])
    exposure_ref = Map.read(crab_day / "binned_expmap.fits.gz")

    axis_true = make_energy_axis_true(energy_axis, edisp_bins=0, oversampling=4)
    geom_true = geom.to_image().to_cube([axis_true])
    exposure = exposure_ref.interp_to_geom(geom_true, method="linear")
    dataset = MapDataset(
        counts=Map.from_geom(geom), exposure=exposure, mask_safe=Map.from_geom(geom, data=True, dtype=bool)
    )
    iso_file = crab_day / "iso_P8R2_SOURCE_V6_v06.txt"
    dataset.models = [create_isotropic_model(iso_file, datasets_names=[dataset.name])]
    npred = dataset.npred().data.sum(axis=(1, 2))

    table = np.loadtxt(iso_file)
    energies = energy_axis.edges.to_value("MeV")
    spectrum = np.exp(np.interp(np.log(energies), np.log(table[:, 0]), np.log(table[:, 1])))
    reference = srcmap_counts_per_bin(srcmap, energies, spectrum)
    print("isotropic npred / gtsrcmaps - 1:", np.round(npred / reference - 1, 4))
    np.testing.assert_allclose(npred, reference, rtol=0.02)


def _write_fssc_cube(path, data, energies, bunit="photons/cm^2/s/MeV/steradian"):
    header = fits.Header()
    header["CTYPE1"], header["CTYPE2"] = "GLON-CAR", "GLAT-CAR"
    header["CRPIX1"], header["CRPIX2"] = (data.shape[2] + 1) / 2, (data.shape[1] + 1) / 2
    header["CRVAL1"], header["CRVAL2"] = 0.0, 0.0
    header["CDELT1"], header["CDELT2"] = -0.125, 0.125
    header["CTYPE3"], header["CRVAL3"], header["CDELT3"], header["CRPIX3"] = "Energy", energies[0], 1, 1
    if bunit is not None:
        header["BUNIT"] = bunit
    primary = fits.PrimaryHDU(data=data.astype(np.float32), header=header)
    table = fits.BinTableHDU.from_columns(
        [fits.Column(name="Energy", format="D", unit="MeV", array=energies)], name="ENERGIES"
    )
    fits.HDUList([primary, table]).writeto(path)


@pytest.fixture()
def fssc_cube(gammapy_data, tmp_path):
    with fits.open(gammapy_data / "fermi-gc" / "gll_iem_v07_gc.fits.gz") as hdulist:
        data = hdulist[0].data.astype(float)
        energies = hdulist["PRIMARY_BANDS"].data["ENERGY_TRUE"].astype(float)
    path = tmp_path / "iem.fits"
    _write_fssc_cube(path, data, energies)
    return path, data, energies


def test_galactic_cube_fssc_format(fssc_cube):
    path, data, energies = fssc_cube
    cube = read_galactic_diffuse_cube(path)
    assert cube.unit == u.Unit("MeV-1 cm-2 s-1 sr-1")
    assert cube.geom.axes["energy_true"].nbin == energies.size
    np.testing.assert_allclose(cube.data, data, rtol=1e-6)

    model = create_galactic_diffuse_model(path)
    assert sorted(p.name for p in model.parameters.free_parameters) == ["norm", "tilt"]
    # At a pixel centre: the file value at a node, log-log interpolation between nodes.
    iy, ix = 30, 45
    lon, lat = (u.Quantity(c, "deg") for c in cube.geom.pix_to_coord((ix, iy, 0))[:2])
    k = 7
    value = model.evaluate(lon, lat, energies[k] * u.MeV)
    assert value.to_value("MeV-1 cm-2 s-1 sr-1") == pytest.approx(data[k, iy, ix], rel=1e-4)
    e_mid = np.sqrt(energies[k] * energies[k + 1])
    value = model.evaluate(lon, lat, e_mid * u.MeV)
    expected = np.sqrt(data[k, iy, ix] * data[k + 1, iy, ix])
    assert value.to_value("MeV-1 cm-2 s-1 sr-1") == pytest.approx(expected, rel=1e-4)


def test_galactic_cube_gammapy_format_and_cutout(gammapy_data):
    path = gammapy_data / "fermi-gc" / "gll_iem_v07_gc.fits.gz"
    geom = WcsGeom.create(skydir=(0, 0), frame="galactic", width=2, binsz=0.1)
    cube = read_galactic_diffuse_cube(path, geom=geom, margin="1 deg")
    full = Map.read(path)
    assert cube.geom.data_shape[1] < full.geom.data_shape[1]
    coord = {"skycoord": geom.center_skydir, "energy_true": full.geom.axes[0].center[3]}
    assert cube.get_by_coord(coord)[0] == pytest.approx(full.get_by_coord(coord)[0])


def test_galactic_cube_cutout_across_longitude_wrap(tmp_path):
    """An all-sky cube cut out around the Galactic anticentre (the Crab, l = 184.6 deg) keeps both
    sides of the l = 180 deg edge: the model equals the analytic intensity everywhere."""

    def intensity(lon, lat, energy):
        return (3 + np.cos(np.radians(lon)) + np.sin(np.radians(lat))) * 1e-6 * (energy / 100.0) ** -2.5

    energies = np.array([100.0, 300.0, 1000.0, 3000.0])
    nx, ny = 720, 360  # 0.5 deg all-sky CAR, reference (0, 0) as the FSSC cubes
    x = np.arange(nx)
    y = np.arange(ny)
    lon = 0.0 - 0.5 * (x + 1 - (nx + 1) / 2)
    lat = 0.0 + 0.5 * (y + 1 - (ny + 1) / 2)
    data = intensity(lon[None, None, :], lat[None, :, None], energies[:, None, None])
    path = tmp_path / "allsky.fits"
    header = fits.Header()
    header["CTYPE1"], header["CTYPE2"] = "GLON-CAR", "GLAT-CAR"
    header["CRPIX1"], header["CRPIX2"] = (nx + 1) / 2, (ny + 1) / 2
    header["CRVAL1"], header["CRVAL2"] = 0.0, 0.0
    header["CDELT1"], header["CDELT2"] = -0.5, 0.5
    header["BUNIT"] = "photons/cm^2/s/MeV/steradian"
    table = fits.BinTableHDU.from_columns([fits.Column(name="Energy", format="D", unit="MeV", array=energies)], name="ENERGIES")
    fits.HDUList([fits.PrimaryHDU(data.astype(np.float32), header=header), table]).writeto(path)

    axis = MapAxis.from_energy_bounds("200 MeV", "2 GeV", 2, name="energy")
    geom = WcsGeom.create(skydir=(184.56, -5.78), frame="galactic", binsz=0.2, width=20, axes=[axis])
    model = create_galactic_diffuse_model(path, geom=geom)
    assert model.spatial_model.map.data.shape[-1] < nx / 4
    coords = geom.to_image().get_coord().skycoord
    assert np.any(coords.l.deg < 180) and np.any(coords.l.deg > 180)
    value = model.evaluate(coords.l, coords.b, 300 * u.MeV).to_value("MeV-1 cm-2 s-1 sr-1")
    expected = intensity(coords.l.deg, coords.b.deg, 300.0)
    np.testing.assert_allclose(value, expected, rtol=1e-4)


def test_diffuse_bad_input(tmp_path):
    with pytest.raises(LATFileError, match="not found"):
        read_isotropic_spectrum(tmp_path / "missing.txt")
    bad = tmp_path / "iso_bad.txt"
    bad.write_text("100 1e-7 1e-9\n50 2e-7 1e-9\n")
    with pytest.raises(LATFileError, match="increasing"):
        read_isotropic_spectrum(bad)
    bad.write_text("hello world\n")
    with pytest.raises(LATFileError, match="numeric"):
        read_isotropic_spectrum(bad)

    with pytest.raises(LATFileError, match="not found"):
        read_galactic_diffuse_cube(tmp_path / "missing.fits")
    cube = tmp_path / "cube.fits"
    fits.PrimaryHDU(np.ones((3, 4, 4), dtype=np.float32)).writeto(cube)
    with pytest.raises(LATFileError, match="ENERGIES"):
        read_galactic_diffuse_cube(cube)
    wrong_unit = tmp_path / "wrong_unit.fits"
    _write_fssc_cube(wrong_unit, np.ones((3, 4, 4)), np.array([100.0, 200.0, 400.0]), bunit="counts")
    with pytest.raises(LATFileError, match="BUNIT"):
        read_galactic_diffuse_cube(wrong_unit)
