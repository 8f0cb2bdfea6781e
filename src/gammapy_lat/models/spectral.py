"""Spectral models with the exact formulas of the Fermi-LAT Science Tools.

Gammapy already provides exact equivalents of the LAT ``PowerLaw``, ``PowerLaw2``,
``BrokenPowerLaw``, ``LogParabola`` and ``PLSuperExpCutoff4`` functions. The classes here fill the
gaps, using the definitions of the Fermi Science Support Center model page (the functions of the
Fermitools ``Likelihood`` package), with energies in MeV:

======================================  ==================================================
LAT function                            Gammapy class
======================================  ==================================================
``ExpCutoff``                           `LATExpCutoffSpectralModel`
``PLSuperExpCutoff``                    `LATSuperExpCutoffSpectralModel`
``PLSuperExpCutoff2``                   `LATSuperExpCutoff2SpectralModel`
``BandFunction``                        `LATBandSpectralModel`
``SmoothBrokenPowerLaw``                `LATSmoothBrokenPowerLawSpectralModel`
``BrokenPowerLaw2``                     `LATBrokenPowerLaw2SpectralModel`
``FileFunction``                        `FileFunctionSpectralModel`
``DMFitFunction``                       `~gammapy_lat.models.dmfit.LATDMFitSpectralModel`
======================================  ==================================================

``Gaussian`` is Gammapy's `~gammapy.modeling.models.GaussianSpectralModel` (same definition),
and ``EblAtten::<function>`` is the function times Gammapy's
`~gammapy.modeling.models.EBLAbsorptionNormSpectralModel` (see `gammapy_lat.models.xml`).

Indices follow Gammapy's sign convention (``dN/dE ~ E^-index``): an XML ``Index`` of ``-2`` is an
``index`` of ``2`` here. The Band function keeps its customary signed ``alpha``/``beta``.

All classes are added to Gammapy's ``SPECTRAL_MODEL_REGISTRY`` on import so that YAML model files
using them can be read back with `~gammapy.modeling.models.Models.read`.
"""
import astropy.units as u
import numpy as np
from gammapy.modeling import Parameter
from gammapy.modeling.models import SPECTRAL_MODEL_REGISTRY, SpectralModel
from gammapy.modeling.models.core import _build_parameters_from_dict
from gammapy.utils.interpolation import ScaledRegularGridInterpolator

from .diffuse import read_isotropic_spectrum

__all__ = [
    "LATExpCutoffSpectralModel",
    "LATSuperExpCutoffSpectralModel",
    "LATSuperExpCutoff2SpectralModel",
    "LATBandSpectralModel",
    "LATSmoothBrokenPowerLawSpectralModel",
    "LATBrokenPowerLaw2SpectralModel",
    "FileFunctionSpectralModel",
    "read_file_function",
]

_DNDE_UNIT = "cm-2 s-1 MeV-1"


def _as_float(x):
    if isinstance(x, u.Quantity):
        return x.to_value(u.one)
    return x


class LATExpCutoffSpectralModel(SpectralModel):
    r"""LAT ``ExpCutoff``: power law with an exponential cut-off above a break energy.

    .. math::
        \phi(E) = \phi_0 \left(\frac{E}{E_0}\right)^{-\Gamma}
        \quad (E < E_b), \qquad
        \phi(E) = \phi_0 \left(\frac{E}{E_0}\right)^{-\Gamma}
        \exp\left[-\frac{E - E_b}{p_1} - p_2 \ln\frac{E}{E_b}
        - p_3 \ln^2\frac{E}{E_b}\right] \quad (E \ge E_b)

    Parameters
    ----------
    amplitude : `~astropy.units.Quantity`
        :math:`\phi_0` (XML ``Prefactor``).
    index : float
        :math:`\Gamma` (XML ``Index`` with the opposite sign).
    reference : `~astropy.units.Quantity`
        :math:`E_0` (XML ``Scale``).
    ebreak : `~astropy.units.Quantity`
        :math:`E_b` (XML ``Ebreak``).
    p1 : `~astropy.units.Quantity`
        Cut-off energy scale :math:`p_1` (XML ``P1``).
    p2, p3 : float
        Logarithmic shape terms (XML ``P2``, ``P3``).
    """

    tag = ["LATExpCutoffSpectralModel", "lat-expcutoff"]
    amplitude = Parameter("amplitude", f"1e-9 {_DNDE_UNIT}", scale_method="scale10", interp="log")
    index = Parameter("index", 2.0)
    reference = Parameter("reference", "1000 MeV", frozen=True)
    ebreak = Parameter("ebreak", "10000 MeV")
    p1 = Parameter("p1", "10000 MeV")
    p2 = Parameter("p2", 0.0, frozen=True)
    p3 = Parameter("p3", 0.0, frozen=True)

    @staticmethod
    def evaluate(energy, amplitude, index, reference, ebreak, p1, p2, p3):
        """Evaluate the model (static function)."""
        pwl = amplitude * (energy / reference) ** (-index)
        ln = np.log((energy / ebreak).to_value(u.one))
        arg = ((energy - ebreak) / p1).to_value(u.one) + _as_float(p2) * ln + _as_float(p3) * ln**2
        cutoff = np.where((energy < ebreak), 1.0, np.exp(-arg))
        return pwl * cutoff


class LATSuperExpCutoffSpectralModel(SpectralModel):
    r"""LAT ``PLSuperExpCutoff``: power law with a super-exponential cut-off.

    .. math::
        \phi(E) = \phi_0 \left(\frac{E}{E_0}\right)^{-\Gamma_1}
        \exp\left[-\left(\frac{E}{E_c}\right)^{\Gamma_2}\right]

    Unlike `~gammapy.modeling.models.SuperExpCutoffPowerLaw3FGLSpectralModel` the prefactor is not
    renormalised at :math:`E_0`. With :math:`\Gamma_2 = 1` this is the 3FGL ``PLExpCutoff`` form
    after rescaling the prefactor by :math:`e^{E_0/E_c}`.

    Parameters
    ----------
    amplitude : `~astropy.units.Quantity`
        :math:`\phi_0` (XML ``Prefactor``).
    index_1 : float
        :math:`\Gamma_1` (XML ``Index1`` with the opposite sign).
    reference : `~astropy.units.Quantity`
        :math:`E_0` (XML ``Scale``).
    ecut : `~astropy.units.Quantity`
        :math:`E_c` (XML ``Cutoff``).
    index_2 : float
        :math:`\Gamma_2` (XML ``Index2``, same sign).
    """

    tag = ["LATSuperExpCutoffSpectralModel", "lat-plsec"]
    amplitude = Parameter("amplitude", f"1e-9 {_DNDE_UNIT}", scale_method="scale10", interp="log")
    index_1 = Parameter("index_1", 2.0)
    reference = Parameter("reference", "1000 MeV", frozen=True)
    ecut = Parameter("ecut", "10000 MeV")
    index_2 = Parameter("index_2", 1.0, frozen=True)

    @staticmethod
    def evaluate(energy, amplitude, index_1, reference, ecut, index_2):
        """Evaluate the model (static function)."""
        index_2 = _as_float(index_2)
        pwl = amplitude * (energy / reference) ** (-_as_float(index_1))
        return pwl * np.exp(-((energy / ecut).to_value(u.one) ** index_2))


class LATSuperExpCutoff2SpectralModel(SpectralModel):
    r"""LAT ``PLSuperExpCutoff2``: super-exponential cut-off with an ``expfactor``.

    .. math::
        \phi(E) = \phi_0 \left(\frac{E}{E_0}\right)^{-\Gamma_1}
        \exp\left[-a \left(\frac{E}{1\,\mathrm{MeV}}\right)^{\Gamma_2}\right]

    This is the 4FGL (DR1/DR2) ``PLSuperExpCutoff`` spectral form up to the constant factor
    :math:`e^{a E_0^{\Gamma_2}}` absorbed in :math:`\phi_0` (see
    `~gammapy.modeling.models.SuperExpCutoffPowerLaw4FGLSpectralModel`).

    Parameters
    ----------
    amplitude : `~astropy.units.Quantity`
        :math:`\phi_0` (XML ``Prefactor``).
    index_1 : float
        :math:`\Gamma_1` (XML ``Index1`` with the opposite sign).
    reference : `~astropy.units.Quantity`
        :math:`E_0` (XML ``Scale``).
    expfactor : float
        :math:`a` in :math:`\mathrm{MeV}^{-\Gamma_2}` (XML ``Expfactor``).
    index_2 : float
        :math:`\Gamma_2` (XML ``Index2``, same sign).
    """

    tag = ["LATSuperExpCutoff2SpectralModel", "lat-plsec2"]
    amplitude = Parameter("amplitude", f"1e-9 {_DNDE_UNIT}", scale_method="scale10", interp="log")
    index_1 = Parameter("index_1", 2.0)
    reference = Parameter("reference", "1000 MeV", frozen=True)
    expfactor = Parameter("expfactor", 1e-3)
    index_2 = Parameter("index_2", 2.0 / 3.0, frozen=True)

    @staticmethod
    def evaluate(energy, amplitude, index_1, reference, expfactor, index_2):
        """Evaluate the model (static function)."""
        e_mev = energy.to_value("MeV")
        pwl = amplitude * (energy / reference) ** (-_as_float(index_1))
        return pwl * np.exp(-_as_float(expfactor) * e_mev ** _as_float(index_2))


class LATBandSpectralModel(SpectralModel):
    r"""LAT ``BandFunction`` (Band et al. 1993), energies in units of 100 keV.

    With :math:`x = E / 0.1\,\mathrm{MeV}`, :math:`x_p = E_p / 0.1\,\mathrm{MeV}` and
    :math:`x_b = x_p (\alpha - \beta) / (2 + \alpha)`:

    .. math::
        \phi(E) = \phi_0 \, x^{\alpha} \exp\left(-\frac{(2 + \alpha) x}{x_p}\right)
        \quad (x < x_b), \qquad
        \phi(E) = \phi_0 \, x_b^{\alpha - \beta} e^{\beta - \alpha} x^{\beta}
        \quad (x \ge x_b)

    ``alpha`` and ``beta`` keep the signs of the XML (typically about -1 and -2.3).

    Parameters
    ----------
    amplitude : `~astropy.units.Quantity`
        :math:`\phi_0` (XML ``norm``).
    alpha, beta : float
        Low- and high-energy slopes (XML ``alpha``, ``beta``).
    e_peak : `~astropy.units.Quantity`
        Peak energy :math:`E_p` of :math:`E^2 \phi` (XML ``Ep``).
    """

    tag = ["LATBandSpectralModel", "lat-band"]
    amplitude = Parameter("amplitude", f"1e-9 {_DNDE_UNIT}", scale_method="scale10", interp="log")
    alpha = Parameter("alpha", -1.0)
    beta = Parameter("beta", -2.3)
    e_peak = Parameter("e_peak", "0.5 MeV")

    @staticmethod
    def evaluate(energy, amplitude, alpha, beta, e_peak):
        """Evaluate the model (static function)."""
        alpha = _as_float(alpha)
        beta = _as_float(beta)
        x = energy.to_value("MeV") / 0.1
        xp = e_peak.to_value("MeV") / 0.1
        xb = xp * (alpha - beta) / (alpha + 2.0)
        with np.errstate(over="ignore", invalid="ignore"):
            low = x**alpha * np.exp(-x * (2.0 + alpha) / xp)
            high = xb ** (alpha - beta) * np.exp(beta - alpha) * x**beta
        return amplitude * np.where(x < xb, low, high)


class LATSmoothBrokenPowerLawSpectralModel(SpectralModel):
    r"""LAT ``SmoothBrokenPowerLaw``.

    .. math::
        \phi(E) = \phi_0 \left(\frac{E}{E_0}\right)^{-\Gamma_1}
        \left[1 + \left(\frac{E}{E_b}\right)^{(\Gamma_2 - \Gamma_1)/\beta}\right]^{-\beta}

    with the sign of β as given (unlike
    `~gammapy.modeling.models.SmoothBrokenPowerLawSpectralModel`, which flips it when
    :math:`\Gamma_2 < \Gamma_1`), so that hardening spectra follow the Likelihood definition.

    Parameters
    ----------
    amplitude : `~astropy.units.Quantity`
        :math:`\phi_0` (XML ``Prefactor``).
    index1, index2 : float
        :math:`\Gamma_1`, :math:`\Gamma_2` (XML ``Index1``, ``Index2`` with the opposite sign).
    reference : `~astropy.units.Quantity`
        :math:`E_0` (XML ``Scale``).
    ebreak : `~astropy.units.Quantity`
        :math:`E_b` (XML ``BreakValue``).
    beta : float
        Smoothness β (XML ``Beta``).
    """

    tag = ["LATSmoothBrokenPowerLawSpectralModel", "lat-sbpl"]
    amplitude = Parameter("amplitude", f"1e-12 {_DNDE_UNIT}", scale_method="scale10", interp="log")
    index1 = Parameter("index1", 2.0)
    reference = Parameter("reference", "1000 MeV", frozen=True)
    index2 = Parameter("index2", 3.0)
    ebreak = Parameter("ebreak", "10000 MeV")
    beta = Parameter("beta", 0.2, frozen=True)

    @staticmethod
    def evaluate(energy, amplitude, index1, reference, index2, ebreak, beta):
        """Evaluate the model (static function)."""
        index1, index2, beta = _as_float(index1), _as_float(index2), _as_float(beta)
        pwl = amplitude * (energy / reference) ** (-index1)
        x = (energy / ebreak).to_value(u.one)
        return pwl * (1.0 + x ** ((index2 - index1) / beta)) ** (-beta)


class LATBrokenPowerLaw2SpectralModel(SpectralModel):
    r"""LAT ``BrokenPowerLaw2``: a broken power law normalised by its integral flux.

    .. math::
        \phi(E) = N_0 \left(\frac{E}{E_b}\right)^{-\Gamma_1} \ (E < E_b), \qquad
        \phi(E) = N_0 \left(\frac{E}{E_b}\right)^{-\Gamma_2} \ (E \ge E_b), \qquad
        N_0 = F \Big/ \int_{E_{\rm min}}^{E_{\rm max}} \frac{\phi(E)}{N_0}\, dE

    Parameters
    ----------
    amplitude : `~astropy.units.Quantity`
        Integral flux F between ``emin`` and ``emax`` (XML ``Integral``).
    index1, index2 : float
        :math:`\Gamma_1`, :math:`\Gamma_2` (XML ``Index1``, ``Index2`` with the opposite sign).
    ebreak : `~astropy.units.Quantity`
        :math:`E_b` (XML ``BreakValue``).
    emin, emax : `~astropy.units.Quantity`
        Range of the integral flux (XML ``LowerLimit``, ``UpperLimit``).
    """

    tag = ["LATBrokenPowerLaw2SpectralModel", "lat-bpl2"]
    amplitude = Parameter("amplitude", "1e-8 cm-2 s-1", scale_method="scale10", interp="log")
    index1 = Parameter("index1", 2.0)
    index2 = Parameter("index2", 3.0)
    ebreak = Parameter("ebreak", "1000 MeV")
    emin = Parameter("emin", "100 MeV", frozen=True)
    emax = Parameter("emax", "100000 MeV", frozen=True)

    @staticmethod
    def _shape_integral(x1, x2, index):
        """Integral of x**-index from x1 to x2 (x in units of the break)."""
        g1 = 1.0 - index
        small = np.abs(g1) < 1e-12
        with np.errstate(divide="ignore", invalid="ignore"):
            power = (x2**g1 - x1**g1) / np.where(small, 1.0, g1)
        return np.where(small, np.log(x2 / x1), power)

    @classmethod
    def evaluate(cls, energy, amplitude, index1, index2, ebreak, emin, emax):
        """Evaluate the model."""
        index1, index2 = _as_float(index1), _as_float(index2)
        eb = ebreak.to_value("MeV")
        x1 = (emin.to_value("MeV")) / eb
        x2 = (emax.to_value("MeV")) / eb
        below = cls._shape_integral(np.minimum(x1, 1.0), np.minimum(x2, 1.0), index1)
        above = cls._shape_integral(np.maximum(x1, 1.0), np.maximum(x2, 1.0), index2)
        norm = amplitude / (u.Quantity(eb, "MeV") * (below + above))
        x = (energy / ebreak).to_value(u.one)
        return norm * np.where(x < 1.0, x ** (-index1), x ** (-index2))

    def integral(self, energy_min, energy_max, **kwargs):
        """Integral flux between two energies (analytic)."""
        p = self.parameters
        eb = p["ebreak"].quantity.to_value("MeV")
        i1, i2 = p["index1"].value, p["index2"].value

        def shape(lo, hi):
            lo, hi = np.broadcast_arrays(lo, hi)
            return self._shape_integral(np.minimum(lo, 1.0), np.minimum(hi, 1.0), i1) + self._shape_integral(
                np.maximum(lo, 1.0), np.maximum(hi, 1.0), i2
            )

        x1 = p["emin"].quantity.to_value("MeV") / eb
        x2 = p["emax"].quantity.to_value("MeV") / eb
        lo = u.Quantity(energy_min, "MeV").to_value("MeV") / eb
        hi = u.Quantity(energy_max, "MeV").to_value("MeV") / eb
        return p["amplitude"].quantity * shape(lo, hi) / shape(x1, x2)


def read_file_function(filename):
    """Read a LAT ``FileFunction`` table (energy in MeV and dN/dE, whitespace separated).

    The table is read by `gammapy_lat.models.read_isotropic_spectrum` (the FSSC isotropic files
    are FileFunction tables): extra columns are ignored, ``#`` starts a comment.

    Parameters
    ----------
    filename : str or `~pathlib.Path`
        Text file.

    Returns
    -------
    energy : `~astropy.units.Quantity`
        Energies in MeV, increasing.
    values : `~astropy.units.Quantity`
        dN/dE in cm-2 s-1 MeV-1 (per sr for isotropic templates, the sr-1 being carried by the
        spatial model).
    """
    template = read_isotropic_spectrum(filename)
    return u.Quantity(template.energy, "MeV"), u.Quantity(template.values, _DNDE_UNIT)


class FileFunctionSpectralModel(SpectralModel):
    r"""LAT ``FileFunction``: tabulated spectrum times a normalisation.

    .. math:: \phi(E) = N \, T(E)

    :math:`T` is interpolated linearly in log-log between the tabulated points, and extrapolated
    with the first/last segment outside them, as the Likelihood ``FileFunction`` does.

    Parameters
    ----------
    energy : `~astropy.units.Quantity`
        Tabulated energies.
    values : `~astropy.units.Quantity`
        Tabulated dN/dE.
    norm : float
        :math:`N` (XML ``Normalization``).
    filename : str, optional
        Source table, written back in the XML ``file`` attribute and in YAML.
    """

    tag = ["FileFunctionSpectralModel", "lat-filefunction"]
    norm = Parameter("norm", 1.0, unit="", interp="log")

    def __init__(self, energy, values, norm=1.0, filename=None):
        self.energy = u.Quantity(energy)
        self.values = u.Quantity(values)
        self.filename = None if filename is None else str(filename)
        self._interp = ScaledRegularGridInterpolator(
            points=(self.energy,),
            values=self.values,
            points_scale=("log",),
            values_scale="log",
            extrapolate=True,
        )
        super().__init__(norm=norm)

    @classmethod
    def read(cls, filename, norm=1.0):
        """Read a LAT ``FileFunction`` table (see `read_file_function`)."""
        energy, values = read_file_function(filename)
        return cls(energy=energy, values=values, norm=norm, filename=filename)

    def evaluate(self, energy, norm):
        """Evaluate the model."""
        return norm * self._interp((energy,), clip=False)

    def to_dict(self, full_output=False):
        data = super().to_dict(full_output=full_output)
        data["spectral"]["filename"] = self.filename
        data["spectral"]["energy"] = {"data": self.energy.value.tolist(), "unit": str(self.energy.unit)}
        data["spectral"]["values"] = {"data": self.values.value.tolist(), "unit": str(self.values.unit)}
        return data

    @classmethod
    def from_dict(cls, data, **kwargs):
        data = data.get("spectral", data)
        if "energy" in data and "values" in data:
            energy = u.Quantity(data["energy"]["data"], data["energy"]["unit"])
            values = u.Quantity(data["values"]["data"], data["values"]["unit"])
            model = cls(energy=energy, values=values, filename=data.get("filename"))
        else:
            model = cls.read(data["filename"])
        if "parameters" in data:
            parameters = _build_parameters_from_dict(data["parameters"], cls.default_parameters)
            model.norm = parameters["norm"]
        return model


LAT_SPECTRAL_MODELS = [
    LATSmoothBrokenPowerLawSpectralModel,
    LATBrokenPowerLaw2SpectralModel,
    LATExpCutoffSpectralModel,
    LATSuperExpCutoffSpectralModel,
    LATSuperExpCutoff2SpectralModel,
    LATBandSpectralModel,
    FileFunctionSpectralModel,
]

for _cls in LAT_SPECTRAL_MODELS:
    if _cls not in SPECTRAL_MODEL_REGISTRY:
        SPECTRAL_MODEL_REGISTRY.append(_cls)
