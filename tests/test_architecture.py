"""The package's structure: layers that only point down, one reduction path for every entry point,
stateless makers, one spelling of the IRF name (docs/architecture.md)."""
import ast
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from gammapy.maps import MapAxis, WcsGeom

from gammapy_lat.analysis import Analysis, AnalysisConfig
from gammapy_lat.cli import cli
from gammapy_lat.makers import LATMapDatasetMaker, LATSafeMaskMaker, create_lat_map_dataset
from gammapy_lat.observations import LATObservation
from gammapy_lat.pipeline import AllSkyConfig

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "gammapy_lat"
CONFIGS = Path(__file__).resolve().parents[1] / "configs"

#: The layers of docs/architecture.md, bottom first; a package may import only from its own layer
#: or the layers below it.
LAYERS = [
    {"__init__", "errors", "utils"},
    {"data"},
    {"livetime"},
    {"irf"},
    {"observations"},
    {"datasets"},
    {"models", "modeling"},
    {"makers"},
    {"estimators", "iact"},
    {"analysis", "pipeline", "simulate"},
    {"cli"},
]


def _layer(package):
    for level, names in enumerate(LAYERS):
        if package in names:
            return level
    raise AssertionError(f"package {package!r} is in no layer of docs/architecture.md")


def _imported_packages(path):
    """Top-level gammapy_lat packages imported by a module (anywhere in it)."""
    rel = path.relative_to(PACKAGE)
    own = rel.parts[0] if len(rel.parts) > 1 else rel.stem
    depth = len(rel.parts) - 1  # folders between the module and the package root
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if not (node.module or "").startswith("gammapy_lat"):
                    continue
                parts = node.module.split(".")[1:]
                names = [parts[0]] if parts else [a.name for a in node.names]
            elif node.level <= depth:
                continue  # inside the module's own package
            else:
                parts = (node.module or "").split(".")
                names = [parts[0]] if parts[0] else [a.name for a in node.names]
            found.update(n for n in names if n != own)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "gammapy_lat" and len(parts) > 1 and parts[1] != own:
                    found.add(parts[1])
    return own, found


def test_layers_only_point_down():
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        own, imported = _imported_packages(path)
        for target in imported:
            if target == "__version__":
                continue
            if _layer(target) > _layer(own):
                problems.append(f"{path.relative_to(PACKAGE)} ({own}) imports {target}")
    assert not problems, "imports pointing up: " + "; ".join(problems)


def test_every_package_is_in_a_layer():
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    for name in packages | modules:
        _layer(name)


def test_errors_live_in_errors_module():
    """Every exception class of the package is defined in gammapy_lat/errors.py."""
    defined = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                getattr(base, "id", "").endswith(("Error", "Exception")) for base in node.bases
            ):
                if not node.name.startswith("_"):
                    defined.append(f"{path.relative_to(PACKAGE)}:{node.name}")
    assert not defined, defined


def test_moved_names_still_resolve_with_a_warning():
    import gammapy_lat.data
    import gammapy_lat.makers
    import gammapy_lat.models
    import gammapy_lat.observations

    with pytest.warns(DeprecationWarning, match="gammapy_lat.observations.LATObservation"):
        assert gammapy_lat.data.LATObservation is gammapy_lat.observations.LATObservation
    with pytest.warns(DeprecationWarning, match="gammapy_lat.models.create_isotropic_model"):
        assert gammapy_lat.makers.create_isotropic_model is gammapy_lat.models.create_isotropic_model
    with pytest.raises(AttributeError):
        _ = gammapy_lat.makers.no_such_name


# ------------------------------------------------------------------------------ reduction path
@pytest.fixture
def data_env(shared_path, monkeypatch):
    monkeypatch.setenv("GAMMAPY_LAT_DATA", str(shared_path / "data"))
    return shared_path / "data"


def _small_runner_config(tmp_path):
    config = AnalysisConfig.read(CONFIGS / "lat-crab-day.yaml")
    config.general.outdir = str(tmp_path / "runner")
    config.general.progress_bar = False
    block = config.datasets[0]
    block.geom.wcs.width = {"width": "3 deg", "height": "3 deg"}
    block.geom.wcs.binsize = "0.5 deg"
    block.geom.wcs.binsize_irf = "1.5 deg"
    block.geom.axes.energy = {"min": "1 GeV", "max": "10 GeV", "nbins": 2}
    block.edisp.enabled = False
    config.estimators.flux_points = None
    return config


def _api_dataset(crab_day, caldb_path, block):
    """The README's Python example on the same geometry as the runner block."""
    observation = LATObservation.read(
        crab_day / "ft1.fits.gz", crab_day / "ft2.fits.gz", obs_id=1, irf_name="P8R2_SOURCE_V6", caldb=caldb_path,
        ltcube=crab_day / "ltcube.fits.gz",
    )
    axis = MapAxis.from_energy_bounds("1 GeV", "10 GeV", 2, name="energy")
    geom = WcsGeom.create(skydir=block.geom.wcs.skydir.to_skycoord(), binsz=0.5, width=3, frame="icrs", axes=[axis])
    dataset = LATMapDatasetMaker(selection=["counts", "exposure"]).run(create_lat_map_dataset(geom), observation)
    return LATSafeMaskMaker(methods=["energy-range", "exposure"]).run(dataset, observation)


def test_runner_and_api_share_the_makers(data_env, crab_day, caldb_path, tmp_path, monkeypatch):
    """The runner's LAT block and the documented Python example build their datasets through
    the same LATMapDatasetMaker: a change of its exposure computation reaches both."""
    config = _small_runner_config(tmp_path)
    analysis = Analysis(config)
    analysis.reduce()
    runner_before = analysis.datasets[0].exposure.data.copy()
    api_before = _api_dataset(crab_day, caldb_path, config.datasets[0]).exposure.data.copy()

    original = LATMapDatasetMaker.make_exposure

    def doubled(self, geom, observation):
        exposure = original(self, geom, observation)
        exposure.data *= 2
        return exposure

    monkeypatch.setattr(LATMapDatasetMaker, "make_exposure", doubled)
    config.general.outdir = str(tmp_path / "runner-changed")
    changed = Analysis(config)
    changed.reduce()
    np.testing.assert_allclose(changed.datasets[0].exposure.data, 2 * runner_before, rtol=1e-6)
    api_after = _api_dataset(crab_day, caldb_path, config.datasets[0]).exposure.data
    np.testing.assert_allclose(api_after, 2 * api_before, rtol=1e-6)
    assert np.all(runner_before > 0)


def test_makers_keep_no_state(crab_day, caldb_path):
    """Running a maker on an observation leaves the maker unchanged; the observation carries the
    livetime cube and IRFs and shares them with its derived (event-type) observations."""
    observation = LATObservation.read(
        crab_day / "ft1.fits.gz", crab_day / "ft2.fits.gz", caldb=caldb_path, ltcube_kwargs={"nside": 8, "nbins": 5}
    )
    axis = MapAxis.from_energy_bounds("1 GeV", "10 GeV", 1, name="energy")
    geom = WcsGeom.create(skydir=(83.63, 22.01), binsz=1, width=2, frame="icrs", axes=[axis])
    maker = LATMapDatasetMaker(selection=["counts", "exposure"], evtype="FRONT")
    before = dict(vars(maker))
    front = maker.run(create_lat_map_dataset(geom), observation)
    assert vars(maker).keys() == before.keys()
    assert all(vars(maker)[k] is before[k] or vars(maker)[k] == before[k] for k in before)
    # the FRONT observation shares the parent's livetime cube (same zenith cut): computed once
    derived = maker.observation_for(observation)
    assert derived.evtype == 1 and derived.ltcube is observation.ltcube
    both = LATMapDatasetMaker(selection=["counts", "exposure"]).run(create_lat_map_dataset(geom), observation)
    assert front.counts.data.sum() < both.counts.data.sum()
    # FRONT effective area is below the FRONT+BACK one everywhere
    assert np.all(front.exposure.data < both.exposure.data)


# ------------------------------------------------------------------------------ IRF name spelling
def test_irf_name_aliases_in_configs():
    base = {"ft1": "x.fits", "ft2": "y.fits", "components": [{"name": "a"}]}
    assert AllSkyConfig.from_dict(dict(base, irf_name="P8R2_SOURCE_V6")).irf_name == "P8R2_SOURCE_V6"
    with pytest.warns(FutureWarning, match="'irfs' is deprecated.*irf_name"):
        assert AllSkyConfig.from_dict(dict(base, irfs="P8R2_SOURCE_V6")).irf_name == "P8R2_SOURCE_V6"
    block = {
        "instrument": "lat", "name": "lat", "events": "a.fits", "spacecraft": "b.fits", "irf": "P8R2_SOURCE_V6",
        "selection": {"roi": {"lon": "83 deg", "lat": "22 deg", "radius": "10 deg"}},
        "geom": {"axes": {"energy": {"min": "1 GeV", "max": "10 GeV", "nbins": 2}}},
    }
    with pytest.warns(FutureWarning, match="'irf' is deprecated.*irf_name"):
        config = AnalysisConfig.from_dict({"datasets": [block]})
    assert config.datasets[0].irf_name == "P8R2_SOURCE_V6"
    with pytest.raises(Exception, match="not also its deprecated name"), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        AnalysisConfig.from_dict({"datasets": [dict(block, irf_name="P8R2_SOURCE_V6")]})


@pytest.mark.parametrize("option", ["--irf_name", "--irfs", "--irf"])
def test_irf_name_options_of_the_cli(crab_day, caldb_path, tmp_path, option):
    out = tmp_path / "expcube.fits"
    args = [
        "expcube", "--ltcube", str(crab_day / "ltcube.fits.gz"), option, "P8R2_SOURCE_V6", "--caldb", str(caldb_path),
        "--nxpix", "2", "--nypix", "2", "--binsz", "1", "--xref", "83.6", "--yref", "22.0",
        "--emin", "1000", "--emax", "10000", "--enumbins", "1", "-o", str(out),
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert out.is_file()
    assert ("deprecated" in result.output) == (option == "--irf")


def test_event_types_have_one_grammar():
    """The selection API, the CALDB look-up and every config read event types the same way."""
    from gammapy_lat.data import evtype_mask
    from gammapy_lat.irf import parse_event_types

    for spelling in (3, "3", "FB", "FRONT+BACK", ["FRONT", "BACK"], "FRONT,BACK"):
        assert evtype_mask(spelling) == 3
        assert parse_event_types(spelling) == ["FRONT", "BACK"]
        base = {"ft1": "x.fits", "ft2": "y.fits", "components": [{"name": "a", "evtype": spelling}]}
        assert AllSkyConfig.from_dict(base).components[0].evtype_mask == 3
    assert evtype_mask("PSF2+PSF3") == 48
    with pytest.raises(Exception, match="Unknown event type"):
        evtype_mask("SIDE")


def test_default_filter_is_written_once():
    """The runner, the all-sky pipeline and the mktime command default to data.DEFAULT_FILTER."""
    from gammapy_lat.analysis.config import LATMkTimeConfig
    from gammapy_lat.cli.mktime import mktime_command
    from gammapy_lat.data import DEFAULT_FILTER

    assert LATMkTimeConfig().filter == DEFAULT_FILTER
    assert AllSkyConfig.from_dict({"ft1": "x", "ft2": "y", "components": [{"name": "a"}]}).filter == DEFAULT_FILTER
    option = next(p for p in mktime_command.params if p.name == "filter_expr")
    assert option.default is None and DEFAULT_FILTER in option.help
