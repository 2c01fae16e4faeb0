"""Safe files of fitted scikit-learn-style estimators: a gaussmix GMM file plus
one JSON field, ``estimator``, with the class, its parameters and fitted
attributes, every value checked when read.
"""

from __future__ import annotations

import json
import os
from typing import Any, ClassVar

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .. import covariance as structures
from .. import io as _io


def jsonable(value: Any) -> Any:
    """Arrays and numpy scalars as plain Python values for JSON."""
    if isinstance(value, tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot save a parameter of type {type(value).__name__} in a model file")


def reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed in a model file")


def check_plain(value: Any, what: str) -> None:
    """JSON scalars or (nested) lists of numbers only."""
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, (int, float)):
        if not np.isfinite(value):
            raise ValueError(f"{what} must be finite")
        return
    if isinstance(value, list):
        record_array({"v": value}, "v", None, what)
        return
    raise ValueError(f"{what} has an unsupported type {type(value).__name__}")


def record_number(value: Any, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise ValueError(f"{source}: expected a finite number, got {value!r}")
    return float(value)


def record_int(fitted: dict, name: str, source: str, minimum: int) -> int:
    value = fitted.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{source}: fitted {name} must be an integer >= {minimum}")
    return value


def record_array(fitted: dict, name: str, shape: tuple | None, source: str) -> np.ndarray:
    """A fitted attribute as a finite float64 array of ``shape`` (io's one validator)."""
    return _io.as_number_array(fitted.get(name), name, source, shape=shape)


class EstimatorFileMixin:
    """save/load of fitted mixture estimators in gaussmix model files (never pickles)."""

    _FITTED: ClassVar[tuple[str, ...]] = ("weights_", "means_", "covariances_")

    def save(self, path: str | os.PathLike) -> None:
        """Save the fitted estimator to a gaussmix model file (.json or .npz); never pickles.

        The file is a gaussmix ``GMM`` file of :meth:`to_gmm` (so
        :meth:`gaussmix.GMM.load` reads the mixture) with one more field,
        ``estimator``: the estimator's class, parameters and fitted
        attributes as JSON text. A ``random_state`` that is not an int or
        None (a RandomState object) is saved as None.

        Parameters
        ----------
        path : str or os.PathLike
            Destination ending in ``.json`` or ``.npz``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            If the extension is not .json/.npz.
        """
        check_is_fitted(self)
        data = _io.model_to_dict(self.to_gmm())
        data["estimator"] = json.dumps(self._record(), allow_nan=False)
        _io.write_model_dict(data, path)

    @classmethod
    def load(cls, path: str | os.PathLike):
        """Load an estimator saved by :meth:`save`, validating every field (nothing is executed).

        Parameters
        ----------
        path : str or os.PathLike

        Returns
        -------
        estimator : instance of this class, fitted

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        ValueError
            If the file is not a gaussmix model file, holds no estimator of
            this class, or any parameter or fitted attribute is malformed.
        """
        fields = _io.read_model_fields(path)
        source = os.fspath(path)
        if fields["model"] != "GMM" or "estimator" not in fields:
            raise ValueError(
                f"{source} holds no scikit-learn estimator (a plain gaussmix model file); "
                "load it with gaussmix.io.load_model"
            )
        try:
            record = json.loads(fields["estimator"], parse_constant=reject_constant)
        except (ValueError, RecursionError) as exc:
            raise ValueError(
                f"{source}: the estimator field is not a JSON object ({exc})"
            ) from exc
        try:
            return cls._from_record(record, source)
        except (TypeError, KeyError, IndexError, AttributeError, RecursionError) as exc:
            raise ValueError(f"{source}: malformed estimator field ({exc})") from exc

    def _record(self) -> dict:
        params = {}
        for name, value in self.get_params(deep=False).items():
            if name == "random_state" and not isinstance(value, (int, np.integer, type(None))):
                value = None
            params[name] = jsonable(value)
        fitted = {name: jsonable(getattr(self, name)) for name in self._FITTED}
        if structures.get(self.covariance_type).isotropic and "covariance_prior_" in fitted:
            # scikit-learn accepts [2.5] as well as 2.5 for a spherical prior
            fitted["covariance_prior_"] = float(np.ravel(self.covariance_prior_)[0])
        fitted.update(
            converged_=bool(self.converged_),
            n_iter_=int(self.n_iter_),
            lower_bound_=float(self.lower_bound_) if np.isfinite(self.lower_bound_) else None,
            lower_bounds_=[float(v) for v in self.lower_bounds_],
            n_features_in_=int(self.n_features_in_),
            dtype=str(np.dtype(self.means_.dtype)),
        )
        if hasattr(self, "feature_names_in_"):
            fitted["feature_names_in_"] = [str(v) for v in self.feature_names_in_]
        return {"class": type(self).__name__, "params": params, "fitted": fitted}

    @classmethod
    def _from_record(cls, record: Any, source: str):
        if not isinstance(record, dict) or set(record) != {"class", "params", "fitted"}:
            raise ValueError(f"{source}: the estimator field must hold class, params and fitted")
        if record["class"] != cls.__name__:
            raise ValueError(
                f"{source} holds a {record['class']!r} estimator; use "
                f"gaussmix.sklearn.{record['class']}.load"
                if record["class"] in ("GaussianMixture", "BayesianGaussianMixture")
                else f"{source} holds an unknown estimator class {record['class']!r}"
            )
        params, fitted = record["params"], record["fitted"]
        if not isinstance(params, dict) or not isinstance(fitted, dict):
            raise ValueError(f"{source}: estimator params and fitted must be JSON objects")
        allowed = set(cls().get_params(deep=False))
        unknown = sorted(set(params) - allowed)
        if unknown:
            raise ValueError(f"{source}: unknown estimator parameter(s) {unknown}")
        for name, value in params.items():
            check_plain(value, f"{source}: parameter {name!r}")
        return cls(**params)._with_fitted(fitted, source)

    def _with_fitted(self, fitted: dict, source: str) -> Any:
        """This new estimator with its parameters checked and the fitted attributes set."""
        self._validate_params()
        d = record_int(fitted, "n_features_in_", source, minimum=1)
        k = self.n_components
        dtype = fitted.get("dtype")
        if dtype not in ("float32", "float64"):
            raise ValueError(f"{source}: fitted dtype must be 'float32' or 'float64'")
        shapes = self._fitted_shapes(k, d)
        values = {
            name: record_array(fitted, name, shape, source) for name, shape in shapes.items()
        }
        n_iter = record_int(fitted, "n_iter_", source, minimum=0)
        self._restore(values, k, d, np.dtype(dtype), source, n_iter)
        self.converged_ = fitted.get("converged_")
        if not isinstance(self.converged_, bool):
            raise ValueError(f"{source}: fitted converged_ must be true or false")
        self.n_iter_ = n_iter
        bound = fitted.get("lower_bound_")
        self.lower_bound_ = -np.inf if bound is None else record_number(bound, source)
        bounds = fitted.get("lower_bounds_", [])
        if not isinstance(bounds, list):
            raise ValueError(f"{source}: fitted lower_bounds_ must be a list of numbers")
        self.lower_bounds_ = [record_number(v, source) for v in bounds]
        self.n_features_in_ = d
        names = fitted.get("feature_names_in_")
        if names is not None:
            if not (
                isinstance(names, list)
                and len(names) == d
                and all(isinstance(n, str) for n in names)
            ):
                raise ValueError(f"{source}: feature_names_in_ must be {d} strings")
            self.feature_names_in_ = np.array(names, dtype=object)
        return self
