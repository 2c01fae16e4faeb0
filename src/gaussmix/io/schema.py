"""The model-file schema: a model as a dict of plain fields, and every field's checks.

See :mod:`gaussmix.io` for the schema table. Nothing here reads or writes files.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import covariance as structures
from .._validation import check_covariance_matrices, check_priors
from .._version import __version__

__all__ = [
    "EXTENSIONS",
    "FIELDS",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MALFORMED",
    "MODEL_CLASSES",
    "as_number_array",
    "build_model",
    "model_from_dict",
    "model_to_dict",
    "validate_fields",
]

FORMAT_NAME = "gaussmix"
FORMAT_VERSION = 1
_SUPPORTED_VERSIONS = (1,)
EXTENSIONS = (".json", ".npz")
_ARTICLE = {"GMM": "a", "MVN": "an"}

_COMMON_FIELDS = ("format", "format_version", "model", "gaussmix_version", "n_features")
FIELDS = {
    "GMM": (
        *_COMMON_FIELDS,
        "n_components",
        "priors",
        "means",
        "covariances",
        "covariance_type_",
        "converged_",
        "n_iter_",
        "lower_bound_",
        "estimator",
        "feature_names",
    ),
    "MVN": (*_COMMON_FIELDS, "mean", "covariance"),
}
_STRING_FIELDS = ("format", "model", "gaussmix_version", "covariance_type_", "estimator")
_INT_FIELDS = ("format_version", "n_components", "n_features", "n_iter_")


def _package_version() -> str:
    return str(__version__)


MALFORMED = (TypeError, AttributeError, KeyError, IndexError, RecursionError, OverflowError)


# The model classes register themselves here when they are defined (see
# Persistent.__init_subclass__): io sits below them and never imports them.
MODEL_CLASSES: dict[str, type] = {}


def _model_classes() -> tuple[type, type]:
    return MODEL_CLASSES["GMM"], MODEL_CLASSES["MVN"]


# ----------------------------------------------------------------------
# Model -> dict
# ----------------------------------------------------------------------
def model_to_dict(model: Any) -> dict:
    """Parameters of a model as a JSON-ready dict following the schema above.

    Parameters
    ----------
    model : GMM or MVN
        An initialized model (parameters set or fitted).

    Returns
    -------
    data : dict
        Plain Python values (str, int, float, bool, nested lists of floats).

    Raises
    ------
    ValueError
        If the model is not initialized or its parameters are invalid (not
        finite, shapes disagree, priors not summing to 1, ...).
    TypeError
        If ``model`` is neither a GMM nor an MVN.
    """
    GMM, MVN = _model_classes()
    if isinstance(model, GMM):
        priors, means, covariances = model.checked_parameters()
        data: dict[str, Any] = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "model": "GMM",
            "gaussmix_version": _package_version(),
            "n_components": int(means.shape[0]),
            "n_features": int(means.shape[1]),
            "covariance_type_": structures.canonical(getattr(model, "covariance_type_", "full")),
        }
        if getattr(model, "converged_", None) is not None:
            data["converged_"] = bool(model.converged_)
        if getattr(model, "n_iter_", None) is not None:
            data["n_iter_"] = int(model.n_iter_)
        lower_bound = getattr(model, "lower_bound_", None)
        if lower_bound is not None and np.isfinite(lower_bound):
            data["lower_bound_"] = float(lower_bound)
        names = getattr(model, "feature_names_", None)
        if names is not None:
            data["feature_names"] = [str(name) for name in names]
        data["priors"] = priors.tolist()
        data["means"] = means.tolist()
        data["covariances"] = covariances.tolist()
    elif isinstance(model, MVN):
        mean, covariance = model.checked_parameters()
        data = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "model": "MVN",
            "gaussmix_version": _package_version(),
            "n_features": int(mean.shape[0]),
            "mean": mean.tolist(),
            "covariance": covariance.tolist(),
        }
    else:
        raise TypeError(f"model must be a GMM or an MVN; got {type(model).__name__}")
    # Validate what we are about to write so that a saved file always loads.
    validate_fields(data, source="model")
    return data


# ----------------------------------------------------------------------
# dict -> model
# ----------------------------------------------------------------------
def model_from_dict(data: Any, expected: type | None = None) -> Any:
    """Build a model from a dict following the schema, validating every field.

    Parameters
    ----------
    data : dict
        As produced by :func:`model_to_dict` or read from a ``.json`` file.
    expected : {GMM, MVN, None}, optional
        The class the caller wants; None accepts either.

    Returns
    -------
    model : GMM or MVN

    Raises
    ------
    ValueError
        If a field is missing, unknown, of the wrong type or shape, not
        finite, or the parameters are not a valid model (see the schema), or
        if the model type differs from ``expected``.
    """
    try:
        return build_model(validate_fields(data, source="data"), expected, source="data")
    except MALFORMED as exc:
        raise ValueError(f"data: malformed gaussmix model ({exc})") from exc


def build_model(fields: dict, expected: type | None, source: str) -> Any:
    GMM, MVN = _model_classes()
    cls = GMM if fields["model"] == "GMM" else MVN
    if expected is not None and not (isinstance(expected, type) and issubclass(cls, expected)):
        wanted = getattr(expected, "__name__", repr(expected))
        raise ValueError(
            f"{source} holds {_ARTICLE[fields['model']]} {fields['model']} model, but "
            f"{_ARTICLE.get(wanted, 'a')} {wanted} was expected; "
            f"use {fields['model']}.load or gaussmix.io.load_model"
        )
    if cls is MVN:
        return MVN(mean=fields["mean"], covariance=fields["covariance"])
    model = GMM(
        n_components=fields["means"].shape[0],
        priors=fields["priors"],
        means=fields["means"],
        covariances=fields["covariances"],
    )
    model.covariance_type_ = fields.get("covariance_type_", "full")
    if "feature_names" in fields:
        model.feature_names_ = fields["feature_names"]
    for name in ("converged_", "n_iter_", "lower_bound_"):
        if name in fields:
            setattr(model, name, fields[name])
    return model


def validate_fields(data: Any, source: str) -> dict:
    """Check ``data`` against the schema; return fields as Python/numpy values."""
    if not isinstance(data, dict):
        raise ValueError(
            f"{source} must be a dict (a JSON object) following the gaussmix schema; "
            f"got {type(data).__name__}"
        )
    for key in data:
        if not isinstance(key, str):
            raise ValueError(f"{source} has a non-string field name {key!r}")
    fmt = data.get("format")
    if fmt is None:
        raise ValueError(
            f"{source} is missing the field 'format'; a gaussmix model file has "
            f"format={FORMAT_NAME!r}"
        )
    if fmt != FORMAT_NAME:
        raise ValueError(f"{source} has format={fmt!r}; expected {FORMAT_NAME!r}")
    if "format_version" not in data:
        raise ValueError(f"{source} is missing the field 'format_version'")
    version = _as_int(data["format_version"], "format_version", source)
    if version not in _SUPPORTED_VERSIONS:
        newer = " (written by a newer gaussmix; upgrade to read it)" if version > 1 else ""
        raise ValueError(
            f"{source} has format_version={version}{newer}; this gaussmix "
            f"({_package_version()}) reads format_version "
            f"{', '.join(map(str, _SUPPORTED_VERSIONS))}"
        )
    model_type = data.get("model")
    if model_type not in FIELDS:
        raise ValueError(f"{source} has model={model_type!r}; expected 'GMM' or 'MVN'")
    allowed = FIELDS[model_type]
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ValueError(
            f"{source} has unknown field(s) {', '.join(map(repr, unknown))} for a "
            f"{model_type}; allowed fields: {', '.join(allowed)}"
        )

    fields: dict[str, Any] = {"model": model_type, "format_version": version}
    for name in _STRING_FIELDS:
        if name in data and name not in fields:
            value = data[name]
            if not isinstance(value, str):
                raise ValueError(
                    f"{source} field {name!r} must be a string; got {type(value).__name__}"
                )
            fields[name] = value
    for name in _INT_FIELDS:
        if name in data and name not in fields:
            fields[name] = _as_int(data[name], name, source)
    if "converged_" in data:
        value = data["converged_"]
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{source} field 'converged_' must be true or false; got {value!r}")
        fields["converged_"] = bool(value)
    if "lower_bound_" in data:
        fields["lower_bound_"] = float(_as_array(data["lower_bound_"], "lower_bound_", 0, source))
    if "n_iter_" in fields and fields["n_iter_"] < 0:
        raise ValueError(f"{source} field 'n_iter_' must be >= 0; got {fields['n_iter_']}")
    if "covariance_type_" in fields:
        # A structure's name or alias, stored by its name.
        if fields["covariance_type_"] not in structures.accepted_names():
            raise ValueError(
                f"{source} field 'covariance_type_' is {fields['covariance_type_']!r}; "
                f"expected one of {', '.join(structures.accepted_names())}"
            )
        fields["covariance_type_"] = structures.canonical(fields["covariance_type_"])

    if model_type == "GMM":
        _require(data, ("priors", "means", "covariances"), source)
        priors = _as_array(data["priors"], "priors", 1, source)
        means = _as_array(data["means"], "means", 2, source)
        covariances = _as_array(data["covariances"], "covariances", 3, source)
        k, d = means.shape
        if k < 1 or d < 1:
            raise ValueError(
                f"{source} field 'means' must have at least one component and one "
                f"feature; got shape {means.shape}"
            )
        _check_declared(fields, "n_components", k, source)
        _check_declared(fields, "n_features", d, source)
        check_priors(priors, k, f"{source} field 'priors'", f" to match 'means' {means.shape}")
        if covariances.shape != (k, d, d):
            raise ValueError(
                f"{source} field 'covariances' must have shape ({k}, {d}, {d}) to match "
                f"'means' {means.shape}; got {covariances.shape}"
            )
        check_covariance_matrices(covariances, lambda j: f"{source} field 'covariances[{j}]'")
        _check_magnitudes(means, "means", covariances, "covariances", source)
        fields.update(priors=priors, means=means, covariances=covariances)
        if "feature_names" in data:
            fields["feature_names"] = _feature_names(data["feature_names"], d, source)
    else:
        _require(data, ("mean", "covariance"), source)
        mean = _as_array(data["mean"], "mean", 1, source)
        covariance = _as_array(data["covariance"], "covariance", 2, source)
        d = mean.shape[0]
        if d < 1:
            raise ValueError(f"{source} field 'mean' must not be empty")
        _check_declared(fields, "n_features", d, source)
        if covariance.shape != (d, d):
            raise ValueError(
                f"{source} field 'covariance' must have shape ({d}, {d}) to match 'mean' "
                f"of length {d}; got {covariance.shape}"
            )
        check_covariance_matrices(covariance[None], lambda _j: f"{source} field 'covariance'")
        _check_magnitudes(mean, "mean", covariance[None], "covariance", source)
        fields.update(mean=mean, covariance=covariance)
    return fields


#: Largest magnitude of a mean entry a model file may hold: squared distances
#: between means and points (up to 4e304 per coordinate) must stay finite.
MAX_MEAN_MAGNITUDE = 1e152
#: Covariance entries must be at most this large, and nonzero variances at
#: least 1 / this (their inverses, the precisions, must stay finite).
MAX_COVARIANCE_MAGNITUDE = 1e304


def _check_magnitudes(
    means: np.ndarray, means_name: str, covariances: np.ndarray, cov_name: str, source: str
) -> None:
    """Refuse parameters that load but would overflow later (inf samples, -inf densities)."""
    top = float(np.abs(means).max()) if means.size else 0.0
    if top > MAX_MEAN_MAGNITUDE:
        raise ValueError(
            f"{source} field {means_name!r} has entries of magnitude up to {top:.3g}; "
            f"gaussmix reads means up to {MAX_MEAN_MAGNITUDE:g} (squared distances must "
            "stay finite)"
        )
    top = float(np.abs(covariances).max()) if covariances.size else 0.0
    variances = np.diagonal(covariances, axis1=-2, axis2=-1)
    small = variances[(variances > 0) & (variances < 1.0 / MAX_COVARIANCE_MAGNITUDE)]
    if top > MAX_COVARIANCE_MAGNITUDE or small.size:
        bad = f"{top:.3g}" if top > MAX_COVARIANCE_MAGNITUDE else f"{small.min():.3g}"
        raise ValueError(
            f"{source} field {cov_name!r} has an entry of {bad}; gaussmix reads covariance "
            f"entries up to {MAX_COVARIANCE_MAGNITUDE:g} and nonzero variances from "
            f"{1.0 / MAX_COVARIANCE_MAGNITUDE:g} (their precisions must stay finite)"
        )


#: Longest feature name a model file may hold.
MAX_FEATURE_NAME_LENGTH = 256


def _feature_names(value: Any, d: int, source: str) -> list[str]:
    """d non-empty names of at most MAX_FEATURE_NAME_LENGTH printable characters."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise ValueError(f"{source} field 'feature_names' must be a list of strings")
    if len(value) != d:
        raise ValueError(f"{source} field 'feature_names' has {len(value)} names for {d} features")
    for name in value:
        if not 0 < len(name) <= MAX_FEATURE_NAME_LENGTH or not name.isprintable():
            raise ValueError(
                f"{source} field 'feature_names' holds {name[:40]!r}; names must be 1 to "
                f"{MAX_FEATURE_NAME_LENGTH} printable characters"
            )
    return list(value)


def _require(data: dict, names: tuple[str, ...], source: str) -> None:
    missing = [name for name in names if name not in data]
    if missing:
        raise ValueError(
            f"{source} is missing the field(s) {', '.join(map(repr, missing))} of a "
            f"{data['model']}"
        )


def _check_declared(fields: dict, name: str, actual: int, source: str) -> None:
    if name in fields and fields[name] != actual:
        raise ValueError(
            f"{source} field {name!r} is {fields[name]} but the parameters have {actual}"
        )


def _as_int(value: Any, name: str, source: str) -> int:
    if isinstance(value, np.ndarray):
        if value.ndim != 0 or value.dtype.kind not in "iu":
            raise ValueError(
                f"{source} field {name!r} must be an integer; got dtype {value.dtype} "
                f"with shape {value.shape}"
            )
        return int(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{source} field {name!r} must be an integer; got {value!r}")
    return int(value)


def _as_array(value: Any, name: str, ndim: int, source: str) -> np.ndarray:
    """Finite float64 array of exactly ``ndim`` dimensions from numbers only."""
    return as_number_array(value, name, source, ndim=ndim)


def as_number_array(
    value: Any,
    name: str,
    source: str,
    *,
    ndim: int | None = None,
    shape: tuple[int, ...] | None = None,
) -> np.ndarray:
    """A field of a model file as a finite float64 array, or a ``ValueError`` naming it.

    The one check of numeric fields, for the model's own fields and for a
    scikit-learn estimator's fitted attributes: an ndarray of real numbers,
    or (nested) lists of int/float only (no bools, strings or None), of
    ``ndim`` dimensions and/or exactly ``shape`` when given, every entry finite.

    Parameters
    ----------
    value : object
        The field's value as read from the file.
    name : str
        The field's name, for the message.
    source : str
        The file's name, for the message.
    ndim : int, optional
    shape : tuple of int, optional

    Returns
    -------
    array : ndarray of float64
    """
    if shape is not None:
        ndim = len(shape)
    if isinstance(value, np.ndarray):
        array = value
    else:
        _check_numeric_tree(value, name, source)
        try:
            array = np.array(value)
        except (ValueError, TypeError) as exc:
            dims = f"{ndim}-D " if ndim is not None else ""
            raise ValueError(
                f"{source} field {name!r} must be a regular {dims}array of numbers "
                f"(nested lists of equal lengths)"
            ) from exc
    if array.dtype.kind not in "iuf":
        raise ValueError(
            f"{source} field {name!r} must contain real numbers; got dtype {array.dtype}"
        )
    if ndim is not None and array.ndim != ndim:
        raise ValueError(
            f"{source} field {name!r} must be a {ndim}-D array; got {array.ndim}-D "
            f"with shape {array.shape}"
        )
    if shape is not None and array.shape != tuple(shape):
        raise ValueError(
            f"{source} field {name!r} must have shape {tuple(shape)}; got {array.shape}"
        )
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"{source} field {name!r} contains NaN or infinite values")
    return array


def _check_numeric_tree(value: Any, name: str, source: str) -> None:
    """Refuse anything but (nested lists of) int/float: no bools, strings, None."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, (bool, np.bool_)) or not isinstance(
            item, (int, float, np.integer, np.floating)
        ):
            raise ValueError(f"{source} field {name!r} must contain only numbers; found {item!r}")
