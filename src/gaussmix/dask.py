"""Dask arrays for users: lazy scoring and prediction, files read by workers, a client.

Importing this module imports dask (``pip install "gaussmix[dask]"``); only it
and :mod:`gaussmix.em.dask_source` import dask, and ``import gaussmix`` imports
neither: the scoring methods import this module, and the engine's front door
(:func:`gaussmix.em.front.open_source`) the source, when they are given a Dask
array.

- :class:`DaskSource` (defined in :mod:`gaussmix.em.dask_source`, re-exported
  here): the statistics source over a ``dask.array.Array`` chunked along rows.
  Every iteration maps the engine's own module-level E-step over the chunks
  where they live and adds their packed statistics (k * n_phi + k + 4 numbers
  each) in a tree reduction; only that vector reaches the client, which runs
  the M-step.
- :func:`map_rows`, :func:`lazy_predict`: the lazy forms of
  ``score_samples``, ``to_responsibilities``, ``impute`` and ``predict``,
  chunked like their input; :func:`map_measured_rows` those of
  ``score_samples`` and ``to_responsibilities`` of noisy (projected) rows,
  their noise and maps chunked like X; :func:`total_and_count` the sum and
  length of a lazy score.
- :func:`read_npy`: a ``.npy`` file as a Dask array whose chunks are read
  (memory-mapped) by the workers; :func:`connect`: a ``Client`` for the
  command line's ``--scheduler``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import dask
import dask.array as da
import numpy as np

from ._validation import check_int
from .em.dask_source import INIT_SAMPLE_ROWS, DaskSource, check_rows

__all__ = [
    "INIT_SAMPLE_ROWS",
    "DaskSource",
    "check_rows",
    "chunked",
    "connect",
    "join_columns",
    "lazy_predict",
    "map_measured_rows",
    "map_rows",
    "read_npy",
    "total_and_count",
]


def map_rows(
    method: Callable[[np.ndarray], np.ndarray],
    X: Any,
    n_features: int,
    columns: int | None,
    dtype: Any = np.float64,
) -> da.Array:
    """A row-wise model method over a Dask array, lazily, chunked like X's rows.

    Parameters
    ----------
    method : bound method of a model
        Called on every chunk (a NumPy array); the model is copied first, so
        later changes of its parameters do not reach the lazy result.
    X : dask.array.Array, shape (n, n_features)
    n_features : int
        Columns X must have.
    columns : int or None
        Width of the output, or None for a 1-D output (n,).
    dtype : numpy dtype, default=numpy.float64
        The output's dtype.

    Returns
    -------
    dask.array.Array, shape (n,) or (n, columns)
    """
    X = check_rows(X, n_features=n_features, for_fit=False)
    frozen = getattr(copy.deepcopy(method.__self__), method.__name__)
    if columns is None:
        return X.map_blocks(frozen, drop_axis=1, dtype=dtype, meta=np.empty((0,), dtype))
    return X.map_blocks(
        frozen, chunks=(X.chunks[0], (columns,)), dtype=dtype, meta=np.empty((0, 0), dtype)
    )


def _row_chunks(X: da.Array, name: str) -> tuple:
    rows = X.chunks[0]
    if any(np.isnan(size) for size in rows):
        raise ValueError(
            f"X has unknown chunk sizes (NaN row counts) and {name} has one entry per row: "
            "call X.compute_chunk_sizes() first"
        )
    return rows


def _per_row(values: Any, name: str, X: da.Array, allowed: tuple) -> tuple[da.Array, tuple]:
    """A per-row input (noise, maps), flattened to 2-D and chunked like X's rows.

    ``allowed`` lists the accepted shapes of one row's entry; a Dask array's
    values are checked in each chunk when computed.
    """
    rows = _row_chunks(X, name)
    if not isinstance(values, da.Array):
        values = da.from_array(values, chunks=(rows, *values.shape[1:]))
    elif values.dtype.kind not in "iubf":
        raise TypeError(f"{name} must contain real numbers; got dtype {values.dtype}")
    if values.shape[0] != X.shape[0] or values.shape[1:] not in allowed:
        shapes = " or ".join(str((X.shape[0], *entry)) for entry in allowed)
        raise ValueError(
            f"{name} has shape {values.shape} for X of shape {X.shape}; allowed as a Dask "
            f"array: {shapes} (one for all rows as a numpy array)"
        )
    width = int(np.prod(values.shape[1:]))
    flat = values.astype(np.float64).reshape(X.shape[0], width)
    return flat.rechunk((rows, width)), values.shape[1:]


def _noise_for_chunks(
    noise_covariances: Any, X: da.Array, m: int, arrays: list
) -> tuple[Any, tuple | None]:
    """Noise of X's rows for :func:`_measured_block`: (shared, None) or (None, entry shape).

    A per-row noise (in memory or Dask) is appended to ``arrays`` flattened
    and chunked like X; a shared one is returned as (1, m, m) (a chunk of m
    rows would read (m, m) as ambiguous). In-memory noise is checked here.
    """
    from ._validation import as_float_array, check_noise_covariances

    if noise_covariances is None:
        return None, None
    n = X.shape[0]
    if not isinstance(noise_covariances, da.Array):
        values = as_float_array(noise_covariances, "noise_covariances", ndim=(2, 3))
        if values.shape == (1, m, m) or (values.shape == (m, m) and np.isnan(n)):
            values, kind = check_noise_covariances(values.reshape(1, m, m), 1, m)
        else:
            _row_chunks(X, "noise_covariances")
            values, kind = check_noise_covariances(values, n, m)
        if kind == "shared":
            return values[None], None
        noise_covariances = values
    flat, shape = _per_row(noise_covariances, "noise_covariances", X, ((m,), (m, m)))
    arrays.append(flat)
    return None, shape


def _measured_block(
    block: np.ndarray,
    *per_row: np.ndarray,
    model: Any,
    method: str,
    noise: Any,
    noise_shape: tuple | None,
    projection: Any,
    projection_shape: tuple | None,
    given: np.ndarray | None = None,
    packed: bool = False,
) -> np.ndarray:
    """``model.method`` on one chunk of measured rows (per-row maps, then noise, unflattened).

    With ``given`` (input dimensions): ``model.predict`` of noisy inputs, the
    means or, ``packed``, [means, covariances flattened].
    """
    per_row = list(per_row)
    c = block.shape[0]
    if projection_shape is not None:
        projection = per_row.pop(0).reshape(c, *projection_shape)
    if noise_shape is not None:
        noise = per_row.pop(0).reshape(c, *noise_shape)
        if noise.ndim == 2 and c == noise.shape[1]:
            # (c, m) variances with c == m would read as one shared (m, m) covariance.
            noise = noise[:, :, None] * np.eye(noise.shape[1])
    if given is not None:
        result = model.predict(given, block, return_covariance=packed, noise_covariances=noise)
        if not packed:
            return result
        mean, cov = result
        return np.concatenate([mean, cov.reshape(mean.shape[0], -1)], axis=1)
    return getattr(model, method)(block, noise_covariances=noise, projection=projection)


def map_measured_rows(
    model: Any,
    method: str,
    X: Any,
    noise_covariances: Any,
    projection: Any,
    columns: int | None,
) -> da.Array:
    """``model.method(X, noise_covariances=..., projection=...)`` over a Dask X, lazily.

    Per-row noise ((n, m) or (n, m, m)) and maps ((n, m, d)), in memory or
    Dask arrays, are chunked like X's rows; a shared (m, m) covariance or
    (m, d) map (numpy arrays) goes to every chunk as it is. In-memory inputs
    are checked here; a Dask array's shape here, its values (NaN, symmetry,
    positive semi-definiteness) in each chunk when computed.

    Parameters
    ----------
    model : GMM
        Copied, so later changes of its parameters do not reach the result.
    method : {"score_samples", "to_responsibilities"}
    X : dask.array.Array, shape (n, m)
        Measured rows (m = the model's n_features without a projection).
    noise_covariances, projection : array-like, dask.array.Array or None
    columns : int or None
        Width of the output, or None for a 1-D output (n,).

    Returns
    -------
    dask.array.Array, shape (n,) or (n, columns)

    Raises
    ------
    ValueError
        Naming ``X``, ``noise_covariances`` or ``projection`` for wrong
        shapes, or X with unknown chunk sizes and per-row inputs.
    TypeError
        For inputs that do not hold real numbers.
    """
    from ._validation import as_float_array
    from ._validation_noise import check_projection

    d = model.n_features
    if projection is not None and not isinstance(projection, da.Array):
        projection = as_float_array(projection, "projection", ndim=(2, 3), dtype=np.float64)
    m = d if projection is None else projection.shape[-2]
    X = check_rows(X, n_features=m, for_fit=False)
    n = X.shape[0]
    arrays: list[da.Array] = []
    projection_shape = None
    if projection is not None:
        if projection.shape[-1] != d:
            raise ValueError(
                f"projection maps from {projection.shape[-1]} dimensions; the mixture has {d}"
            )
        if not isinstance(projection, da.Array) and (
            projection.ndim == 2 or projection.shape[0] == 1
        ):
            projection = check_projection(projection, 1, m)
        else:
            if not isinstance(projection, da.Array):
                _row_chunks(X, "projection")
                projection = check_projection(projection, n, m)
            flat, projection_shape = _per_row(projection, "projection", X, ((m, d),))
            arrays.append(flat)
            projection = None
    noise_covariances, noise_shape = _noise_for_chunks(noise_covariances, X, m, arrays)
    kwargs = dict(
        model=copy.deepcopy(model),
        method=method,
        noise=noise_covariances,
        noise_shape=noise_shape,
        projection=projection,
        projection_shape=projection_shape,
    )
    if columns is None:
        return da.map_blocks(
            _measured_block,
            X,
            *arrays,
            drop_axis=1,
            dtype=np.float64,
            meta=np.empty((0,)),
            **kwargs,
        )
    return da.map_blocks(
        _measured_block,
        X,
        *arrays,
        chunks=(X.chunks[0], (columns,)),
        dtype=np.float64,
        meta=np.empty((0, 0)),
        **kwargs,
    )


def total_and_count(values: da.Array) -> tuple[float, int]:
    """The sum and the length of a lazy 1-D array, in one pass (lengths may be unknown)."""
    count = values.shape[0]
    if np.isnan(count):
        count = values.map_blocks(
            lambda block: np.array([block.shape[0]]), chunks=((1,) * values.numblocks[0],)
        ).sum()
    total, count = dask.compute(values.sum(), count)
    return float(total), int(count)


def _predict_means(block: np.ndarray, model: Any, indices: np.ndarray) -> np.ndarray:
    return model.predict(indices, block)


def _predict_packed(block: np.ndarray, model: Any, indices: np.ndarray) -> np.ndarray:
    """[means, covariances flattened] of one chunk's conditional mixtures."""
    mean, cov = model.predict(indices, block, return_covariance=True)
    return np.concatenate([mean, cov.reshape(mean.shape[0], -1)], axis=1)


def _take_columns(block: np.ndarray, start: int, stop: int, shape: tuple) -> np.ndarray:
    return block[:, start:stop].reshape((block.shape[0], *shape))


def lazy_predict(
    model: Any,
    indices: np.ndarray,
    n_outputs: int,
    X: Any,
    return_covariance: bool,
    noise_covariances: Any = None,
) -> da.Array | tuple[da.Array, da.Array]:
    """``model.predict(indices, X, return_covariance)`` over a Dask array, lazily.

    Parameters
    ----------
    model : GMM
        Copied, so later changes of its parameters do not reach the result.
    indices : ndarray of int, shape (n_inputs,)
        Validated input dimensions.
    n_outputs : int
    X : dask.array.Array, shape (n, n_inputs)
    return_covariance : bool
    noise_covariances : array-like or dask.array.Array, optional
        The inputs' known noise (regression on noisy inputs): per-row
        (n, n_inputs) or (n, n_inputs, n_inputs), in memory or a Dask
        array (chunked like X's rows), or one shared numpy (n_inputs,
        n_inputs).

    Returns
    -------
    means : dask.array.Array, shape (n, n_outputs)
    covariances : dask.array.Array, shape (n, n_outputs, n_outputs)
        Only with ``return_covariance``; computed in the same tasks as the
        means (compute both together, e.g. ``dask.compute(means, covs)``).
    """
    X = check_rows(X, n_features=indices.size, for_fit=False)
    model = copy.deepcopy(model)
    rows = X.chunks[0]
    width = n_outputs + n_outputs * n_outputs if return_covariance else n_outputs
    if noise_covariances is not None:
        arrays: list[da.Array] = []
        shared, shape = _noise_for_chunks(noise_covariances, X, indices.size, arrays)
        packed = da.map_blocks(
            _measured_block,
            X,
            *arrays,
            model=model,
            method="predict",
            noise=shared,
            noise_shape=shape,
            projection=None,
            projection_shape=None,
            given=indices,
            packed=bool(return_covariance),
            chunks=(rows, (width,)),
            dtype=np.float64,
            meta=np.empty((0, 0)),
        )
        if not return_covariance:
            return packed
    elif not return_covariance:
        return X.map_blocks(
            _predict_means,
            model,
            indices,
            chunks=(rows, (n_outputs,)),
            dtype=np.float64,
            meta=np.empty((0, 0)),
        )
    else:
        packed = X.map_blocks(
            _predict_packed,
            model,
            indices,
            chunks=(rows, (width,)),
            dtype=np.float64,
            meta=np.empty((0, 0)),
        )
    means = packed.map_blocks(
        _take_columns,
        0,
        n_outputs,
        (n_outputs,),
        chunks=(rows, (n_outputs,)),
        dtype=np.float64,
        meta=np.empty((0, 0)),
    )
    covariances = packed.map_blocks(
        _take_columns,
        n_outputs,
        width,
        (n_outputs, n_outputs),
        chunks=(rows, (n_outputs,), (n_outputs,)),
        new_axis=2,
        dtype=np.float64,
        meta=np.empty((0, 0, 0)),
    )
    return means, covariances


def join_columns(X: Any, y: Any) -> tuple[da.Array, int, bool]:
    """[X, y] as one Dask array of row chunks, lazily (the regressor's joint data).

    Either may be a NumPy array; it is then chunked like the other's rows.

    Returns
    -------
    joint : dask.array.Array, shape (n, d_in + d_out), float64
    n_inputs : int
    y_1d : bool
        Whether y was 1-D.

    Raises
    ------
    ValueError
        For the problems :func:`check_rows` names, a y that is not 1-D or
        2-D, or X and y of different lengths.
    """
    if isinstance(X, da.Array) or hasattr(X, "to_dask_array"):
        X = check_rows(X)
        rows = X.chunks[0]
    else:
        if not isinstance(y, da.Array) or any(np.isnan(size) for size in y.chunks[0]):
            raise ValueError("y has unknown chunk sizes (NaN); call y.compute_chunk_sizes()")
        rows = y.chunks[0]
        X = check_rows(da.from_array(np.asarray(X), chunks=(rows, -1)))
    y_1d = np.ndim(y) == 1
    if np.ndim(y) not in (1, 2):
        raise ValueError(f"y must be 1-D or 2-D; got shape {np.shape(y)}")
    if np.shape(y)[0] != X.shape[0]:
        raise ValueError(
            f"X and y have different numbers of rows: {X.shape[0]} and {np.shape(y)[0]}"
        )
    if not isinstance(y, da.Array):
        y = da.from_array(np.asarray(y), chunks=(rows,) + ((-1,) if not y_1d else ()))
    targets = check_rows(y[:, None] if y_1d else y, "y")
    if targets.chunks[0] != rows:
        targets = targets.rechunk({0: rows})
    joint = da.concatenate([X.astype(np.float64), targets.astype(np.float64)], axis=1)
    return joint.rechunk({1: -1}), X.shape[1], y_1d


# ----------------------------------------------------------------------
# Files and clusters
# ----------------------------------------------------------------------
def _npy_rows(path: str, start: int, stop: int) -> np.ndarray:
    """Rows [start, stop) of a .npy file, memory-mapped (read where the task runs)."""
    rows = np.load(path, mmap_mode="r", allow_pickle=False)
    if rows.ndim == 1:
        rows = rows[:, None]
    return rows[start:stop]


def read_npy(path: str, chunk_rows: int | None = None) -> da.Array:
    """A 2-D ``.npy`` file as a Dask array whose chunks the workers read themselves.

    Only the header is read here; each task memory-maps the file and reads
    its rows, so the data never travel through the client or the scheduler.
    The file must be readable at the same path on every worker (the same
    machine, or a shared file system). A 1-D array becomes one column.

    Parameters
    ----------
    path : str
    chunk_rows : int, optional
        Rows per chunk; default: about 128 MB of rows.

    Returns
    -------
    dask.array.Array, shape (n, d), the file's dtype
    """
    header = np.load(path, mmap_mode="r", allow_pickle=False)
    if header.ndim not in (1, 2):
        raise ValueError(f"{path}: must hold a 1-D or 2-D array; got shape {header.shape}")
    n = header.shape[0]
    d = 1 if header.ndim == 1 else header.shape[1]
    if chunk_rows is None:
        chunk_rows = max(1, (128 << 20) // max(1, d * header.dtype.itemsize))
    chunk_rows = check_int(chunk_rows, "chunk_rows", minimum=1)
    dtype = header.dtype
    del header  # closes the map
    blocks = [
        da.from_delayed(
            dask.delayed(_npy_rows, pure=True)(str(path), start, min(n, start + chunk_rows)),
            shape=(min(n, start + chunk_rows) - start, d),
            dtype=dtype,
        )
        for start in range(0, max(n, 1), chunk_rows)
    ]
    return da.concatenate(blocks, axis=0)


def chunked(X: np.ndarray, chunk_rows: int | None = None) -> da.Array:
    """An in-memory array as a Dask array of row chunks (about 128 MB each by default).

    Its chunks travel to the workers with the graph; for data already in
    files the workers can read, :func:`read_npy` avoids that.
    """
    if chunk_rows is None:
        chunk_rows = max(1, (128 << 20) // max(1, X.shape[1] * X.dtype.itemsize))
    return da.from_array(X, chunks=(check_int(chunk_rows, "chunk_rows", minimum=1), -1))


def connect(address: str, timeout: float = 10.0) -> Any:
    """A ``dask.distributed.Client`` of the scheduler at ``address`` (made the default).

    Parameters
    ----------
    address : str
        E.g. ``"tcp://scheduler:8786"``.
    timeout : float, default=10.0
        Seconds to wait for the scheduler.

    Raises
    ------
    ValueError
        If no scheduler answers there within ``timeout``.
    """
    from distributed import Client

    try:
        return Client(address, timeout=f"{timeout}s")
    except (OSError, TimeoutError) as exc:
        raise ValueError(f"cannot connect to a Dask scheduler at {address!r}: {exc}") from None
