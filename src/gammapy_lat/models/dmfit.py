"""The LAT ``DMFitFunction``: gamma rays from dark-matter annihilation, from the DMFit yield table.

.. math::

    \\frac{dN}{dE} = \\frac{N \\langle\\sigma v\\rangle}{8 \\pi m^2}
    \\left[b\\, Y_{c_0}(E; m) + (1 - b)\\, Y_{c_1}(E; m)\\right]

with N the normalisation (the J factor, GeV² cm⁻⁵), ⟨σv⟩ in cm³ s⁻¹, the mass m in GeV, the
branching ratio b between the channels c₀ and c₁, and Y the photon yield per annihilation
(per GeV, converted to per MeV). The yields come from the table distributed with the Fermitools
(``gammamc_dif.dat``): 12 channels × 24 masses (2 GeV to 10 TeV) × 250 bins in
:math:`z = (\\log_{10}(E/m) + 10) / 10`. As the Likelihood DMFit code, the table is interpolated
linearly in z between bin centres and linearly in m² between the tabulated masses, and the yield
is zero for E ≥ m, for m above 10 TeV and outside the z range. Masses below the first tabulated
mass (2 GeV) are not covered by the table and give an error.

Channel numbers are those of the XML ``channel0``/``channel1`` parameters (DMFit numbering:
1 e⁺e⁻, 2 μ⁺μ⁻, 3 τ⁺τ⁻, 4 b b̄, 5 t t̄, 6 gg, 7 W⁺W⁻, 8 ZZ, 9 c c̄, 10-12 light quarks), mapped
to the blocks of the table as the Likelihood code does (an unknown number gives the τ⁺τ⁻ block).
"""
from pathlib import Path

import astropy.units as u
import numpy as np
from gammapy.modeling import Parameter
from gammapy.modeling.models import SPECTRAL_MODEL_REGISTRY, SpectralModel
from gammapy.modeling.models.core import _build_parameters_from_dict

from ..errors import LATFileError

__all__ = ["DMFitTable", "LATDMFitSpectralModel"]

#: Masses (GeV) of the rows of the DMFit table.
DMFIT_MASSES = np.array(
    [2, 4, 6, 8, 10, 25, 50, 80.3, 91.2, 100, 150, 176, 200, 250, 350, 500, 750, 1000, 1500, 2000,
     3000, 5000, 7000, 10000], dtype=float,
)  # fmt: skip
_NZ = 250
_NCHANNEL = 12
#: XML channel number -> block of the table (1-based), as in the DMFit code.
_CHANNEL_BLOCK = {1: 9, 2: 7, 3: 4, 4: 2, 5: 3, 6: 8, 7: 5, 8: 6, 9: 1, 10: 10, 11: 11, 12: 12}
_DEFAULT_BLOCK = 4


class DMFitTable:
    """The DMFit photon-yield table.

    Parameters
    ----------
    values : `~numpy.ndarray`
        Yields, shape (12 channel blocks, 24 masses, 250 z bins), in the order of the file.
    filename : str, optional
        Origin.
    """

    def __init__(self, values, filename=None):
        values = np.asarray(values, dtype=float)
        if values.shape != (_NCHANNEL, DMFIT_MASSES.size, _NZ):
            raise ValueError(f"DMFit table must have shape (12, 24, 250), got {values.shape}")
        # pad one bin on each side in z with the edge values (z index -1 and 250)
        self.values = np.concatenate([values[..., :1], values, values[..., -1:]], axis=-1)
        self.filename = filename

    @classmethod
    def read(cls, filename):
        """Read ``gammamc_dif.dat``: 12 × 24 × 250 numbers, whitespace separated."""
        path = Path(filename).expanduser()
        try:
            numbers = np.array(path.read_text().split(), dtype=float)
        except OSError as exc:
            raise LATFileError(f"Cannot read the DMFit table {path}: {exc}") from exc
        except ValueError as exc:
            raise LATFileError(f"DMFit table {path} holds something that is not a number: {exc}") from exc
        expected = _NCHANNEL * DMFIT_MASSES.size * _NZ
        if numbers.size != expected:
            raise LATFileError(
                f"DMFit table {path} has {numbers.size} values; expected {expected} "
                "(12 channels x 24 masses x 250 energy bins)"
            )
        return cls(numbers.reshape(_NCHANNEL, DMFIT_MASSES.size, _NZ), filename=str(path))

    def yield_per_gev(self, energy_gev, mass, channel):
        """Photon yield dN/dE per annihilation (GeV⁻¹) at energies E (GeV) for one mass (GeV)."""
        energy_gev = np.asarray(energy_gev, dtype=float)
        mass = float(mass)
        if mass < DMFIT_MASSES[0]:
            raise ValueError(f"DMFit mass {mass} GeV is below the lowest tabulated mass {DMFIT_MASSES[0]} GeV")
        block = _CHANNEL_BLOCK.get(int(round(channel)), _DEFAULT_BLOCK) - 1
        out = np.zeros(energy_gev.shape)
        if mass > DMFIT_MASSES[-1]:
            return out
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (np.log10(energy_gev / mass) + 10.0) / 10.0
        # bin centres of the padded table: (i + 0.5) / 250 for i = -1 .. 250
        nodes = (np.arange(-1, _NZ + 1) + 0.5) / _NZ
        valid = (energy_gev < mass) & (z >= nodes[0]) & (z < nodes[-1])
        idx = np.clip(np.searchsorted(nodes, z, side="right") - 1, 0, nodes.size - 2)
        frac = (z - nodes[idx]) / (nodes[idx + 1] - nodes[idx])

        def at_mass(k):
            row = self.values[block, k]
            return (1.0 - frac) * row[idx] + frac * row[idx + 1]

        if mass == DMFIT_MASSES[-1]:
            value = at_mass(DMFIT_MASSES.size - 1)
        else:
            k = int(np.searchsorted(DMFIT_MASSES, mass, side="right") - 1)
            m1, m2 = DMFIT_MASSES[k], DMFIT_MASSES[k + 1]
            phi1, phi2 = at_mass(k), at_mass(k + 1)
            value = phi1 + (phi2 - phi1) * (mass**2 - m1**2) / (m2**2 - m1**2)
        out[valid] = (value / energy_gev)[valid]
        return out


class LATDMFitSpectralModel(SpectralModel):
    """LAT ``DMFitFunction`` (see the module docstring).

    Parameters
    ----------
    table : `DMFitTable`
        Yield table.
    norm : float
        N, in GeV² cm⁻⁵ (XML ``norm``).
    sigmav : float
        ⟨σv⟩ in cm³ s⁻¹ (XML ``sigmav``).
    mass : float
        Mass in GeV (XML ``mass``).
    bratio : float
        Branching ratio of ``channel0`` (XML ``bratio``).
    channel0, channel1 : int
        DMFit channel numbers (always frozen).
    """

    tag = ["LATDMFitSpectralModel", "lat-dmfit"]
    norm = Parameter("norm", 5e18, frozen=True)
    sigmav = Parameter("sigmav", 3e-26)
    mass = Parameter("mass", 100.0)
    bratio = Parameter("bratio", 1.0, frozen=True)
    channel0 = Parameter("channel0", 4, frozen=True)
    channel1 = Parameter("channel1", 1, frozen=True)

    def __init__(self, table, **kwargs):
        self.table = table
        super().__init__(**kwargs)
        self.channel0.frozen = True
        self.channel1.frozen = True

    @property
    def filename(self):
        """The yield table file."""
        return self.table.filename

    @classmethod
    def read(cls, filename, **kwargs):
        """Model with the yield table of a file (see `DMFitTable.read`)."""
        return cls(DMFitTable.read(filename), **kwargs)

    def evaluate(self, energy, norm, sigmav, mass, bratio, channel0, channel1):
        """Evaluate the model."""
        e_gev = u.Quantity(energy, "MeV").to_value("GeV")
        values = [np.ravel(np.asarray(v, float)) for v in (norm, sigmav, mass, bratio, channel0, channel1)]
        n, sv, m, b, c0, c1 = (float(v[0]) for v in values)
        yields = b * self.table.yield_per_gev(e_gev, m, c0) + (1.0 - b) * self.table.yield_per_gev(e_gev, m, c1)
        value = n * sv / m**2 * yields / 1000.0 / (8.0 * np.pi)
        return u.Quantity(value, "cm-2 s-1 MeV-1")

    def to_dict(self, full_output=False):
        data = super().to_dict(full_output=full_output)
        data["spectral"]["filename"] = self.filename
        return data

    @classmethod
    def from_dict(cls, data, **kwargs):
        data = data.get("spectral", data)
        model = cls.read(data["filename"])
        if "parameters" in data:
            parameters = _build_parameters_from_dict(data["parameters"], cls.default_parameters)
            for par in parameters:
                setattr(model, par.name, par)
        return model


if LATDMFitSpectralModel not in SPECTRAL_MODEL_REGISTRY:
    SPECTRAL_MODEL_REGISTRY.append(LATDMFitSpectralModel)
