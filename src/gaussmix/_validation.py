"""Checks and conversions of user input, in one place.

Every public function validates its arguments here, once, and hands plain
float arrays of known shape to the math core, which trusts them. Messages
name the argument, say what was given and what is allowed.
"""

from __future__ import annotations

import numbers
import operator
import sys
import threading
import warnings
import weakref
from typing import Any

import numpy as np

INIT_PARAMS = ("random", "kmeans++", "hc")


def _describe_shape(array: np.ndarray) -> str:
    return f"shape {array.shape}" if array.ndim else "a scalar"


def as_float_array(
    value: Any,
    name: str,
    *,
    ndim: int | tuple[int, ...] | None = None,
    allow_nan: bool = False,
    dtype: Any = None,
) -> np.ndarray:
    """Convert ``value`` to a float array and check dimensionality and finiteness.

    Integer and boolean input become float64; float32 stays float32 unless
    ``dtype`` says otherwise. Complex, object and string input is refused.
    """
    try:
        array = np.asarray(value)
    except Exception as exc:  # pragma: no cover - exotic array-likes
        raise TypeError(
            f"{name} must be array-like of numbers; got {type(value).__name__}"
        ) from exc
    if array.dtype.kind in "iub":
        array = array.astype(np.float64)
    elif array.dtype.kind == "f":
        if array.dtype not in (np.float32, np.float64):
            array = array.astype(np.float64)
    elif array.dtype.kind == "O":
        try:
            array = array.astype(np.float64)
        except OverflowError:
            raise ValueError(
                f"{name} contains an integer too large for float64 (beyond about "
                "1.8e308); only finite numbers are allowed"
            ) from None
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"{name} must contain real numbers; got an object array that "
                "cannot be converted to float"
            ) from exc
    else:
        raise TypeError(f"{name} must contain real numbers; got dtype {array.dtype}")
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if array.ndim not in allowed:
            wanted = " or ".join(f"{n}-D" for n in allowed)
            raise ValueError(f"{name} must be {wanted}; got {_describe_shape(array)}")
    if array.size and not allow_nan and any_entry(_not_finite, array):
        kind = "NaN" if any_entry(np.isnan, array) else "infinite values"
        raise ValueError(f"{name} contains {kind}; only finite numbers are allowed")
    if allow_nan and any_entry(np.isinf, array):
        raise ValueError(
            f"{name} contains infinite values; only finite numbers or NaN are allowed"
        )
    return array


def check_integers_fit_float(value: Any, name: str) -> None:
    """Refuse Python integers beyond float64's range in array-like input, naming ``name``.

    numpy stores such integers in object arrays and converting them raises a
    bare ``OverflowError``; this check turns that into a ``ValueError``. Arrays
    of a numeric dtype (and anything that is not a list, tuple or object
    array) pass at no cost; other problems are left to the caller's checks.
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool | np.integer):
        try:
            float(value)
        except OverflowError:
            raise ValueError(
                f"{name} is an integer too large for float64 (beyond about 1.8e308); "
                "only finite numbers are allowed"
            ) from None
        return
    if isinstance(value, np.ndarray):
        if value.dtype.kind != "O":
            return
    elif not isinstance(value, list | tuple):
        return
    try:
        array = np.asarray(value, dtype=object)
    except ValueError:  # ragged: reported by the caller's own conversion
        return
    try:
        array.astype(np.float64)
    except OverflowError:
        raise ValueError(
            f"{name} contains an integer too large for float64 (beyond about "
            "1.8e308); only finite numbers are allowed"
        ) from None
    except (TypeError, ValueError):
        return


# Entries per block of the chunked checks: a memory-mapped X is checked
# without allocating a mask of its size.
_CHECK_BLOCK_ELEMENTS = 1 << 22


def _not_finite(block: np.ndarray) -> np.ndarray:
    return ~np.isfinite(block)


def any_entry(predicate: Any, array: np.ndarray) -> bool:
    """``predicate(array).any()`` over blocks of rows, in the memory of one block.

    For memory-mapped data (``np.load(path, mmap_mode="r")``) the checks then
    read the file once without allocating a mask as large as the array.
    """
    if array.ndim == 0 or array.size <= _CHECK_BLOCK_ELEMENTS:
        return bool(predicate(array).any())
    rows = max(1, _CHECK_BLOCK_ELEMENTS // (array.size // array.shape[0]))
    return any(
        bool(predicate(array[start : start + rows]).any())
        for start in range(0, array.shape[0], rows)
    )


def check_spread(X: np.ndarray, name: str = "X", *, stored: Any = np.float64) -> None:
    """Refuse data whose squared deviations would overflow float64 (or ``stored``).

    EM sums squared deviations (x - c)^2 over all rows and dimensions; with
    a column whose range r = max - min satisfies 4 n d r^2 > the largest
    float64 (about 1.8e308), these sums overflow and no covariance can be
    represented: e.g. one outlier at 1e200 among unit-scale rows. Scaled
    data (1e150 at most for a few thousand rows) pass. With ``stored`` float32
    (estimators keep float32 data's parameters in float32) r^2 must also fit
    float32 (r up to about 1.8e19). Missing entries (NaN) are ignored. Read in
    blocks of rows (no copy of X).

    Raises
    ------
    ValueError
        Naming the column, its range, the row of its most extreme value and
        what to do.
    """
    n, d = X.shape
    if n == 0 or d == 0:
        return
    low = np.full(d, np.inf)
    high = np.full(d, -np.inf)
    rows = max(1, (1 << 18) // d)  # 2 MiB copies of float64 blocks
    for start in range(0, n, rows):
        # column-major copy of the block: numpy reduces a few long rows
        # several times faster than many short ones
        block = np.ascontiguousarray(X[start : start + rows].T)
        # fmin/fmax skip NaN (an all-NaN column stays NaN) as nanmin does, but
        # without its warning: no warning filter to change, which is not
        # thread-safe (streams check their batches on a reader thread)
        low = np.fmin(low, np.fmin.reduce(block, axis=1))
        high = np.fmax(high, np.fmax.reduce(block, axis=1))
    observed = np.isfinite(low) & np.isfinite(high)
    spread = np.where(observed, high.astype(np.float64) - low.astype(np.float64), 0.0)
    limit = np.sqrt(np.finfo(np.float64).max / (4.0 * n * d))
    kind = "float64"
    if np.dtype(stored) == np.float32 and np.sqrt(np.finfo(np.float32).max) / 2 < limit:
        limit, kind = float(np.sqrt(np.finfo(np.float32).max) / 2), "float32 (X's dtype)"
    if not (spread <= limit).all():
        j = int(np.argmax(np.where(np.isfinite(spread), spread, np.inf)))
        column = X[:, j].astype(np.float64)
        centre = np.nanmedian(column)
        row = int(np.nanargmax(np.abs(column - centre)))
        raise ValueError(
            f"{name} spans {spread[j]:.3g} in column {j} (row {row} holds {column[row]:.3g}); "
            f"with {n} rows and {d} columns, squared deviations above {limit:.3g}**2 "
            f"overflow {kind}, so no covariance can be represented. Rescale the data "
            "(e.g. divide each column by its standard deviation) or remove far outliers."
        )


def scale_sample_weight(weights: np.ndarray | None) -> np.ndarray | None:
    """Weights rescaled by a power of two (exactly) when their sum could overflow or underflow.

    EM depends only on ratios of weights, so this changes no result; weights
    between 1e-150 and 1e150 are returned as they are.
    """
    if weights is None:
        return None
    top = float(weights.max())
    if 1e-150 <= top <= 1e150:
        return weights
    return np.ldexp(weights, -int(np.frexp(top)[1]))


def check_start_distance(means: np.ndarray | None, centre: np.ndarray) -> None:
    """Refuse starting means so far from the data that squared distances overflow."""
    if means is None:
        return
    with np.errstate(over="ignore"):
        distance2 = np.square(means - centre).sum(axis=1)
    if not np.isfinite(distance2).all():
        j = int(np.argmax(~np.isfinite(distance2)))
        raise ValueError(
            f"means[{j}] of the starting point lies too far from the data (about "
            f"{np.abs(means[j] - centre).max():.3g} from its mean) for squared distances "
            "to be represented in float64; start from means within the data's range"
        )


def coinciding_components(
    means: np.ndarray, covariances: np.ndarray, rtol: float = 1e-6
) -> list[tuple[int, int]]:
    """Pairs (i, j), i < j, of components with the same mean and covariance (to ``rtol``).

    Means are compared in units of the components' standard deviations,
    covariances relative to their largest entry. EM cannot separate two
    identical components (a saddle point of the likelihood), so a fit that
    ends with such a pair has wasted a component.
    """
    k = means.shape[0]
    if k < 2:
        return []
    scale = np.sqrt(np.maximum(np.diagonal(covariances, axis1=1, axis2=2), np.finfo(float).tiny))
    with np.errstate(over="ignore", invalid="ignore"):
        mean_gap = np.abs(means[:, None, :] - means[None, :, :]) / np.maximum(
            scale[:, None, :], scale[None, :, :]
        )
        # Covariances only for the pairs whose means coincide: all pairs would be
        # a (k, k, d, d) temporary (800 MB at k = d = 100).
        i, j = np.nonzero(np.triu(mean_gap.max(axis=2) <= rtol, 1))
        cov_scale = np.maximum(np.abs(covariances).max(axis=(1, 2)), np.finfo(float).tiny)
        cov_gap = np.abs(covariances[i] - covariances[j]).max(axis=(1, 2))
        cov_gap /= np.maximum(cov_scale[i], cov_scale[j])
    same = cov_gap <= rtol
    return list(zip(i[same].tolist(), j[same].tolist(), strict=True))


def is_dask_collection(value: Any) -> bool:
    """Whether ``value`` is a Dask collection, as ``dask.is_dask_collection`` decides.

    Any collection backed by Dask counts (a subclass of ``dask.array.Array``
    defined elsewhere, a Dask DataFrame, another library's Dask-backed
    array), so that none is materialised by ``np.asarray``. dask is never
    imported here: no Dask collection can exist before dask is, so without
    ``dask`` in ``sys.modules`` the answer is False at no cost.
    """
    dask = sys.modules.get("dask")
    if dask is None or not hasattr(value, "__dask_graph__"):
        return False
    check = getattr(dask, "is_dask_collection", None)
    if check is None:  # pragma: no cover - dask still being imported
        return type(value).__module__.split(".")[0] == "dask"
    return bool(check(value))


def check_samples(
    X: Any,
    name: str = "X",
    *,
    n_features: int | None = None,
    allow_nan: bool = False,
    min_samples: int = 1,
    dtype: Any = None,
) -> np.ndarray:
    """Check a data matrix of shape (n_samples, n_features)."""
    X = as_float_array(X, name, ndim=2, allow_nan=allow_nan, dtype=dtype)
    if X.shape[0] < min_samples:
        raise ValueError(f"{name} must have at least {min_samples} row(s); got shape {X.shape}")
    if X.shape[1] == 0:
        raise ValueError(f"{name} must have at least one column; got shape {X.shape}")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} columns but the model expects {n_features}")
    return X


def check_points(x: Any, n_features: int, name: str = "x") -> tuple[np.ndarray, bool]:
    """Accept one point (d,) or many points (n, d); return (2-D array, was_single)."""
    array = as_float_array(x, name, ndim=(0, 1, 2))
    if array.ndim == 0:
        array = array.reshape(1)
    single = array.ndim == 1
    array = np.atleast_2d(array)
    if array.shape[1] != n_features:
        raise ValueError(
            f"{name} must have {n_features} feature(s) per point; got shape "
            f"{np.shape(x) if np.ndim(x) else '()'}"
        )
    return array, single


#: Integers beyond int64 cannot be used by numpy; every integer argument is
#: checked against this range before use.
_INT64_MAX = int(np.iinfo(np.int64).max)


def _describe_int(value: int) -> str:
    text = str(value) if abs(value) < 10**30 else f"an integer of {len(str(abs(value)))} digits"
    return text


def check_int(
    value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """Check an integer argument (bool refused) within optional bounds and within int64."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {value!r}")
    value = operator.index(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {_describe_int(value)}")
    upper = _INT64_MAX if maximum is None else min(maximum, _INT64_MAX)
    if value > upper or value < -_INT64_MAX:
        raise ValueError(f"{name} must be at most {upper}; got {_describe_int(value)}")
    return value


def check_n_samples(value: Any, row_size: int) -> int:
    """A count of rows to draw: >= 0, and small enough that its array can be addressed.

    ``row_size`` is the number of float64 numbers per row (n_features, or
    more for stacked outputs).
    """
    limit = _INT64_MAX // (8 * max(1, row_size))
    n = check_int(value, "n_samples", minimum=0)
    if n > limit:
        raise ValueError(
            f"n_samples={_describe_int(n)} is too large: {n} rows of {row_size} float64 "
            f"numbers cannot be allocated; use at most {limit}"
        )
    return n


def check_float(
    value: Any,
    name: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    min_inclusive: bool = True,
    max_inclusive: bool = True,
) -> float:
    """Check a finite real scalar within optional bounds."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {value!r}")
    try:
        value = float(value)
    except OverflowError:
        raise ValueError(f"{name} must be finite; got {_describe_int(int(value))}") from None
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite; got {value}")
    low_ok = minimum is None or (value >= minimum if min_inclusive else value > minimum)
    high_ok = maximum is None or (value <= maximum if max_inclusive else value < maximum)
    if not (low_ok and high_ok):
        lo = "-inf" if minimum is None else repr(minimum)
        hi = "inf" if maximum is None else repr(maximum)
        lb = "[" if min_inclusive and minimum is not None else "("
        rb = "]" if max_inclusive and maximum is not None else ")"
        raise ValueError(f"{name} must be in {lb}{lo}, {hi}{rb}; got {value}")
    return value


def check_alpha(alpha: Any) -> float:
    """Probability mass of a confidence region in [0, 1], both ends included (as gmr).

    alpha = 0 is the region {mean}, alpha = 1 the whole space.
    """
    return check_float(alpha, "alpha", minimum=0.0, maximum=1.0)


def check_n_components(n_components: Any, n_samples: int | None = None) -> int:
    """n_components must be a positive integer no larger than the number of samples."""
    if isinstance(n_components, bool | np.bool_) or not isinstance(n_components, numbers.Integral):
        raise TypeError(f"n_components must be a positive integer; got {n_components!r}")
    n_components = check_int(n_components, "n_components")
    if n_components <= 0:
        raise ValueError(f"n_components must be a positive integer; got {n_components}")
    if n_samples is not None and n_components > n_samples:
        raise ValueError(
            f"n_components={n_components} is larger than n_samples={n_samples}; "
            f"use at most {n_samples} components."
        )
    return n_components


def check_choice(value: Any, name: str, allowed: tuple[str, ...]) -> str:
    """A string option from a fixed set."""
    if not isinstance(value, str) or value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{name} must be one of {options}; got {value!r}")
    return value


def check_indices(indices: Any, n_features: int, name: str = "indices") -> np.ndarray:
    """Feature indices: integers in [-n_features, n_features), no duplicates.

    Negative indices count from the end as in numpy. Returns non-negative int
    indices in the order given.
    """
    try:
        array = np.asarray(indices)
    except (ValueError, OverflowError) as exc:  # ragged lists
        raise ValueError(f"{name} must be a 1-D sequence of integers ({exc})") from None
    if array.dtype == object and all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in array.reshape(-1)
    ):
        # Python ints beyond int64: out of range for any model.
        raise ValueError(
            f"{name} must lie in [0, {n_features}) for a model with {n_features} features; "
            "got an integer beyond int64"
        )
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of integers; got shape {array.shape}")
    if array.dtype.kind == "b":
        if array.shape[0] != n_features:
            raise ValueError(
                f"{name} given as a boolean mask must have length {n_features}; "
                f"got {array.shape[0]}"
            )
        array = np.flatnonzero(array)
    elif array.size == 0:
        array = array.astype(np.intp)
    elif array.dtype.kind not in "iu":
        if (
            array.dtype.kind == "f"
            and np.all(np.isfinite(array))
            and np.all(array == np.round(array))
        ):
            array = array.astype(np.intp)
        else:
            raise TypeError(f"{name} must contain integers; got dtype {array.dtype}")
    if array.dtype.kind == "u" and array.size and array.max() > np.iinfo(np.intp).max:
        # uint64 2**64 - 1 would wrap to -1, the last dimension.
        raise ValueError(
            f"{name} must lie in [0, {n_features}) for a model with {n_features} features; "
            f"got {array.max()}"
        )
    array = array.astype(np.intp)
    if array.size and (array.min() < -n_features or array.max() >= n_features):
        raise ValueError(
            f"{name} must lie in [0, {n_features}) for a model with {n_features} "
            f"features (negative values count from the end, down to -{n_features}); "
            f"got {array.tolist()}"
        )
    array = np.where(array < 0, array + n_features, array)
    if np.unique(array).size != array.size:
        raise ValueError(f"{name} must not contain duplicates; got {array.tolist()}")
    return array


def split_indices(indices: Any, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (input indices, output indices) for conditioning on ``indices``."""
    in_idx = check_indices(indices, n_features)
    if in_idx.size == 0:
        raise ValueError("indices must name at least one input dimension; got an empty list")
    if in_idx.size >= n_features:
        raise ValueError(
            f"indices must leave at least one output dimension; the model has "
            f"{n_features} features and indices names {in_idx.size}"
        )
    mask = np.ones(n_features, dtype=bool)
    mask[in_idx] = False
    return in_idx, np.flatnonzero(mask)


def check_output_input_indices(
    i_out: Any, i_in: Any, n_features: int
) -> tuple[np.ndarray, np.ndarray]:
    """Output and input dimensions of a conditional: disjoint, at least one output.

    Dimensions in neither list are marginalized out; an empty ``i_in``
    gives the marginal of ``i_out``.

    Raises
    ------
    ValueError
        An empty ``i_out``, or a dimension in both lists.
    """
    out_idx = check_indices(i_out, n_features, "i_out")
    in_idx = check_indices(i_in, n_features, "i_in")
    if out_idx.size == 0:
        raise ValueError("i_out must name at least one output dimension; got an empty list")
    both = np.intersect1d(out_idx, in_idx)
    if both.size:
        raise ValueError(
            f"i_out and i_in must be disjoint (a dimension is either predicted or given); "
            f"both contain {both.tolist()}"
        )
    return out_idx, in_idx


def check_square_covariance(covariance: Any, name: str = "covariance") -> np.ndarray:
    """One (d, d) covariance, d >= 1: finite, symmetric, positive semi-definite."""
    cov = as_float_array(covariance, name, ndim=2, dtype=np.float64)
    if cov.shape[0] != cov.shape[1] or cov.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty square (d, d) matrix; got shape {cov.shape}")
    check_covariance_matrices(cov[None], lambda _j: name)
    return cov


def check_conditioning_values(
    x: Any, n_inputs: int, name: str = "x", indices_name: str = "indices"
) -> np.ndarray:
    """Values for conditioning: scalar, list, 1-D (m,) or (n, m); returns (n, m)."""
    array = as_float_array(x, name, ndim=(0, 1, 2))
    if array.ndim < 2:
        array = array.reshape(1, -1)
    if array.shape[1] != n_inputs:
        if array.ndim == 2 and array.shape[0] == n_inputs and array.shape[1] == 1:
            array = array.T
        else:
            raise ValueError(
                f"{name} must hold {n_inputs} value(s) per row, one per index in "
                f"{indices_name}; got shape {np.shape(x)}"
            )
    return array


def check_sample_weight(sample_weight: Any, n_samples: int) -> np.ndarray | None:
    """Non-negative finite weights of length n_samples with a positive sum."""
    if sample_weight is None:
        return None
    weights = as_float_array(sample_weight, "sample_weight", ndim=1, dtype=np.float64)
    if weights.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight must have length n_samples={n_samples}; got {weights.shape[0]}"
        )
    if (weights < 0).any():
        raise ValueError("sample_weight must be non-negative; got negative entries")
    if not weights.sum() > 0:
        raise ValueError("sample_weight must have a positive sum; got all zeros")
    return weights


def check_responsibilities(responsibilities: Any, n_samples: int) -> np.ndarray:
    """(n, k) responsibilities from soft (n, k) weights or hard (n,) integer labels.

    Soft rows must be finite and non-negative (they need not sum to one);
    labels must be integers >= 0 (k is the largest label + 1). Every
    component must receive some responsibility.
    """
    array = np.asarray(responsibilities)
    if array.ndim == 1 and array.dtype.kind in "iu":
        if array.shape[0] != n_samples:
            raise ValueError(
                f"responsibilities must have n_samples={n_samples} labels; got {array.shape[0]}"
            )
        if array.size and array.min() < 0:
            raise ValueError("responsibilities as labels must be >= 0; got negative labels")
        k = int(array.max()) + 1 if array.size else 0
        resp = np.zeros((n_samples, k))
        resp[np.arange(n_samples), array] = 1.0
    else:
        resp = as_float_array(responsibilities, "responsibilities", ndim=2, dtype=np.float64)
        if resp.shape[0] != n_samples:
            raise ValueError(
                f"responsibilities must have n_samples={n_samples} rows; got {resp.shape[0]}"
            )
        if (resp < 0).any():
            raise ValueError("responsibilities must be non-negative; got negative entries")
    if resp.shape[1] == 0:
        raise ValueError("responsibilities must have at least one component column")
    empty = np.flatnonzero(resp.sum(axis=0) <= 0)
    if empty.size:
        raise ValueError(
            f"responsibilities give component(s) {empty.tolist()} no weight; every "
            "component needs some responsibility"
        )
    return resp


def check_mean_covariance(mean: Any, covariance: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mean (d,) and covariance (d, d) of one Gaussian, finite and symmetric."""
    mean = as_float_array(mean, "mean", ndim=(0, 1), dtype=np.float64).reshape(-1)
    covariance = as_float_array(covariance, "covariance", ndim=(0, 1, 2), dtype=np.float64)
    d = mean.shape[0]
    if d == 0:
        raise ValueError("mean must have at least one entry; got an empty mean")
    if covariance.ndim < 2:
        covariance = covariance.reshape(1, 1) if covariance.size == 1 and d == 1 else covariance
    if covariance.shape != (d, d):
        raise ValueError(
            f"covariance must have shape ({d}, {d}) to match mean of length {d}; "
            f"got {_describe_shape(np.asarray(covariance))}"
        )
    check_covariance_matrices(covariance[None], lambda _j: "covariance")
    return mean, covariance


#: Priors must sum to one within this tolerance per component.
PRIORS_TOLERANCE = 1e-6
#: Relative tolerance of the symmetry and semi-definiteness checks.
_MATRIX_TOLERANCE = 1e-8


def check_priors(
    priors: np.ndarray, k: int, describe: str | None = None, shape_context: str = ""
) -> np.ndarray:
    """Non-negative (k,) mixture weights that sum to one (within ``PRIORS_TOLERANCE * k``).

    ``describe`` is the subject of the messages ("priors" by default; model
    files name the file and field); ``shape_context`` ends the shape message.
    """
    subject = "priors" if describe is None else describe
    if priors.shape != (k,):
        raise ValueError(f"{subject} must have shape ({k},){shape_context}; got {priors.shape}")
    if (priors < 0).any():
        raise ValueError(f"{subject} must be non-negative; got {priors.min()!r}")
    total = float(priors.sum())
    if not abs(total - 1.0) <= PRIORS_TOLERANCE * max(1, k):
        raise ValueError(f"{subject} must sum to 1; they sum to {total!r}")
    return priors


def check_covariance_matrices(covariances: np.ndarray, describe: Any) -> None:
    """Every (d, d) matrix of a (k, d, d) stack symmetric and positive semi-definite.

    Singular matrices, all-zero ones included, are valid: EM with
    ``reg_covar=0`` produces them when a component collapses onto a point,
    and every method regularizes them the same way (``safe_cholesky``).

    Parameters
    ----------
    covariances : ndarray, shape (k, d, d)
        Finite matrices.
    describe : callable
        ``describe(j)`` is the subject of a message about matrix j, e.g.
        "covariances[1]".

    Raises
    ------
    ValueError
        Naming the first matrix that is not symmetric (relative 1e-8) or has
        an eigenvalue below -1e-8 times its largest (rounding tolerated).
    """
    scale = np.abs(covariances).max(axis=(1, 2))
    asym = np.abs(covariances - np.swapaxes(covariances, 1, 2)).max(axis=(1, 2))
    bad = np.flatnonzero(asym > _MATRIX_TOLERANCE * scale)
    if bad.size:
        raise ValueError(f"{describe(bad[0])} is not symmetric")
    with np.errstate(over="ignore", invalid="ignore"):
        eigvals = np.linalg.eigvalsh(0.5 * (covariances + np.swapaxes(covariances, 1, 2)))
    tolerance = _MATRIX_TOLERANCE * np.maximum(np.abs(eigvals).max(axis=1), np.finfo(float).tiny)
    bad = np.flatnonzero(eigvals[:, 0] < -tolerance)
    if bad.size:
        j = bad[0]
        raise ValueError(
            f"{describe(j)} is not positive semi-definite (smallest eigenvalue "
            f"{eigvals[j, 0]:.3g}); a covariance must be symmetric with non-negative "
            "eigenvalues"
        )


def check_mixture(
    priors: Any, means: Any, covariances: Any, n_components: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Priors (k,), means (k, d), covariances (k, d, d) that agree with each other."""
    priors = as_float_array(priors, "priors", ndim=1, dtype=np.float64)
    means = as_float_array(means, "means", ndim=2, dtype=np.float64)
    covariances = as_float_array(covariances, "covariances", ndim=3, dtype=np.float64)
    k, d = means.shape
    if k != n_components:
        raise ValueError(
            f"means has {k} rows but n_components={n_components}; give one mean per component"
        )
    check_priors(priors, k)
    if covariances.shape != (k, d, d):
        raise ValueError(f"covariances must have shape ({k}, {d}, {d}); got {covariances.shape}")
    check_covariance_matrices(covariances, lambda j: f"covariances[{j}]")
    return priors, means, covariances


def components_of_given_parameters(
    n_components: int, priors: Any, means: Any, covariances: Any
) -> int:
    """The number of components the given parameter arrays describe, with a warning.

    gmr uses the arrays it is given whatever ``n_components`` says; so does
    gaussmix: when every given array (priors (m,), means (m, d), covariances
    (m, d, d)) has the same length m != n_components, m is returned and a
    ``UserWarning`` says so. Otherwise (none given, lengths that disagree,
    which :func:`check_mixture` then reports) ``n_components`` is returned.
    """
    lengths = {
        len(array)
        for array in (priors, means, covariances)
        if array is not None and np.ndim(array) >= 1
    }
    if len(lengths) != 1:
        return n_components
    (given,) = lengths
    if given in (0, n_components):
        return n_components
    warnings.warn(
        f"n_components={n_components}, but the given priors, means and covariances "
        f"describe {given} components; using n_components={given} (as gmr, which uses "
        "the arrays it is given)",
        UserWarning,
        stacklevel=3,
    )
    return given


class DerivedCache:
    """Values derived from an object's parameters, recomputed whenever one changes.

    The model classes validate and factorize their parameters through this
    cache, once per change instead of once per call. A change is detected
    whether the user assigns a new value (``gmm.means = ...``) or modifies
    an array in place (``gmm.means[0] = ...``): the cache keeps a private
    copy of every source value and compares it (exactly) before reuse.
    Arrays the cache computed itself (factors, converted copies) are made
    read-only, so no caller can change what later calls are served.
    """

    def __init__(self) -> None:
        self._sources: tuple = ()
        self._values: dict[Any, Any] = {}

    def _unchanged(self, sources: tuple) -> bool:
        if len(sources) != len(self._sources):
            return False
        for current, (held, copy) in zip(sources, self._sources, strict=True):
            if current is not held:
                return False
            if isinstance(copy, np.ndarray):
                if not (
                    isinstance(current, np.ndarray)
                    and current.shape == copy.shape
                    and current.dtype == copy.dtype
                    and np.array_equal(current, copy)
                ):
                    return False
            elif not isinstance(current, (int, float, str, type(None))):
                return False  # lists and other containers: never reused
        return True

    def get(self, sources: tuple, name: Any, compute: Any) -> Any:
        """``compute()``, or its value from an earlier call with unchanged ``sources``.

        Parameters
        ----------
        sources : tuple
            The values the result depends on (arrays, numbers, None).
        name : hashable
            Which derived value (several share one set of sources).
        compute : callable
            Computes the value; its exceptions propagate and nothing is cached.
        """
        if not self._unchanged(sources):
            self._sources = tuple(
                (value, value.copy() if isinstance(value, np.ndarray) else value)
                for value in sources
            )
            self._values = {}
        if name not in self._values:
            value = compute()
            held = {id(source) for source, _ in self._sources}
            for array in value if isinstance(value, tuple) else (value,):
                if isinstance(array, np.ndarray) and id(array) not in held and array.flags.owndata:
                    array.setflags(write=False)
            self._values[name] = value
        return self._values[name]


_CACHES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


class CachedParameters:
    """Mixin of the model classes: ``_derived(name, compute)`` through a :class:`DerivedCache`.

    The class lists in ``_PARAMETERS`` the attribute names the derived values
    depend on. The cache is kept outside the instance (keyed weakly by it), so
    copies and pickles of a model never carry or share it.
    """

    _PARAMETERS: tuple[str, ...] = ()

    def _derived(self, name: Any, compute: Any) -> Any:
        cache = _CACHES.get(self)
        if cache is None:
            with _CACHES_LOCK:
                cache = _CACHES.setdefault(self, DerivedCache())
        sources = tuple(getattr(self, attribute) for attribute in self._PARAMETERS)
        return cache.get(sources, name, compute)


def check_noise_covariances(noise: Any, n_samples: int, n_features: int) -> tuple[np.ndarray, str]:
    """Check the noise covariances of n measured rows of d features.

    Accepted: (n, d, d) one covariance per row, (n, d) per-row variances
    (diagonal noise), (d, d) or (1, d, d) one covariance shared by all rows.
    A 2-D array is ambiguous when n == d and is refused (pass (1, d, d) or
    (n, d, d)). Every covariance must be finite, symmetric (to 1e-8 of its
    largest entry) and positive semi-definite (eigenvalues >= -1e-10 of its
    largest entry).

    Returns
    -------
    values : ndarray (float64)
        (n, d, d), (n, d) or (d, d).
    kind : {"matrices", "variances", "shared"}

    Raises
    ------
    ValueError
        Naming ``noise_covariances``: wrong number of rows or dimensions,
        NaN or infinite entries, not symmetric, not positive semi-definite.
    """
    name = "noise_covariances"
    n, d = n_samples, n_features
    values = as_float_array(noise, name, ndim=(2, 3), dtype=np.float64)
    allowed = (
        f"allowed: ({n}, {d}, {d}) one covariance per row, ({n}, {d}) per-row variances, "
        f"or ({d}, {d}) / (1, {d}, {d}) one covariance for all rows"
    )
    if values.ndim == 2 and n == d > 1 and values.shape == (d, d):
        # (With n = d = 1 both readings are the same variance.)
        raise ValueError(
            f"{name} of shape {values.shape} is ambiguous with n_samples = n_features = {d}: "
            f"pass per-row variances as ({n}, {d}, {d}) diagonal matrices or one shared "
            f"covariance as shape (1, {d}, {d})"
        )
    if values.shape == (1, d, d):
        # Shared even when n == d (the (d, d) it becomes must not read as variances).
        values, kind = values[0], "shared"
    elif values.shape == (n, d):
        kind = "variances"
    elif values.shape == (d, d):
        kind = "shared"
    elif values.shape == (n, d, d):
        kind = "matrices"
    else:
        raise ValueError(f"{name} has shape {values.shape} for X of shape ({n}, {d}); {allowed}")
    if kind == "variances":
        negative = np.flatnonzero((values < 0).any(axis=1))
        if negative.size:
            raise ValueError(
                f"{name} must hold non-negative variances; row {int(negative[0])} has "
                f"{values[negative[0]].min():g} (not positive semi-definite)"
            )
        return values, kind
    matrices = values[None] if kind == "shared" else values
    for start in range(0, matrices.shape[0], 1 << 14):
        _check_psd_block(matrices[start : start + (1 << 14)], start, name)
    return values, kind


def _check_psd_block(matrices: np.ndarray, offset: int, name: str) -> None:
    scale = np.abs(matrices).max(axis=(1, 2))
    asymmetry = np.abs(matrices - np.swapaxes(matrices, 1, 2)).max(axis=(1, 2))
    bad = np.flatnonzero(asymmetry > 1e-8 * scale)
    if bad.size:
        raise ValueError(
            f"{name} must be symmetric; the covariance of row {offset + int(bad[0])} differs "
            f"from its transpose by {asymmetry[bad[0]]:g}"
        )
    smallest = np.linalg.eigvalsh(matrices)[:, 0]
    bad = np.flatnonzero(smallest < -1e-10 * scale)
    if bad.size:
        raise ValueError(
            f"{name} must be positive semi-definite; the covariance of row "
            f"{offset + int(bad[0])} has eigenvalue {smallest[bad[0]]:g}"
        )
