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

import os
from typing import Any, TypeVar

from .schema import (
    FORMAT_NAME,
    FORMAT_VERSION,
    MALFORMED,
    MODEL_CLASSES,
    as_number_array,
    build_model,
    model_from_dict,
    model_to_dict,
)
from .storage import MAX_MODEL_BYTES as _DEFAULT_MAX_MODEL_BYTES
from .storage import read_fields, read_npy_header, save_model, to_json_text, write_model_dict

#: Largest model file gaussmix reads, and largest total of an ``.npz`` archive's
#: uncompressed members, in bytes (512 MiB: a 1000-component, 100-feature full
#: mixture takes 80 MB). Checked before any data is read; assign a larger value
#: to ``gaussmix.io.MAX_MODEL_BYTES`` to load larger trusted models.
MAX_MODEL_BYTES = _DEFAULT_MAX_MODEL_BYTES

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MAX_MODEL_BYTES",
    "Persistent",
    "as_number_array",
    "load_model",
    "model_from_dict",
    "model_to_dict",
    "read_model_fields",
    "read_npy_header",
    "save_model",
    "to_json_text",
    "write_model_dict",
]


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
    fields, source = read_fields(path, MAX_MODEL_BYTES)
    try:
        return build_model(fields, expected, source=source)
    except MALFORMED as exc:
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
    return read_fields(path, MAX_MODEL_BYTES)[0]


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
            MODEL_CLASSES[name] = cls

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
