"""Safe persistence of :class:`~gaussmix.GMM` and :class:`~gaussmix.MVN` models.

A model is stored as plain numbers in one of two formats, chosen by the
file's extension. Loading reads numbers and strings only: it never unpickles,
imports or evaluates anything, so a model file from anyone is safe to open.
Every field is validated and a malformed file raises :class:`ValueError`
naming the field and what is wrong.

Schema (format version 1)
-------------------------
``.json`` files hold one JSON object; ``.npz`` files (``numpy.savez``, read
with ``allow_pickle=False``) hold one array per field with the same names.

==================== ========== ===================================================
field                required   value
==================== ========== ===================================================
``format``           yes        the string ``"gaussmix"``
``format_version``   yes        integer; this version writes and reads ``1``
``model``            yes        ``"GMM"`` or ``"MVN"``
``priors``           GMM        k non-negative numbers summing to 1 (tolerance 1e-6·k)
``means``            GMM        k × d numbers
``covariances``      GMM        k × d × d numbers; each matrix symmetric positive
                                semi-definite
``mean``             MVN        d numbers
``covariance``       MVN        d × d numbers, symmetric positive semi-definite
``n_components``     no         integer k (checked against the arrays if present)
``n_features``       no         integer d (checked against the arrays if present)
``covariance_type_`` no (GMM)   ``"full"``, ``"diag"``, ``"spherical"`` or ``"tied"``
``converged_``       no (GMM)   boolean from the last fit
``n_iter_``          no (GMM)   non-negative integer from the last fit
``lower_bound_``     no (GMM)   mean log-likelihood of the training data (number)
``estimator``        no (GMM)   a scikit-learn estimator of :mod:`gaussmix.sklearn`
                                that the mixture came from, as the text of a JSON
                                object (class, parameters, fitted attributes);
                                :meth:`GMM.load` ignores it, the estimator's
                                ``load`` rebuilds the estimator from it
``feature_names``    no (GMM)   d names of the features (1 to 256 printable
                                characters each), e.g. a CSV's header row
``gaussmix_version`` no         version string of the writer (informational)
==================== ========== ===================================================

All numbers must be finite (JSON ``NaN``/``Infinity`` are refused); d ≥ 1 and
k ≥ 1. Parameters that would overflow later are refused too: mean entries
beyond :data:`MAX_MEAN_MAGNITUDE` (1e152), covariance entries beyond
:data:`MAX_COVARIANCE_MAGNITUDE` (1e304) and nonzero variances below 1e-304.
Fields not in this table are refused, as are fields of the other model type.
In ``.npz`` files strings are unicode arrays (never object arrays) and
scalars are 0-d arrays. A file written with a newer ``format_version`` is
refused with a message asking for a newer gaussmix; files written by this
version will be read by every later version.

Only regular files are read (devices, FIFOs and symlinks to them are
refused before reading), at most :data:`MAX_MODEL_BYTES` of them (for
``.npz``: of uncompressed members, from the archive's directory, before any
member is inflated), and every zip, compression or ``.npy`` failure is a
:class:`ValueError` naming the file.

Example of a ``.json`` file (a 1-component, 2-D mixture)::

    {
      "format": "gaussmix",
      "format_version": 1,
      "model": "GMM",
      "gaussmix_version": "0.1.0",
      "n_components": 1,
      "n_features": 2,
      "covariance_type_": "full",
      "priors": [1.0],
      "means": [[0.0, 1.0]],
      "covariances": [[[1.0, 0.5], [0.5, 2.0]]]
    }
"""

from __future__ import annotations

import json
import lzma
import os
import secrets
import stat
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from . import covariance as structures
from ._validation import check_covariance_matrices, check_priors
from ._version import __version__

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "load_model",
    "model_from_dict",
    "model_to_dict",
    "read_model_fields",
    "save_model",
    "write_model_dict",
]

FORMAT_NAME = "gaussmix"
FORMAT_VERSION = 1
_SUPPORTED_VERSIONS = (1,)
_EXTENSIONS = (".json", ".npz")
_ARTICLE = {"GMM": "a", "MVN": "an"}

_COMMON_FIELDS = ("format", "format_version", "model", "gaussmix_version", "n_features")
_FIELDS = {
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


# The model classes register themselves here when they are defined (see
# Persistent.__init_subclass__): io sits below them and never imports them.
_MODEL_CLASSES: dict[str, type] = {}


def _model_classes() -> tuple[type, type]:
    return _MODEL_CLASSES["GMM"], _MODEL_CLASSES["MVN"]


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
            "covariance_type_": str(getattr(model, "covariance_type_", "full")),
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
    _validate(data, source="model")
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
        return _build(_validate(data, source="data"), expected, source="data")
    except _MALFORMED as exc:
        raise ValueError(f"data: malformed gaussmix model ({exc})") from exc


def _build(fields: dict, expected: type | None, source: str) -> Any:
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


def _validate(data: Any, source: str) -> dict:
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
    if model_type not in _FIELDS:
        raise ValueError(f"{source} has model={model_type!r}; expected 'GMM' or 'MVN'")
    allowed = _FIELDS[model_type]
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
    if "covariance_type_" in fields and fields["covariance_type_"] not in structures.names():
        raise ValueError(
            f"{source} field 'covariance_type_' is {fields['covariance_type_']!r}; "
            f"expected one of {', '.join(structures.names())}"
        )

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
    if isinstance(value, np.ndarray):
        array = value
    else:
        _check_numeric_tree(value, name, source)
        try:
            array = np.array(value)
        except (ValueError, TypeError) as exc:
            raise ValueError(
                f"{source} field {name!r} must be a regular {ndim}-D array of numbers "
                f"(nested lists of equal lengths)"
            ) from exc
    if array.dtype.kind not in "iuf":
        raise ValueError(
            f"{source} field {name!r} must contain real numbers; got dtype {array.dtype}"
        )
    if array.ndim != ndim:
        raise ValueError(
            f"{source} field {name!r} must be a {ndim}-D array; got {array.ndim}-D "
            f"with shape {array.shape}"
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


# ----------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------
def _extension(path: Any) -> str:
    try:
        suffix = Path(os.fspath(path)).suffix.lower()
    except TypeError as exc:
        raise TypeError(f"path must be a str or os.PathLike; got {type(path).__name__}") from exc
    if suffix not in _EXTENSIONS:
        raise ValueError(
            f"path must end with .json or .npz (the format is chosen by extension); "
            f"got {os.fspath(path)!r}"
        )
    return suffix


def _to_json_text(data: dict) -> str:
    # One field per line, arrays on one line each: readable and diff-friendly.
    lines = [
        f"  {json.dumps(key)}: {json.dumps(value, allow_nan=False)}" for key, value in data.items()
    ]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def _to_npz_arrays(data: dict) -> dict[str, np.ndarray]:
    arrays = {}
    for key, value in data.items():
        if isinstance(value, str):
            arrays[key] = np.array(value, dtype=np.str_)
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            arrays[key] = np.array(value, dtype=np.str_)
        elif isinstance(value, bool):
            arrays[key] = np.array(value, dtype=np.bool_)
        elif isinstance(value, int):
            arrays[key] = np.array(value, dtype=np.int64)
        else:
            arrays[key] = np.asarray(value, dtype=np.float64)
    return arrays


def save_model(model: Any, path: str | os.PathLike) -> None:
    """Save a GMM or MVN to ``path``, format chosen by its extension.

    ``.json`` writes a human-readable JSON object, ``.npz`` a NumPy archive
    of plain arrays (floats are stored exactly in both). The file is written
    to a temporary name and moved into place, so a crash never leaves a
    half-written model.

    Parameters
    ----------
    model : GMM or MVN
        An initialized model.
    path : str or os.PathLike
        Destination ending in ``.json`` or ``.npz``.

    Raises
    ------
    ValueError
        If the extension is not .json/.npz or the model is not initialized.
    OSError
        If the file cannot be written.
    """
    write_model_dict(model_to_dict(model), path)


def write_model_dict(data: dict, path: str | os.PathLike) -> None:
    """Write a schema dict (as :func:`model_to_dict` returns) to ``path``, atomically.

    Parameters
    ----------
    data : dict
        Validated against the schema before anything is written.
    path : str or os.PathLike
        Destination ending in ``.json`` or ``.npz``.

    Raises
    ------
    ValueError
        If the extension is not .json/.npz or ``data`` breaks the schema.
    OSError
        If the file cannot be written.
    """
    suffix = _extension(path)
    _validate(data, source="model")
    target = Path(os.fspath(path))
    # A unique temporary name opened with open(): the file gets the usual umask
    # permissions (mkstemp would make it private).
    tmp_name = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp_name, "xb") as handle:
            if suffix == ".json":
                handle.write(_to_json_text(data).encode("utf-8"))
            else:
                np.savez(handle, **_to_npz_arrays(data))
        os.replace(tmp_name, target)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed; model parameters must be finite numbers")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    data = {}
    for key, value in pairs:
        if key in data:
            raise ValueError(f"field {key!r} appears more than once")
        data[key] = value
    return data


#: Largest model file gaussmix reads, and largest total of an ``.npz`` archive's
#: uncompressed members, in bytes (512 MiB: a 1000-component, 100-feature full
#: mixture takes 80 MB). Checked before any data is read; assign a larger value
#: to ``gaussmix.io.MAX_MODEL_BYTES`` to load larger trusted models.
MAX_MODEL_BYTES = 512 * 2**20

# Every way the archive or compression layers can fail on a hostile file.
_ARCHIVE_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    NotImplementedError,  # unsupported compression method
    RuntimeError,  # encrypted member
    EOFError,
    OSError,
    ValueError,
    struct.error,
)


def _open_regular(path: Path) -> Any:
    """Open ``path`` for reading if it is a regular file within the size cap.

    Opened without blocking (a FIFO would otherwise wait for a writer
    forever) and checked on the open descriptor, so a symlink to
    ``/dev/zero`` or a device is refused before anything is read.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise ValueError(f"{path}: cannot be opened ({exc.strerror or exc})") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(
                f"{path} is not a regular file (a device, FIFO or socket); a model file "
                "must be a regular .json or .npz file"
            )
        if info.st_size > MAX_MODEL_BYTES:
            raise ValueError(
                f"{path} is {info.st_size} bytes, more than the {MAX_MODEL_BYTES}-byte cap "
                "for model files (gaussmix.io.MAX_MODEL_BYTES)"
            )
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _read_json(path: Path) -> Any:
    with _open_regular(path) as handle:
        raw = handle.read(MAX_MODEL_BYTES + 1)
    if len(raw) > MAX_MODEL_BYTES:
        raise ValueError(f"{path} grew past the {MAX_MODEL_BYTES}-byte cap while being read")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a gaussmix .json model (not UTF-8 text)") from exc
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    except RecursionError as exc:
        raise ValueError(f"{path}: JSON nested too deeply for a gaussmix model") from exc
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def _read_npz(path: Path) -> dict:
    """The members of a ``.npz`` model, every size checked before it is read.

    The archive's directory is checked first (member count at most the
    schema's fields, declared sizes within :data:`MAX_MODEL_BYTES`), then each
    member's ``.npy`` header (no object dtype, declared bytes within the
    member); only then is the member's data read, exactly the declared
    number of bytes. Every failure of the zip, compression or ``.npy``
    layers is a ValueError naming the file.
    """
    with _open_regular(path) as handle:
        magic = handle.read(6)
        handle.seek(0)
        if magic.startswith(b"\x93NUMPY"):
            raise ValueError(f"{path}: not a .npz archive (a single .npy array?)")
        try:
            archive = zipfile.ZipFile(handle)
        except _ARCHIVE_ERRORS as exc:
            raise ValueError(f"{path}: not a valid .npz archive ({exc})") from exc
        with archive:
            members = archive.infolist()
            allowed = max(len(fields) for fields in _FIELDS.values())
            if len(members) > allowed:
                raise ValueError(
                    f"{path}: archive has {len(members)} members; a gaussmix model has at "
                    f"most {allowed} fields"
                )
            total = sum(member.file_size for member in members)
            if total > MAX_MODEL_BYTES:
                raise ValueError(
                    f"{path}: archive members declare {total} bytes uncompressed, more than "
                    f"the {MAX_MODEL_BYTES}-byte cap (gaussmix.io.MAX_MODEL_BYTES)"
                )
            data = {}
            for member in members:
                key = member.filename[:-4] if member.filename.endswith(".npy") else member.filename
                data[key] = _read_npy_member(archive, member, key, path)
    return data


def read_npy_header(stream: Any) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran_order, dtype) from the header of a ``.npy`` stream, nothing more.

    Reads no data, so the caller can check the declared size first.

    Raises
    ------
    ValueError
        If the stream does not start with a valid ``.npy`` header.
    """
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(stream)
    return np.lib.format.read_array_header_2_0(stream)


def _read_npy_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, key: str, path: Path):
    """One member as a Python value or plain array, after its header is checked."""
    try:
        with archive.open(member) as stream:
            shape, fortran, dtype = read_npy_header(stream)
            if dtype.hasobject:
                raise ValueError(
                    f"{path}: array {key!r} holds Python objects; gaussmix files hold plain "
                    "numbers and strings only, and are never unpickled"
                )
            count = int(np.prod(shape, dtype=object))
            declared = count * dtype.itemsize
            if declared > member.file_size:
                raise ValueError(
                    f"{path}: array {key!r} declares shape {shape} ({declared} bytes) but "
                    f"its member holds {member.file_size} bytes"
                )
            raw = stream.read(declared)
    except ValueError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise ValueError(f"{path}: member {key!r} is not a readable .npy array ({exc})") from exc
    except _ARCHIVE_ERRORS as exc:
        raise ValueError(f"{path}: array {key!r} is corrupt ({exc})") from exc
    if len(raw) != declared:
        raise ValueError(f"{path}: array {key!r} is truncated")
    if dtype.kind not in "biufU":
        raise ValueError(
            f"{path}: array {key!r} has unsupported dtype {dtype}; gaussmix files hold plain "
            "numbers and strings only"
        )
    value = np.frombuffer(raw, dtype=dtype, count=count)
    value = value.reshape(shape[::-1]).T if fortran else value.reshape(shape)
    if dtype.kind == "U":
        if value.ndim == 1 and key == "feature_names":
            return [str(name) for name in value]
        if value.ndim != 0:
            raise ValueError(f"{path}: array {key!r} must be a single string")
        return str(value)
    if dtype.kind == "b" and value.ndim == 0:
        return bool(value)
    if value.ndim == 0 and dtype.kind in "iu":
        return int(value)
    return value.copy()


_MALFORMED = (TypeError, AttributeError, KeyError, IndexError, RecursionError, OverflowError)


def load_model(path: str | os.PathLike, expected: type | None = None) -> Any:
    """Load a model saved by :func:`save_model`, validating every field.

    Nothing in the file is executed or unpickled: ``.json`` is parsed as
    JSON, ``.npz`` is opened with ``allow_pickle=False``.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.json`` or ``.npz`` file.
    expected : {GMM, MVN, None}, optional
        The class the caller wants; None accepts either.

    Returns
    -------
    model : GMM or MVN

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the extension is unsupported, the file is malformed, or any field
        breaks the schema (the message names the file and the field).

    Examples
    --------
    >>> from gaussmix import GMM
    >>> gmm = GMM(1, priors=[1.0], means=[[0.0]], covariances=[[[1.0]]])
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "model.json")
    >>> gmm.save(path)
    >>> GMM.load(path).means
    array([[0.]])
    """
    fields, source = _read_fields(path)
    try:
        return _build(fields, expected, source=source)
    except _MALFORMED as exc:
        raise ValueError(f"{source}: malformed gaussmix model file ({exc})") from exc


def read_model_fields(path: str | os.PathLike) -> dict:
    """The validated fields of a model file (arrays as float64), without building a model.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.json`` or ``.npz`` file.

    Returns
    -------
    fields : dict
        Every field the file holds, checked against the schema as by
        :func:`load_model`.

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`load_model`.
    """
    return _read_fields(path)[0]


def _read_fields(path: str | os.PathLike) -> tuple[dict, str]:
    suffix = _extension(path)
    file_path = Path(os.fspath(path))
    if not file_path.exists():
        raise FileNotFoundError(f"model file not found: {file_path}")
    if file_path.is_dir():
        raise ValueError(f"{file_path} is a directory, not a model file")
    source = str(file_path)
    try:
        data = _read_json(file_path) if suffix == ".json" else _read_npz(file_path)
        return _validate(data, source=source), source
    except _MALFORMED as exc:
        # A safety net: whatever the validation did not foresee is still a
        # malformed file, reported as such.
        raise ValueError(f"{source}: malformed gaussmix model file ({exc})") from exc


_PersistentT = TypeVar("_PersistentT", bound="Persistent")


class Persistent:
    """Save/load methods shared by :class:`gaussmix.GMM` and :class:`gaussmix.MVN`.

    Formats and validation are those of :func:`save_model` and
    :func:`load_model`; loading never unpickles or executes anything. A
    class that sets ``_model_name`` ("GMM" or "MVN") in its own body is the
    class that files of that model type load as.
    """

    _model_name: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("_model_name")
        if name is not None:
            _MODEL_CLASSES[name] = cls

    def to_dict(self) -> dict:
        """Parameters as a JSON-ready dict (see :mod:`gaussmix.io` for the schema).

        Returns
        -------
        data : dict
            Plain Python values (str, int, float, bool, nested lists of
            floats), as :func:`model_to_dict` returns.

        Raises
        ------
        ValueError
            If the model is not initialized or its parameters are invalid.
        """
        return model_to_dict(self)

    @classmethod
    def from_dict(cls: type[_PersistentT], data: dict) -> _PersistentT:
        """Rebuild a model of this class from :meth:`to_dict` output, validating every field.

        Parameters
        ----------
        data : dict
            As produced by :meth:`to_dict` or read from a ``.json`` file.

        Returns
        -------
        model : instance of this class

        Raises
        ------
        ValueError
            If a field is missing, unknown, of the wrong type or shape, not
            finite, or the parameters are not a valid model, or if ``data``
            describes the other model type.
        """
        return model_from_dict(data, expected=cls)

    def save(self, path: str | os.PathLike) -> None:
        """Save to ``path`` (.json or .npz, chosen by the extension); never pickles.

        The file is written to a temporary name and moved into place.

        Parameters
        ----------
        path : str or os.PathLike
            Destination ending in ``.json`` or ``.npz``.

        Raises
        ------
        ValueError
            If the extension is not .json/.npz or the model is not initialized.
        TypeError
            If ``path`` is not a str or os.PathLike.
        OSError
            If the file cannot be written.
        """
        save_model(self, path)

    @classmethod
    def load(cls: type[_PersistentT], path: str | os.PathLike) -> _PersistentT:
        """Load a model of this class saved by :meth:`save`; the file is validated.

        Parameters
        ----------
        path : str or os.PathLike
            A ``.json`` or ``.npz`` file.

        Returns
        -------
        model : instance of this class

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        ValueError
            If the extension is unsupported, the file is malformed, a field
            breaks the schema, or the file holds the other model type.
        TypeError
            If ``path`` is not a str or os.PathLike.
        """
        return load_model(path, expected=cls)
