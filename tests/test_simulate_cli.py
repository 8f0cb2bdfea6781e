"""``gammapy-lat simulate``: YAML config (validated), embedded default, outputs readable as FT1/FT2."""
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from gammapy_lat.cli import cli
from gammapy_lat.errors import ConfigError
from gammapy_lat.simulate.config import SimulationConfig, default_config_text


def test_default_config_is_valid_and_complete():
    config = SimulationConfig.default()
    models = config.get_models()
    assert [m.name for m in models] == ["bright_source", "galactic_ridge", "isotropic"]
    # the text is YAML for safe_load and round-trips through the schema
    data = yaml.safe_load(default_config_text())
    assert SimulationConfig(**data).time.duration == "3 d"


@pytest.mark.parametrize(
    "text,message",
    [
        ("time: {duration: 3 km}", "time.duration"),
        ("bogus: 1", "bogus"),
        ("events: {energy_range: [1 GeV, 100 MeV]}", "events.energy_range"),
        ("spacecraft: {rocking: {profile: zigzag}}", "spacecraft.rocking.profile"),
        ("[1, 2]", "mapping"),
        ("models: [{name: x, type: SkyModel, spectral: {type: NoSuchModel}}]", "models"),
    ],
)
def test_invalid_configs_name_the_key(text, message):
    with pytest.raises(ConfigError, match=message):
        config = SimulationConfig.from_yaml(text)
        config.get_models()


def test_cli_writes_readable_ft1_ft2(tmp_path):
    from gammapy_lat.data import read_events, read_spacecraft

    runner = CliRunner()
    cfg = tmp_path / "sim.yaml"
    result = runner.invoke(cli, ["simulate", "--write-default", str(cfg)])
    assert result.exit_code == 0, result.output
    text = cfg.read_text().replace("duration: 3 d", "duration: 0.25 d")
    cfg.write_text(text)
    out = tmp_path / "out"
    args = ["simulate", str(cfg), "--outdir", str(out), "--synthetic", "--seed", "5"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC" in result.output
    events = read_events(out / "ft1.fits")
    spacecraft = read_spacecraft(out / "ft2.fits")
    assert len(events) > 20
    assert events.header["IRF_NAME"].startswith("P8R3_SYNTHETIC")
    assert spacecraft.tstart == 239557417.0
    assert spacecraft.tstop == pytest.approx(239557417.0 + 0.25 * 86400)
    assert np.all(events.time >= spacecraft.tstart) and np.all(events.time <= spacecraft.tstop)
    # existing outputs are kept unless --clobber; same seed, same events
    result = runner.invoke(cli, args)
    assert result.exit_code != 0 and "already exists" in result.output
    result = runner.invoke(cli, args + ["--clobber"])
    assert result.exit_code == 0, result.output
    again = read_events(out / "ft1.fits")
    assert np.array_equal(np.asarray(again.table["TIME"]), np.asarray(events.table["TIME"]))
    # invalid config: one-line error naming the key
    cfg.write_text(text + "\nbogus: 1\n")
    result = runner.invoke(cli, ["simulate", str(cfg), "--validate"])
    assert result.exit_code == 1 and "bogus" in result.output
