"""LAT safe masks and the default true-energy axis (analytic geometry checks)."""
import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from gammapy.datasets import MapDataset
from gammapy.irf import PSFMap
from gammapy.makers import MAKER_REGISTRY
from gammapy.maps import HpxGeom, MapAxis, WcsGeom

from gammapy_lat.errors import LATDataError
from gammapy_lat.makers import LATSafeMaskMaker, make_energy_axis_true


@pytest.fixture()
def energy_axis():
    return MapAxis.from_energy_bounds("100 MeV", "10 GeV", 8, name="energy")


def make_dataset(geom, energy_axis):
    # Coarse IRF maps: Gammapy's default IRF pixel size of an all-sky HEALPix map is very large.
    dataset = MapDataset.create(
        geom, energy_axis_true=make_energy_axis_true(energy_axis), binsz_irf="10 deg"
    )
    dataset.exposure.data += 1.0
    dataset.mask_safe.data[...] = True
    return dataset


def test_energy_axis_true(energy_axis):
    axis = make_energy_axis_true(energy_axis, edisp_bins=2, oversampling=3)
    log_width = np.log10(100) / 8
    # Covers the margin of two reconstructed bins on each side, three true bins per reco bin.
    assert axis.edges[0].to_value("MeV") == pytest.approx(100 * 10 ** (-2 * log_width))
    assert axis.edges[-1].to_value("MeV") == pytest.approx(1e4 * 10 ** (2 * log_width))
    assert axis.nbin == 3 * (8 + 4)
    # Every reconstructed edge is a true edge.
    for edge in energy_axis.edges:
        assert np.min(np.abs(axis.edges / edge - 1)) < 1e-10
    clipped = make_energy_axis_true(energy_axis, energy_true_min=60 * u.MeV)
    assert clipped.edges[0].to_value("MeV") == pytest.approx(60)
    with pytest.raises(ValueError):
        make_energy_axis_true(energy_axis.copy(name="energy_true"))


def test_safe_energy_range_and_margin(energy_axis):
    geom = WcsGeom.create(skydir=(0, 0), width=4, binsz=0.5, axes=[energy_axis])
    dataset = make_dataset(geom, energy_axis)
    maker = LATSafeMaskMaker(methods=["energy-range"], energy_min=200 * u.MeV, energy_max=5 * u.GeV)
    mask = maker.run(dataset).mask_safe.data.all(axis=(1, 2))
    edges = energy_axis.edges.to_value("MeV")
    expected = (edges[:-1] >= 200 * (1 - 1e-6)) & (edges[1:] <= 5000 * (1 + 1e-6))
    np.testing.assert_array_equal(mask, expected)

    dataset = make_dataset(geom, energy_axis)
    mask = LATSafeMaskMaker(methods=["energy-range"], edisp_bins=2).run(dataset).mask_safe.data
    np.testing.assert_array_equal(mask.all(axis=(1, 2)), [False] * 2 + [True] * 4 + [False] * 2)
    with pytest.raises(LATDataError):
        LATSafeMaskMaker(methods=["energy-range"], edisp_bins=4).run(make_dataset(geom, energy_axis))


@pytest.mark.parametrize("proj", ["CAR", "AIT", "TAN"])
def test_safe_edge_fixed_width(energy_axis, proj):
    # 0.25 deg pixels near the equator: pixels whose centre is closer than 1 deg to the border
    # are the outer four rings of pixels (centres at 0.125, 0.375, 0.625, 0.875 deg).
    geom = WcsGeom.create(skydir=(0, 0), width=5, binsz=0.25, axes=[energy_axis], proj=proj, frame="galactic")
    dataset = make_dataset(geom, energy_axis)
    mask = LATSafeMaskMaker(methods=["edge"], edge_width="1 deg").run(dataset).mask_safe.data[0]
    expected = np.zeros((20, 20), dtype=bool)
    expected[4:-4, 4:-4] = True
    np.testing.assert_array_equal(mask, expected)


def test_safe_edge_psf(energy_axis):
    geom = WcsGeom.create(skydir=(0, 0), width=10, binsz=0.25, axes=[energy_axis], frame="galactic")
    dataset = make_dataset(geom, energy_axis)
    energy_true = dataset.exposure.geom.axes["energy_true"]
    sigma = np.linspace(3.0, 0.1, energy_true.nbin)  # deg, decreasing with true energy
    rad = MapAxis.from_nodes(np.linspace(0, 12, 481) * u.deg, name="rad")
    dataset.psf = PSFMap.from_gauss(energy_axis_true=energy_true, rad_axis=rad, sigma=sigma * u.deg)
    mask = LATSafeMaskMaker(methods=["edge"], edge_width="psf", psf_containment=0.68).run(dataset)
    data = mask.mask_safe.data
    # Larger PSF at low energy: fewer pixels kept, monotonically more at higher energies.
    kept = data.sum(axis=(1, 2))
    assert np.all(np.diff(kept) >= 0) and kept[0] < kept[-1]
    # Kept band width matches the Gaussian 68 % radius (1.51 sigma) at the bin centre.
    r68 = dataset.psf.containment_radius(0.68, energy_true=energy_axis.center[0], position=geom.center_skydir)
    n_out = int(np.ceil((r68.to_value("deg")[0] - 0.125) / 0.25 + 1e-9))
    assert not data[0, 20, : n_out].any() and data[0, 20, n_out]


def test_safe_edge_healpix(energy_axis):
    geom = HpxGeom.create(nside=64, region="DISK(0,0,6)", frame="galactic", axes=[energy_axis])
    dataset = make_dataset(geom, energy_axis)
    mask = LATSafeMaskMaker(methods=["edge"], edge_width="2 deg").run(dataset).mask_safe.data[0]
    sep = geom.to_image().get_coord().skycoord.separation(SkyCoord(0, 0, unit="deg", frame="galactic")).deg
    # Pixel outlines are ragged: everything inside 3.5 deg is kept, nothing beyond 4.5 deg.
    assert mask[sep < 3.5].all()
    assert not mask[sep > 4.5].any()
    allsky = HpxGeom.create(nside=4, axes=[energy_axis])
    assert LATSafeMaskMaker(methods=["edge"], edge_width="2 deg").run(
        make_dataset(allsky, energy_axis)
    ).mask_safe.data.all()


def test_safe_exposure_and_offset(energy_axis):
    geom = WcsGeom.create(skydir=(0, 0), width=4, binsz=0.5, axes=[energy_axis], frame="galactic")
    dataset = make_dataset(geom, energy_axis)
    dataset.exposure.data[:, :, :3] = 0.0
    mask = LATSafeMaskMaker(methods=["exposure"]).run(dataset).mask_safe.data
    assert not mask[:, :, :3].any() and mask[:, :, 3:].all()

    dataset = make_dataset(geom, energy_axis)
    position = SkyCoord(0, 0, unit="deg", frame="galactic")
    mask = LATSafeMaskMaker(methods=["offset-max"], offset_max="1 deg", position=position).run(dataset)
    sep = geom.to_image().separation(position).deg
    np.testing.assert_array_equal(mask.mask_safe.data[3], sep < 1)


def test_safe_aeff_max(energy_axis):
    geom = WcsGeom.create(skydir=(0, 0), width=2, binsz=0.5, axes=[energy_axis], frame="galactic")
    dataset = make_dataset(geom, energy_axis)
    energy_true = dataset.exposure.geom.axes["energy_true"].center.to_value("MeV")
    # Exposure rising as E^0.5 up to 10 GeV: 10 % of the maximum is reached at 100 MeV.
    profile = np.clip(energy_true / 1e4, 0, 1) ** 0.5
    dataset.exposure.data = profile[:, None, None] * np.ones(dataset.exposure.data.shape)
    mask = LATSafeMaskMaker(methods=["aeff-max"], aeff_percent=20).run(dataset).mask_safe.data
    threshold = 1e4 * 0.2**2  # 400 MeV
    edges = energy_axis.edges.to_value("MeV")
    first_true_above = energy_true[np.argmax(profile > 0.2)]
    expected = edges[:-1] >= first_true_above * (1 - 1e-9)
    np.testing.assert_array_equal(mask.all(axis=(1, 2)), expected)
    # The threshold is the first true-energy bin centre above 400 MeV (0.125 dex bins).
    assert 1 <= first_true_above / threshold < 10**0.125


def test_registry_and_bad_method():
    assert MAKER_REGISTRY.get_cls("LATSafeMaskMaker") is LATSafeMaskMaker
    with pytest.raises(ValueError, match="not valid"):
        LATSafeMaskMaker(methods=["bkg-peak"])
