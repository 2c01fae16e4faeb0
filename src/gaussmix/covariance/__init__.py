"""Covariance structures: one object per ``covariance_type``, and their registry.

Every place in gaussmix that depends on the covariance structure asks the
structure object (:func:`get`) instead of comparing names: the E-step's
feature form, the M-step, the free-parameter count, scikit-learn's attribute
shapes. To add a structure, write a module with a subclass of
:class:`~gaussmix.covariance.base.CovarianceStructure` and add one line to
``_REGISTERED`` below (see CONTRIBUTING.md, "Adding a covariance structure").

Examples
--------
>>> from gaussmix import covariance
>>> covariance.names()[:4]
('EII', 'spherical', 'EEI', 'VEI')
>>> covariance.default_names()
('full', 'tied', 'diag', 'spherical')
>>> covariance.get("VVI").name
'diag'
>>> covariance.get("tied").n_parameters(k=3, d=2)
3
"""

from __future__ import annotations

from .axis_aligned import EqualDiagonal, EqualShapeDiagonal, EqualSpherical, EqualVolumeDiagonal
from .base import ILL_DEFINED, CovarianceStructure, project_psd
from .decomposed import Decomposed, objective
from .ellipsoidal import (
    EqualOrientation,
    EqualShape,
    EqualShapeOrientation,
    EqualShapeVolume,
    EqualVolume,
    EqualVolumeOrientation,
)
from .standard import Diagonal, Full, Spherical, Tied

__all__ = [
    "FULL",
    "ILL_DEFINED",
    "CovarianceStructure",
    "Decomposed",
    "Diagonal",
    "EqualDiagonal",
    "EqualOrientation",
    "EqualShape",
    "EqualShapeDiagonal",
    "EqualShapeOrientation",
    "EqualShapeVolume",
    "EqualSpherical",
    "EqualVolume",
    "EqualVolumeDiagonal",
    "EqualVolumeOrientation",
    "Full",
    "Spherical",
    "Tied",
    "accepted_names",
    "canonical",
    "default_names",
    "get",
    "names",
    "objective",
    "project_psd",
    "register",
    "unregister",
]

_BY_NAME: dict[str, CovarianceStructure] = {}
_ORDER: list[str] = []


def register(structure: CovarianceStructure) -> CovarianceStructure:
    """Make ``structure`` known under its name and aliases; returns it.

    Raises
    ------
    ValueError
        When its name or an alias is taken by another structure, is the
        reserved "all", or its ``seed_key`` is another structure's.
    """
    keys = (structure.name, *structure.aliases)
    if "all" in keys:
        raise ValueError("'all' is reserved (every structure); choose another name")
    for other in _BY_NAME.values():
        if other is not structure and other.seed_key == structure.seed_key:
            raise ValueError(
                f"seed_key {structure.seed_key} of {structure.name!r} is already used by "
                f"{other!r}; give each structure a number of its own"
            )
    for key in keys:
        taken = _BY_NAME.get(key)
        if taken is not None and taken is not structure:
            raise ValueError(f"covariance type name {key!r} is already used by {taken!r}")
    for key in keys:
        _BY_NAME[key] = structure
    if structure.name not in _ORDER:
        _ORDER.append(structure.name)
    return structure


def unregister(name: str) -> None:
    """Forget a structure registered with :func:`register` (its name and aliases).

    Raises
    ------
    ValueError
        For an unknown name, or one of the built-in structures.
    """
    structure = get(name, "name")
    if any(structure is built_in for built_in in _REGISTERED):
        raise ValueError(f"{structure.name!r} is built in and cannot be unregistered")
    for key in [key for key, value in _BY_NAME.items() if value is structure]:
        del _BY_NAME[key]
    _ORDER.remove(structure.name)


def names() -> tuple[str, ...]:
    """The registered structures' names, in registration order (aliases left out).

    The built-in fourteen come in mclust's order (EII, VII, EEI, VEI, EVI,
    VVI, EEE, VEE, EVE, VVE, EEV, VEV, EVV, VVV; scikit-learn's four under
    their scikit-learn names), then structures registered later: the order
    of ``covariance_type="all"``, of tables and of plot legends.
    """
    return tuple(_ORDER)


def default_names() -> tuple[str, ...]:
    """The structures of :func:`gaussmix.select_model`'s default grid (``default_grid``).

    scikit-learn's four first, in their usual order (full, tied, diag,
    spherical), then any other structure registered with ``default_grid``,
    in registration order. mclust's other ten are searched on request
    (``"all"`` or their names): their iterative M-steps make the grid
    several times slower.
    """
    first = [structure.name for structure in _DEFAULT if structure.default_grid]
    rest = [name for name in _ORDER if _BY_NAME[name].default_grid and name not in first]
    return tuple(first + rest)


def accepted_names() -> tuple[str, ...]:
    """Every name ``covariance_type`` accepts: the names, then the aliases."""
    return tuple(_ORDER) + tuple(key for key in _BY_NAME if key not in _ORDER)


def get(covariance_type: object, name: str = "covariance_type") -> CovarianceStructure:
    """The structure called ``covariance_type`` (a name, an alias or a structure).

    Raises
    ------
    ValueError
        Naming the argument ``name`` and the allowed values, for anything else.
    """
    if isinstance(covariance_type, CovarianceStructure):
        return covariance_type
    structure = _BY_NAME.get(covariance_type) if isinstance(covariance_type, str) else None
    if structure is None:
        options = ", ".join(repr(a) for a in accepted_names())
        raise ValueError(f"{name} must be one of {options}; got {covariance_type!r}")
    return structure


def canonical(covariance_type: object, name: str = "covariance_type") -> str:
    """The structure's name for a name, an alias or a structure (validated)."""
    return get(covariance_type, name).name


#: The most general structure: select_model's warm starts come from it.
FULL = Full()

_TIED, _DIAGONAL, _SPHERICAL = Tied(), Diagonal(), Spherical()
_DEFAULT = (FULL, _TIED, _DIAGONAL, _SPHERICAL)

# One line a structure, in mclust's order: the order of tables and of "all".
_REGISTERED = (
    EqualSpherical(),  # EII
    _SPHERICAL,  # VII
    EqualDiagonal(),  # EEI
    EqualShapeDiagonal(),  # VEI
    EqualVolumeDiagonal(),  # EVI
    _DIAGONAL,  # VVI
    _TIED,  # EEE
    EqualShapeOrientation(),  # VEE
    EqualVolumeOrientation(),  # EVE
    EqualOrientation(),  # VVE
    EqualShapeVolume(),  # EEV
    EqualShape(),  # VEV
    EqualVolume(),  # EVV
    FULL,  # VVV
)
for _structure in _REGISTERED:
    register(_structure)
