"""Joint Crab fits across instruments.

1. The five-instrument joint-Crab spectra (Fermi-LAT, MAGIC, H.E.S.S., VERITAS, FACT; OGIP),
   fitted with one log-parabola, with flux points per instrument (broadband SED).
2. LAT events (one day) + H.E.S.S. DL3 runs, reduced here, fitted with one shared Crab model;
   the LAT dataset keeps its own isotropic background.

    python examples/analysis_joint_crab.py [OUTDIR]
"""
import os
import sys
from pathlib import Path

from gammapy_lat.analysis import Analysis, AnalysisConfig
from gammapy_lat.utils.testing import shared_data_path

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def run(name, outdir):
    config = AnalysisConfig.read(CONFIGS / f"{name}.yaml")
    config.general.outdir = str(Path(outdir) / name)
    analysis = Analysis(config)
    analysis.run()
    print(analysis.summary())
    for block, datasets in analysis.block_datasets.items():
        print(f"{block}: {datasets.names}")
    return analysis


def main(outdir="joint-crab"):
    os.environ.setdefault("GAMMAPY_LAT_DATA", str(shared_data_path("data")))
    five = run("joint-crab-spectra", outdir)
    print(five.models["crab"].spectral_model)
    run("joint-crab-lat-hess", outdir)
    print(f"SED plots: {Path(outdir) / '*' / 'report' / 'sed.png'}")


if __name__ == "__main__":
    main(*sys.argv[1:])
