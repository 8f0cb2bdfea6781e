"""Event-type components: one dataset per event-type selection, fitted jointly (as fermipy)."""
import logging
from dataclasses import dataclass, field

from astropy import units as u
from gammapy.datasets import Datasets
from gammapy.makers import Maker

from ..data.evtypes import EVENT_TYPE_PARTITIONS
from .diffuse import create_isotropic_model
from .map import LATMapDatasetMaker, create_lat_map_dataset
from .safe import LATSafeMaskMaker

__all__ = ["LATComponent", "LATComponentsMaker", "EVTYPE_PARTITIONS"]

log = logging.getLogger(__name__)

#: Event-type partitions of Pass 8 and their members.
EVTYPE_PARTITIONS = EVENT_TYPE_PARTITIONS


@dataclass
class LATComponent:
    """One analysis component: an event-type selection with its own cuts.

    Parameters
    ----------
    name : str
        Component name (dataset names are ``<reference name>-<name>``).
    evtype : int, str or list
        Event-type selection (bit mask or names, e.g. ``"PSF3"``, ``["FRONT"]``, ``12``).
    zmax : `~astropy.units.Quantity`, optional
        Zenith-angle cut of this component (events and livetime cube).
    energy_min, energy_max : `~astropy.units.Quantity`, optional
        Reconstructed-energy range of the component (safe mask).
    geom : `~gammapy.maps.Geom`, optional
        Own counts geometry (e.g. finer pixels for the sharper PSF classes); default the
        reference dataset's.
    safe_mask_methods : list of str, optional
        `LATSafeMaskMaker` methods. Default is ``["energy-range", "exposure"]``.
    isodiff : str or `~pathlib.Path`, optional
        Isotropic spectrum of this event type (e.g. ``iso_P8R3_SOURCE_V3_PSF3_v1.txt``): the
        dataset gets the isotropic model ``<dataset name>-isotropic`` with a free normalisation.
    """

    name: str
    evtype: object
    zmax: object = None
    energy_min: object = None
    energy_max: object = None
    geom: object = None
    safe_mask_methods: list = field(default_factory=lambda: ["energy-range", "exposure"])
    isodiff: object = None


class LATComponentsMaker(Maker):
    """Make one LAT dataset per event-type component from one observation.

    Each component gets its own IRFs (summed over its event types), event selection, zenith cut
    (and livetime cube) and safe energy range; the datasets are returned as Gammapy
    `~gammapy.datasets.Datasets`, to be fitted jointly. Livetime cubes are shared between the
    components with the same zenith cut.

    Parameters
    ----------
    components : list of `LATComponent`
        Components.
    irf_name : str, optional
        IRF name (default: the observation's).
    caldb : `~gammapy_lat.irf.CALDB`, str or `~pathlib.Path`, optional
        CALDB.
    selection : list of str, optional
        Maps to make (see `LATMapDatasetMaker`).
    ltcube_kwargs : dict, optional
        Livetime-cube options (see `LATMapDatasetMaker`).

    Examples
    --------
    >>> maker = LATComponentsMaker.from_partition("PSF", caldb="caldb/")  # doctest: +SKIP
    >>> datasets = maker.run(create_lat_map_dataset(geom, name="roi"), observation)  # doctest: +SKIP
    >>> Fit().run(datasets)  # doctest: +SKIP
    """

    tag = "LATComponentsMaker"

    def __init__(self, components, irf_name=None, caldb=None, selection=None, ltcube_kwargs=None):
        if not components:
            raise ValueError("At least one component is needed")
        names = [c.name for c in components]
        if len(set(names)) != len(names):
            raise ValueError(f"Component names must be unique, got {names}")
        self.components = list(components)
        self.irf_name = irf_name
        self.caldb = caldb
        self.selection = selection
        self.ltcube_kwargs = ltcube_kwargs
        self._makers = [
            LATMapDatasetMaker(
                selection=selection,
                irf_name=irf_name,
                evtype=c.evtype,
                caldb=caldb,
                zmax=c.zmax,
                ltcube_kwargs=ltcube_kwargs,
            )
            for c in self.components
        ]

    @classmethod
    def from_partition(cls, partition="FB", zmax=None, energy_min=None, energy_max=None, **kwargs):
        """Components of a whole event-type partition ("FB", "PSF" or "EDISP").

        Parameters
        ----------
        partition : {"FB", "PSF", "EDISP"}
            Partition.
        zmax, energy_min, energy_max : `~astropy.units.Quantity` or dict, optional
            Cuts, the same for all components or a dict by component name.
        **kwargs : dict
            Passed to `LATComponentsMaker`.
        """
        key = str(partition).upper()
        if key not in EVTYPE_PARTITIONS:
            raise ValueError(f"Unknown partition {partition!r}; choose from {list(EVTYPE_PARTITIONS)}")

        def pick(value, name):
            return value.get(name) if isinstance(value, dict) else value

        components = [
            LATComponent(
                name=name,
                evtype=name,
                zmax=pick(zmax, name),
                energy_min=pick(energy_min, name),
                energy_max=pick(energy_max, name),
            )
            for name in EVTYPE_PARTITIONS[key]
        ]
        return cls(components, **kwargs)

    def run(self, dataset, observation):
        """Make the component datasets.

        Parameters
        ----------
        dataset : `~gammapy.datasets.MapDataset`
            Reference dataset (geometry and axes of components without their own ``geom``).
        observation : `~gammapy_lat.data.LATObservation`
            Observation.

        Returns
        -------
        datasets : `~gammapy.datasets.Datasets`
            One dataset per component, named ``<dataset.name>-<component.name>``, with its
            isotropic model when the component has an ``isodiff`` file.
        """
        datasets = Datasets()
        shared = {}
        for component, maker in zip(self.components, self._makers):
            name = f"{dataset.name}-{component.name}"
            if component.geom is not None:
                reference = create_lat_map_dataset(component.geom, name=name)
            else:
                reference = dataset.copy(name=name)
            # Same zenith cut and geometry: same livetime cube.
            zkey = (maker.get_zmax(observation).to_value("deg"), id(component.geom))
            if zkey in shared:
                maker._ltcube_cache = shared[zkey]
            result = maker.run(reference, observation)
            shared.setdefault(zkey, maker._ltcube_cache)
            safe = LATSafeMaskMaker(
                methods=component.safe_mask_methods,
                energy_min=None if component.energy_min is None else u.Quantity(component.energy_min),
                energy_max=None if component.energy_max is None else u.Quantity(component.energy_max),
            )
            result = safe.run(result, observation)
            if component.isodiff is not None:
                apply_edisp = result.edisp is not None
                result.models = [
                    create_isotropic_model(
                        component.isodiff, name=f"{name}-isotropic", datasets_names=[name], apply_edisp=apply_edisp
                    )
                ]
            datasets.append(result)
        return datasets
