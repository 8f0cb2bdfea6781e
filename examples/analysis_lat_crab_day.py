"""LAT-only analysis with the Python API: one day of Fermi-LAT data around the Crab.

Reduces the FT1/FT2 files of the reference data kit with gammapy_lat's makers, fits the Crab as a
power law on top of the isotropic background, computes flux points and writes a report.

    python examples/analysis_lat_crab_day.py [OUTDIR]

Data are found through GAMMAPY_LAT_DATA (default: the data folder of the reference kit).
"""
import os
import sys
from pathlib import Path

from gammapy_lat.analysis import Analysis, AnalysisConfig
from gammapy_lat.utils.testing import shared_data_path

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def main(outdir="lat-crab-day"):
    os.environ.setdefault("GAMMAPY_LAT_DATA", str(shared_data_path("data")))
    config = AnalysisConfig.read(CONFIGS / "lat-crab-day.yaml")
    config.general.outdir = outdir
    analysis = Analysis(config)

    datasets = analysis.reduce()          # one MapDataset per event-type component
    print(datasets[0])
    analysis.fit()
    print(analysis.models["crab"].spectral_model)
    analysis.estimate()                   # flux points
    analysis.report()                     # report/summary.txt, report/sed.png
    print(analysis.summary())


if __name__ == "__main__":
    main(*sys.argv[1:])
