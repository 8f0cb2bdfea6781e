"""The set of LAT IRFs (effective area, PSF, energy dispersion) for an event-type selection."""
import logging

from ..errors import CALDBError
from .aeff import LATEffectiveArea, LATEfficiencyFactor
from .caldb import CALDB, EVENT_TYPE_BITS, parse_event_types
from .edisp import LATEnergyDispersion
from .psf_pass6 import read_psf

__all__ = ["LATIRFs", "LATEventTypeIRF"]

log = logging.getLogger(__name__)


class LATEventTypeIRF:
    """Effective area, efficiency correction, PSF and energy dispersion of one event type.

    Parameters
    ----------
    irf_name : str
        IRF name.
    event_type : str
        Event-type name (``FRONT``, ``PSF3``...).
    aeff : `~gammapy_lat.irf.LATEffectiveArea`
    efficiency : `~gammapy_lat.irf.LATEfficiencyFactor` or None
    psf : `~gammapy_lat.irf.LATPSF`, `~gammapy_lat.irf.LATPass6PSF` or None
    edisp : `~gammapy_lat.irf.LATEnergyDispersion` or None
    """

    def __init__(self, irf_name, event_type, aeff, efficiency=None, psf=None, edisp=None):
        self.irf_name = irf_name
        self.event_type = event_type
        self.aeff = aeff
        self.efficiency = efficiency
        self.psf = psf
        self.edisp = edisp

    def __repr__(self):
        return f"{self.__class__.__name__}({self.irf_name!r}, {self.event_type!r})"

    @classmethod
    def from_caldb(cls, caldb, irf_name, event_type, psf=True, edisp=True):
        """Load the IRFs of one event type from a `CALDB`.

        When ``psf``/``edisp`` is true, a missing or unsupported PSF/dispersion HDU raises
        `~gammapy_lat.errors.CALDBError`; set them to false to load the effective area only.
        """
        filename, ext = caldb.hdu_location(irf_name, event_type, "EFF_AREA")
        phi = caldb.hdu_location(irf_name, event_type, "PHI_DEP", required=False)
        phi_ext = phi[1] if phi is not None and phi[0] == filename else None
        aeff = LATEffectiveArea.read(filename, ext, phi_ext=phi_ext)
        eff = caldb.hdu_location(irf_name, event_type, "EFFICIENCY_PARS", required=False)
        efficiency = LATEfficiencyFactor.read(*eff) if eff is not None else None
        psf_irf = None
        if psf:
            psf_file, psf_ext = caldb.hdu_location(irf_name, event_type, "RPSF")
            scale = caldb.hdu_location(irf_name, event_type, "PSF_SCALING", required=False)
            scale_ext = scale[1] if scale is not None else "PSF_SCALING_PARAMS"
            psf_irf = read_psf(psf_file, psf_ext, scale_ext, is_front=event_type != "BACK")
        edisp_irf = None
        if edisp:
            edisp_file, edisp_ext = caldb.hdu_location(irf_name, event_type, "EDISP")
            scale = caldb.hdu_location(irf_name, event_type, "EDISP_SCALING", required=False)
            scale_ext = scale[1] if scale is not None else "EDISP_SCALING_PARAMS"
            edisp_irf = LATEnergyDispersion.read(edisp_file, edisp_ext, scale_ext)
        return cls(irf_name, event_type, aeff, efficiency, psf_irf, edisp_irf)


class LATIRFs:
    """LAT IRFs for a selection of event types: one `LATEventTypeIRF` per selected type.

    Response products (`~gammapy_lat.irf.make_exposure_map` and friends) sum the selected event
    types, as the Fermitools do for an ``evtype`` bit mask.

    Parameters
    ----------
    irf_name : str
        IRF name, e.g. ``"P8R2_SOURCE_V6"``.
    components : list of `LATEventTypeIRF`
        In event-type bit order.

    Examples
    --------
    >>> from gammapy_lat.irf import LATIRFs
    >>> irfs = LATIRFs.from_caldb("P8R2_SOURCE_V6", evtype=3, caldb="/path/to/caldb")  # doctest: +SKIP
    >>> irfs.event_types  # doctest: +SKIP
    ['FRONT', 'BACK']
    """

    def __init__(self, irf_name, components):
        if not components:
            raise CALDBError(f"No event type selected for IRF {irf_name}")
        self.irf_name = irf_name
        self.components = list(components)

    def __repr__(self):
        return f"{self.__class__.__name__}({self.irf_name!r}, evtype={self.evtype})"

    def __iter__(self):
        return iter(self.components)

    def __len__(self):
        return len(self.components)

    def __getitem__(self, key):
        if isinstance(key, str):
            for comp in self.components:
                if comp.event_type == key.upper():
                    return comp
            raise KeyError(f"Event type {key} not in {self.event_types}")
        return self.components[key]

    @property
    def event_types(self):
        """Selected event-type names."""
        return [c.event_type for c in self.components]

    @property
    def evtype(self):
        """Selected event types as a Fermitools bit mask."""
        return sum(EVENT_TYPE_BITS[name] for name in self.event_types)

    @property
    def efficiency(self):
        """Efficiency correction applied to the livetime cube.

        The Fermitools (``Likelihood::ExposureCube``) apply one efficiency correction to all
        selected event types: that of the first type in bit order. We do the same so that
        exposures agree with gtexpcube2.
        """
        return self.components[0].efficiency

    @classmethod
    def from_caldb(cls, irf_name, evtype, caldb=None, psf=True, edisp=True):
        """Load the IRFs of an event-type selection from the CALDB.

        Parameters
        ----------
        irf_name : str
            IRF name (case-insensitive), e.g. ``"P8R3_SOURCE_V3"``, ``"P7REP_SOURCE_V15"``.
        evtype : int, str or sequence
            Event-type selection: bit mask (3, 60, 960...), name(s) (``"FRONT"``, ``"PSF3"``).
        caldb : `CALDB`, str or `~pathlib.Path`, optional
            The CALDB; default ``$CALDB``.
        psf, edisp : bool
            Whether to load the PSF and the energy dispersion.

        Returns
        -------
        irfs : `LATIRFs`

        Raises
        ------
        CALDBError
            Unknown IRF or event type (the message lists what the CALDB holds), missing files.
        """
        if not isinstance(caldb, CALDB):
            caldb = CALDB(caldb)
        names = parse_event_types(evtype)
        irf = caldb.resolve_name(irf_name)
        available = caldb.event_types(irf)
        missing = [n for n in names if n not in available]
        if missing:
            raise CALDBError(
                f"Event type(s) {', '.join(missing)} not available for IRF {irf} in the CALDB "
                f"{caldb.index_file}; available: {', '.join(available)}"
            )
        components = [
            LATEventTypeIRF.from_caldb(caldb, irf, name, psf=psf, edisp=edisp) for name in names
        ]
        return cls(irf, components)
