"""Analysis config: schema, templates, path resolution and early, clear failures."""
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from gammapy_lat.analysis import AnalysisConfig
from gammapy_lat.analysis.config import (
    DL4DatasetsConfig,
    IACTDatasetsConfig,
    LATDatasetsConfig,
)
from gammapy_lat.cli import cli
from gammapy_lat.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SHIPPED = sorted(p for p in CONFIGS.glob("*.yaml") if "datasets" in yaml.safe_load(p.read_text()))

MINIMAL = """
datasets:
  - instrument: iact
    name: hess
    datastore: gammapy-data/hess-dl3-dr1
    geom: {wcs: {skydir: {lon: 83.633 deg, lat: 22.014 deg}}}
"""


def _config(extra=None, block=None):
    data = yaml.safe_load(MINIMAL)
    data["datasets"][0].update(block or {})
    data.update(extra or {})
    return data


def _error(data):
    with pytest.raises(ConfigError) as excinfo:
        AnalysisConfig.from_dict(data)
    return str(excinfo.value)


def _keys(model_cls, data, where=""):
    """Keys of ``data`` missing from / unknown to the pydantic model, recursively."""
    from pydantic import BaseModel

    fields = model_cls.model_fields
    problems = [f"missing {where}{k}" for k in fields if k not in data]
    problems += [f"unknown {where}{k}" for k in data if k not in fields]
    for key, value in data.items():
        if key not in fields or not isinstance(value, dict) or key == "datasets":
            continue
        annotation = fields[key].annotation
        for cls in getattr(annotation, "__args__", (annotation,)):
            if isinstance(cls, type) and issubclass(cls, BaseModel):
                problems += _keys(cls, value, f"{where}{key}.")
                break
    return problems


@pytest.mark.parametrize("kind", ["lat", "iact", "joint"])
def test_template_is_valid_and_documents_every_key(kind):
    text = AnalysisConfig.template(kind)
    config = AnalysisConfig.from_yaml(text)
    data = yaml.safe_load(text)
    classes = {"lat": LATDatasetsConfig, "iact": IACTDatasetsConfig, "dl4": DL4DatasetsConfig}
    problems = _keys(AnalysisConfig, data)
    for block in data["datasets"]:
        problems += _keys(classes[block["instrument"]], block, f"datasets.{block['name']}.")
    assert problems == []
    assert {b.instrument for b in config.datasets} == ({"lat", "iact", "dl4"} if kind == "joint" else {kind})
    # every setting line carries a comment or belongs to a commented section
    assert text.count("#") > 60


def test_template_cli(tmp_path):
    out = tmp_path / "c.yaml"
    result = CliRunner().invoke(cli, ["config", "--template", "iact", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text() == AnalysisConfig.template("iact")
    result = CliRunner().invoke(cli, ["config", "--template", "iact", "-o", str(out)])
    assert result.exit_code != 0 and "already exists" in result.output


def test_quantities_roundtrip():
    config = AnalysisConfig.from_yaml(MINIMAL)
    block = config.datasets[0]
    assert block.geom.axes.energy.min.to_value("TeV") == 1
    again = AnalysisConfig.from_yaml(config.to_yaml())
    assert again.to_dict() == config.to_dict()


@pytest.mark.parametrize(
    "data, expected",
    [
        (_config(block={"foo": 1}), "datasets[0].foo: unknown key"),
        (_config(extra={"fitt": {}}), "fitt: unknown key"),
        (_config(block={"offset_max": "2 TeV"}), "datasets[0].offset_max: wrong unit 'TeV'"),
        (
            _config(block={"geom": {"wcs": {"skydir": {"lon": "83 deg", "lat": "22 deg"}},
                                    "axes": {"energy": {"min": "1 deg", "max": "10 TeV", "nbins": 3}}}}),
            "datasets[0].geom.axes.energy.min: wrong unit 'deg'",
        ),
        (_config(block={"fit_range": {"min": "20 TeV"}}), "fit_range.min=20.0 TeV is not below the energy axis max"),
        (_config(block={"fit_range": {"min": "5 TeV", "max": "2 TeV"}}), "datasets[0].fit_range: energy range is empty"),
        (_config(extra={"fit": {"energy_range": {"max": "0.5 TeV"}}}), "fit.energy_range vs datasets[0] (hess)"),
        (
            _config(extra={"estimators": {"flux_points": {"source": "s", "energy": {"min": "20 TeV", "max": "50 TeV", "nbins": 2}}}}),
            "estimators.flux_points.energy (20.0 TeV - 50.0 TeV) does not overlap",
        ),
        (_config(block={"instrument": "hawc"}), "datasets[0]: unknown instrument 'hawc'"),
        (_config(block={"type": "1d"}), "a 1d reduction needs 'on_region'"),
        (_config(block={"type": "1d", "on_region": {"lon": "1 deg", "lat": "2 deg"}, "background": {"method": "reflected"}}),
         "set containment_correction: false"),
        ({"datasets": []}, "datasets: List should have at least 1 item"),
        (_config(extra={"models": [{"file": "m.yaml", "datasets": ["lat"]}]}), "no datasets block named 'lat'"),
        (_config(extra={"models": [{"file": "m.txt"}]}), "cannot guess the format of 'm.txt'"),
    ],
)
def test_invalid_config_names_key_and_problem(data, expected):
    assert expected in _error(data)


def test_invalid_lat_energy_ranges():
    block = yaml.safe_load(AnalysisConfig.template("lat"))["datasets"][0]
    block["geom"]["axes"]["energy"]["max"] = "100 GeV"
    msg = _error({"datasets": [block]})
    assert "geom.axes.energy.max=100.0 GeV is above selection.energy.max=20.0 GeV" in msg
    block = yaml.safe_load(AnalysisConfig.template("lat"))["datasets"][0]
    block["components"] = [{"evtype": 4}, {"evtype": 4}]
    assert "component names are not unique" in _error({"datasets": [block]})


def test_duplicate_block_names():
    data = _config()
    data["datasets"].append(dict(data["datasets"][0]))
    assert "block names must be unique, repeated: ['hess']" in _error(data)


def test_missing_files_named_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setenv("GAMMAPY_LAT_DATA", str(tmp_path))
    config = AnalysisConfig.from_dict(_config(extra={"models": [{"file": "./nope.yaml"}]}), base_dir=tmp_path)
    with pytest.raises(ConfigError) as excinfo:
        config.check_inputs()
    msg = str(excinfo.value)
    assert f"datasets[0].datastore: not found: {tmp_path / 'gammapy-data/hess-dl3-dr1'}" in msg
    assert f"models[0].file: file not found: {tmp_path / 'nope.yaml'}" in msg


def test_path_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("GAMMAPY_LAT_DATA", "/data/root")
    monkeypatch.setenv("OTHER", "/other")
    config = AnalysisConfig.from_dict(_config(), base_dir=tmp_path)
    assert config.resolve_path("a/b.fits") == Path("/data/root/a/b.fits")
    assert config.resolve_path("./m.yaml") == tmp_path / "m.yaml"
    assert config.resolve_path("$OTHER/x") == Path("/other/x")
    assert config.resolve_path("/abs/x") == Path("/abs/x")
    config.general.data_root = "/explicit"
    assert config.resolve_path("a") == Path("/explicit/a")
    monkeypatch.delenv("GAMMAPY_LAT_DATA")
    config.general.data_root = None
    assert config.resolve_path("a") == tmp_path / "a"
    with pytest.raises(ConfigError, match="Undefined environment variable"):
        config.resolve_path("$NOT_DEFINED_ANYWHERE_X/a")


def test_validate_cli_one_line_error(tmp_path):
    path = tmp_path / "bad.yaml"
    data = _config(block={"geom": {"wcs": {"skydir": {"lon": "83 deg", "lat": "22 deg"}, "binsize": "0.1 TeV"}}})
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1
    assert "datasets[0].geom.wcs.binsize: wrong unit 'TeV'" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_configs_validate(path, shared_path, monkeypatch):
    monkeypatch.setenv("GAMMAPY_LAT_DATA", str(shared_path / "data"))
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output


def test_models_entries_xml_and_catalog(shared_path, monkeypatch):
    """gtlike XML and catalog entries are read through gammapy_lat.models, restricted to blocks."""
    from gammapy_lat.analysis.modelbuilder import build_models, read_models_entry

    monkeypatch.setenv("GAMMAPY_LAT_DATA", str(shared_path / "data"))
    data = _config(
        extra={
            "models": [
                {"file": "lat/crab-1day/source_model.xml", "missing_files": "skip", "datasets": ["hess"]},
                {
                    "catalog": {
                        "catalog": "gammapy-data/catalogs/fermi/gll_psc_v16.fit.gz",
                        "type": "3fgl",
                        "center": {"lon": "83.63 deg", "lat": "22.01 deg"},
                        "radius": "3 deg",
                        "margin": "1 deg",
                    }
                },
            ]
        }
    )
    config = AnalysisConfig.from_dict(data)
    config.check_inputs()
    xml = read_models_entry(config.models[0], config)
    # the Galactic diffuse template of the XML file is not in the kit: that source is left out
    assert xml.names == ["Extragal_diffuse", "Crab"]
    catalog = read_models_entry(config.models[1], config)
    assert "3FGL J0534.5+2201" in catalog.names  # the Crab pulsar
    assert all(name.startswith("3FGL") for name in catalog.names)

    class _Datasets:
        names = ["hess-1", "hess-2"]

    models = build_models(config, {"hess": _Datasets()})
    assert models["Crab"].datasets_names == ["hess-1", "hess-2"]
    assert models["3FGL J0534.5+2201"].datasets_names is None


def test_file_specifications(tmp_path, monkeypatch):
    """Files given as a folder (weekly files), a glob or an @list are expanded, sorted."""
    monkeypatch.setenv("GAMMAPY_LAT_DATA", str(tmp_path))
    weekly = tmp_path / "weekly"
    weekly.mkdir()
    for name in ("w002.fits", "w001.fits", "notes.txt"):
        (weekly / name).write_text("")
    (tmp_path / "files.lst").write_text("# weekly files\nweekly/w001.fits\n\n/abs/x.fits\n")
    config = AnalysisConfig.from_dict(_config(), base_dir=tmp_path)
    assert config.resolve_paths("weekly") == [weekly / "w001.fits", weekly / "w002.fits"]
    assert config.resolve_paths("weekly/*.fits") == [weekly / "w001.fits", weekly / "w002.fits"]
    assert config.resolve_paths("@files.lst") == [tmp_path / "weekly/w001.fits", Path("/abs/x.fits")]


def test_analysis_fails_before_any_work(tmp_path, monkeypatch):
    """A missing input stops `Analysis` (and `gammapy-lat run`) before anything is written."""
    from gammapy_lat.analysis import Analysis

    monkeypatch.setenv("GAMMAPY_LAT_DATA", str(tmp_path))
    outdir = tmp_path / "out"
    data = _config(extra={"general": {"outdir": str(outdir)}})
    with pytest.raises(ConfigError, match=r"datasets\[0\].datastore: not found"):
        Analysis(data)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(cli, ["run", str(path)])
    assert result.exit_code == 1 and "datasets[0].datastore: not found" in result.output
    assert not outdir.exists()
    result = CliRunner().invoke(cli, ["run", str(path), "--steps", "plot"])
    assert result.exit_code == 2 and "unknown step(s) ['plot']" in result.output
