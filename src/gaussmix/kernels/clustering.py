"""Kernels of the k-means start (issue 27), wrapped with :mod:`ctypes`.

The C functions live in ``_fused.c`` with the EM kernels (one shared library,
loaded once by :mod:`gaussmix.kernels.compiled`): the two passes of
k-means++ (:func:`kmeans_trials`, :func:`kmeans_take`), Lloyd's assignment
(:func:`kmeans_assign`) and the moments of hard labels
(:func:`label_moments`); and the model-based hierarchy's merges
(:func:`vvv_merges`, for :mod:`gaussmix.em.agglomerative`).
:mod:`gaussmix.em.kmeans` calls the k-means kernels on row blocks in threads
(ctypes releases the GIL) and has a numpy path for builds without them.
"""

from __future__ import annotations

import ctypes

import numpy as np

from . import compiled
from .buffers import aligned_zeros
from .functions import declared

__all__ = [
    "has_kmeans",
    "has_label_moments",
    "kmeans_assign",
    "kmeans_take",
    "kmeans_trials",
    "label_moments",
    "vvv_merges",
]

_TILE = 8  # GM_TILE: components per register tile
_BLOCK = 8  # GM_BLOCK: rows per block


def _declare(lib) -> None:
    pointer, int64 = ctypes.c_void_p, ctypes.c_int64
    assign = getattr(lib, "gm_kmeans_assign", None)
    if assign is not None:
        assign.restype = int64
        assign.argtypes = [pointer, int64, int64, pointer, pointer, pointer, pointer]
        assign.argtypes += [int64, int64, pointer, pointer, pointer, pointer]
        trials = lib.gm_kmeans_trials
        trials.restype = None
        trials.argtypes = [pointer, int64, int64, pointer, pointer, pointer, pointer, int64]
        trials.argtypes += [int64, pointer, pointer, pointer]
        take = lib.gm_kmeans_take
        take.restype = ctypes.c_double
        take.argtypes = [pointer, int64, int64, pointer, pointer, pointer, ctypes.c_double]
        take.argtypes += [pointer, pointer, int64, pointer, pointer, pointer]
    labelled = getattr(lib, "gm_label_moments", None)
    if labelled is not None:
        labelled.restype = None
        labelled.argtypes = [pointer, int64, int64, pointer, pointer, pointer, ctypes.c_int]
        labelled.argtypes += [pointer, pointer]


if compiled.library() is not None:
    _declare(compiled.library())


def _library():
    return compiled.library()


def _has(name: str) -> bool:
    lib = compiled.library()
    return lib is not None and hasattr(lib, name)


def has_kmeans() -> bool:
    """Whether the k-means kernels (:func:`kmeans_assign` and the k-means++ passes) are built."""
    return _has("gm_kmeans_assign")


def kmeans_assign(
    X: np.ndarray,
    mean: np.ndarray,
    weights: np.ndarray | None,
    centres: np.ndarray,
    labels: np.ndarray,
    update: bool,
) -> tuple[int, np.ndarray | None, np.ndarray | None]:
    """Nearest centre of each row of ``X - mean`` (labels updated in place).

    ``X`` is C-contiguous float64, ``labels`` int32 of its length, ``centres``
    (k, d) about ``mean``. Returns the number of labels that changed and, with
    ``update``, each centre's weighted sum of its rows (about ``mean``) and
    weight. Call only where :func:`has_kmeans` is true.
    """
    n, d = X.shape
    k = centres.shape[0]
    kp = -(-k // _TILE) * _TILE
    centres_t = aligned_zeros((d, kp))
    centres_t[:, :k] = centres.T
    norms = np.zeros(kp)
    norms[:k] = np.einsum("ij,ij->i", centres, centres)
    sums = np.zeros((k, d)) if update else None
    weight_sums = np.zeros(k) if update else None
    work = aligned_zeros(_BLOCK * (d + kp + 1))
    changed = _library().gm_kmeans_assign(
        X.ctypes.data,
        n,
        d,
        mean.ctypes.data,
        compiled.address(weights),
        centres_t.ctypes.data,
        norms.ctypes.data,
        k,
        kp,
        labels.ctypes.data,
        compiled.address(sums),
        compiled.address(weight_sums),
        work.ctypes.data,
    )
    return int(changed), sums, weight_sums


def kmeans_trials(
    X: np.ndarray,
    mean: np.ndarray,
    weights: np.ndarray | None,
    candidates: np.ndarray,
    closest: np.ndarray,
) -> np.ndarray:
    """k-means++ potentials sum_i w_i min(closest_i, |y_i - c|^2) of each candidate c."""
    n, d = X.shape
    t = candidates.shape[0]
    tp = -(-t // _TILE) * _TILE
    candidates_t = aligned_zeros((d, tp))
    candidates_t[:, :t] = candidates.T
    norms = np.einsum("ij,ij->i", candidates, candidates)
    pots = np.zeros(t)
    work = aligned_zeros(_BLOCK * (d + 2 * tp + 1))
    _library().gm_kmeans_trials(
        X.ctypes.data,
        n,
        d,
        mean.ctypes.data,
        compiled.address(weights),
        candidates_t.ctypes.data,
        norms.ctypes.data,
        t,
        tp,
        closest.ctypes.data,
        pots.ctypes.data,
        work.ctypes.data,
    )
    return pots


def kmeans_take(
    X: np.ndarray,
    mean: np.ndarray,
    weights: np.ndarray | None,
    centre: np.ndarray | None,
    closest: np.ndarray,
    targets: np.ndarray,
) -> tuple[np.ndarray, float, float]:
    """One k-means++ pass: ``closest`` lowered to the new ``centre`` (in place, unless
    None), then the first rows where the running sum of w_i closest_i reaches each
    of the sorted ``targets``; returns them (n where none does), the total and, with
    a centre, sum_i |x_i - mean|^2."""
    n, d = X.shape
    found = np.empty(targets.shape[0], dtype=np.int64)
    targets = np.ascontiguousarray(targets, dtype=np.float64)
    centre_norm = 0.0
    if centre is not None:
        centre = np.ascontiguousarray(centre, dtype=np.float64)
        centre_norm = float(np.einsum("i,i->", centre, centre))
    work = aligned_zeros(_BLOCK * (d + 1))
    norm_sum = np.zeros(1)
    total = _library().gm_kmeans_take(
        X.ctypes.data,
        n,
        d,
        mean.ctypes.data,
        compiled.address(weights),
        compiled.address(centre),
        centre_norm,
        closest.ctypes.data,
        targets.ctypes.data,
        targets.shape[0],
        found.ctypes.data,
        norm_sum.ctypes.data,
        work.ctypes.data,
    )
    return found, float(total), float(norm_sum[0])


def has_label_moments() -> bool:
    """Whether the kernel for the moments of hard labels (:func:`label_moments`) is built."""
    return _has("gm_label_moments")


def label_moments(
    X: np.ndarray,
    labels: np.ndarray,
    centres: np.ndarray,
    weights: np.ndarray | None,
    diagonal: bool,
) -> np.ndarray:
    """(k, n_phi) sums of w [vech(y y^T) (or y * y), y, 1] with y = x - centres[label].

    ``X`` C-contiguous float64, ``labels`` int32 in [0, k). Call only where
    :func:`has_label_moments` is true.
    """
    n, d = X.shape
    k = centres.shape[0]
    n_phi = (d if diagonal else d * (d + 1) // 2) + d + 1
    centres = np.ascontiguousarray(centres, dtype=np.float64)
    if weights is not None:
        weights = np.ascontiguousarray(weights, dtype=np.float64)
    moments = np.zeros((k, n_phi))
    work = np.empty(d)
    _library().gm_label_moments(
        X.ctypes.data,
        n,
        d,
        labels.ctypes.data,
        centres.ctypes.data,
        compiled.address(weights),
        int(diagonal),
        moments.ctypes.data,
        work.ctypes.data,
    )
    return moments


def vvv_merges(
    count: np.ndarray,
    means: np.ndarray,
    scatter: np.ndarray,
    cost: np.ndarray,
    omega: float,
    alpha: float,
    beta: float,
    n_merges: int,
) -> np.ndarray | None:
    """The first ``n_merges`` merges of the VVV criterion's agglomeration, or None without
    the kernel.

    Parameters
    ----------
    count : ndarray, shape (m,)
        The clusters' weights.
    means : ndarray, shape (m, d)
    scatter : ndarray, shape (m, d, d)
        Each cluster's scatter about its mean.
    cost : ndarray, shape (m,)
        Each cluster's criterion term
        (:func:`gaussmix.em.agglomerative.vvv_criterion`).
    omega, alpha, beta : float
        The criterion's ridge terms.
    n_merges : int
        At most m - 1.

    Returns
    -------
    ndarray of int64, shape (n_merges, 2), or None
        (kept, absorbed) cluster ids of each merge, cheapest first. ``count``,
        ``means``, ``scatter`` and ``cost`` (float64, C-contiguous) are updated
        in place as the clusters merge.
    """
    pointer, int64, double = ctypes.c_void_p, ctypes.c_int64, ctypes.c_double
    function = declared(
        "gm_vvv_merges",
        int64,
        [int64, int64, *[pointer] * 4, double, double, double, int64, *[pointer] * 3],
    )
    if function is None:
        return None
    m, d = means.shape
    for array in (count, means, scatter, cost):
        if array.dtype != np.float64 or not array.flags.c_contiguous:
            raise ValueError("vvv_merges needs C-contiguous float64 arrays")
    merges = np.empty((n_merges, 2), dtype=np.int64)
    work = np.empty(m * m + 3 * m + 2 * d * d)
    partner = np.empty(m, dtype=np.int64)
    status = function(
        m,
        d,
        count.ctypes.data,
        means.ctypes.data,
        scatter.ctypes.data,
        cost.ctypes.data,
        omega,
        alpha,
        beta,
        n_merges,
        merges.ctypes.data,
        work.ctypes.data,
        partner.ctypes.data,
    )
    if status != 0:
        raise ValueError(f"vvv_merges: bad sizes (m={m}, d={d}, n_merges={n_merges})")
    return merges
