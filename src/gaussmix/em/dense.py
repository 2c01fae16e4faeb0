"""EM over a small in-memory array: one numpy pass per iteration, many runs at once.

A model search (:func:`gaussmix.select_model`, mclust's 14 x 9 grid) runs
hundreds of EM fits, most of them on a few hundred rows, where an iteration of
the general engine (:func:`gaussmix.em.driver.run_em` over a
:class:`~gaussmix.em.sources.StatisticsSource`) costs mostly its fixed Python
work: E-step parameters about a shared shift, the precision check, thread
hand-off, statistics objects. :func:`run_batch` here runs the same
maximum-likelihood EM on the rows themselves, for B runs of one model (a
candidate's ``n_init`` starts) side by side: one product of the rows with the
inverse Cholesky factors of all B k components gives every squared
Mahalanobis distance, one product of the responsibilities with the rows'
products (made once) gives every run's moments about the rows' mean, and one
M-step updates the B mixtures (:func:`gaussmix.em.families.m_step_batch`, each
structure's ``estimate_batch``). Where moments about the rows' mean would lose
precision for a run (a component far from it), that run's moments are taken
about its components' means (the engine's precise path).

Each run keeps its own convergence test, iteration count and objective (mean
log-likelihood), those of the general driver, and leaves the batch when it
converges; a run whose covariances cannot be factorized (a component collapsed
with ``reg_covar=0``) is redone by the general driver from its start. A run's
result therefore does not depend on the other runs of its batch, and
:func:`run_em` is a batch of one. Used where the rule is a float ``tol`` or
none and one run's whitened rows (k n d entries) stay within
:data:`DENSE_MAX_ELEMENTS` (``dense_applies``; the screened rows of
:mod:`gaussmix.selection.screening` allow more).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import covariance as structures
from .._gaussian import PRECISION_LIMIT, shared_shift_errors
from .._linalg import upper_triangle
from ..kernels import batched
from .driver import ConvergenceRule, EMResult
from .driver import run_em as run_em_general
from .families import Gaussians, MaximumLikelihood, m_step_batch
from .sources import StatisticsSource, weighted_mean

__all__ = [
    "DENSE_MAX_ELEMENTS",
    "DenseRows",
    "dense_applies",
    "mean_log_likelihoods",
    "run_batch",
    "run_em",
]

#: Most entries (k n d) of one run's whitened rows for which this module's EM is
#: used; above it the general engine's row blocks (and compiled kernel) are faster.
DENSE_MAX_ELEMENTS = 20_000

#: Fewest entries (n k d) of one run's whitened rows for which :func:`_log_joint`
#: takes the distances from the rows' products instead: below it the few more
#: numpy calls cost more than the temporaries they save (Old Faithful's grid
#: took 1.14x the time with the products everywhere). A property of the run, not
#: of its batch, so that a run gives the same bits in any batch.
_PRODUCTS_MIN_ELEMENTS = 20_000

_LOG_2PI = math.log(2.0 * math.pi)
_EPS = float(np.finfo(np.float64).eps)


class DenseRows:
    """Complete in-memory rows, their weights and their products, for :func:`run_em`.

    The rows are centred once on their (weighted) mean, ``shift``; the
    products y y^T (or y * y) of the centred rows y are made on first use, so
    that each M-step's second moments are one (k, n) x (n, d^2) product.

    Parameters
    ----------
    X : ndarray, shape (n, d)
        float64 rows without NaN.
    weights : ndarray, shape (n,), or None
    """

    def __init__(self, X: np.ndarray, weights: np.ndarray | None) -> None:
        X = np.asarray(X, dtype=np.float64)
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float64)
        self.weight_sum = float(X.shape[0] if weights is None else self.weights.sum())
        self.shift = weighted_mean(X, self.weights)
        self.X = X
        self.centred = np.ascontiguousarray(X - self.shift)
        self._products: dict[bool, np.ndarray] = {}
        self._half: np.ndarray | None = None
        self._mirror: np.ndarray | None = None
        self._columns: np.ndarray | None = None

    def columns(self) -> np.ndarray:
        """The centred rows' columns, (d, n) C-contiguous (the compiled E-step's layout)."""
        if self._columns is None:
            self._columns = np.ascontiguousarray(self.centred.T)
        return self._columns

    def products(self, quadratic: bool) -> np.ndarray:
        """y y^T flattened, (n, d^2), or y * y, (n, d), of the centred rows y."""
        if quadratic not in self._products:
            y = self.centred
            n, d = y.shape
            self._products[quadratic] = (
                (y[:, :, None] * y[:, None, :]).reshape(n, d * d) if quadratic else y * y
            )
        return self._products[quadratic]

    def second_moments(self, weighted: np.ndarray, quadratic: bool) -> np.ndarray:
        """sum_i w_i y_i y_i^T (m, d, d), or their diagonals (m, d), of m rows of
        weights ``weighted`` (m, n) over the centred rows y.

        The quadratic ones from the d(d+1)/2 distinct products, mirrored: 0.3-0.9x
        the time of the product with all d^2 (2,000 x 8 rows, m = 4 to 40).
        """
        d = self.centred.shape[1]
        if not quadratic:
            return weighted @ self.products(False)
        if self._mirror is None:
            first, second, _ = upper_triangle(d)
            mirror = np.empty((d, d), dtype=np.intp)
            mirror[first, second] = mirror[second, first] = np.arange(first.size)
            self._mirror = mirror
        return (weighted @ self.half_products())[:, self._mirror]

    def half_products(self) -> np.ndarray:
        """y_a y_b for a <= b (row-major upper triangle), (n, d(d+1)/2), of the centred rows."""
        if self._half is None:
            first, second, _ = upper_triangle(self.centred.shape[1])
            self._half = self.centred[:, first] * self.centred[:, second]
        return self._half


def dense_applies(
    rows: DenseRows | None,
    k: int,
    family: Any,
    rule: ConvergenceRule,
    max_elements: int = DENSE_MAX_ELEMENTS,
) -> bool:
    """Whether this module runs the fits: rows in memory, plain maximum likelihood, a
    float ``tol`` or no rule, and at most ``max_elements`` entries (k n d) of one run's
    whitened rows."""
    return (
        rows is not None
        and isinstance(family, MaximumLikelihood)
        and not family.oas
        and rule.r_diff is None
        and k * rows.X.size <= max_elements
    )


def _whitening(
    rows: DenseRows, means: np.ndarray, chol: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Inverse Cholesky factors (B, k, d, d), centres less the rows' shift (B, k, d),
    whether each run's moments about ``rows.shift`` are precise, (B,), and the bound
    of their relative error that says so, (B,)."""
    inverse = np.linalg.inv(chol)  # (B, k, d, d) lower triangular: z = L^-1 (x - mu)
    offsets = means - rows.shift
    # Past the engine's precision limit a run's moments are taken about its
    # components' own means (eps |mu_j - shift|^2 ||Sigma_j^-1||, ||Sigma^-1|| <= ||L^-1||_F^2).
    error = (_EPS * np.square(offsets).sum(axis=2) * np.square(inverse).sum(axis=(2, 3))).max(
        axis=1
    )
    return inverse, offsets, error <= PRECISION_LIMIT, error


def _constants(priors: np.ndarray, chol: np.ndarray) -> np.ndarray:
    """log pi_j - log det(L_j) - d log(2 pi) / 2 of every run's components, (B, k)."""
    diagonal = np.diagonal(chol, axis1=2, axis2=3)
    return np.log(priors) - np.log(diagonal).sum(axis=2) - 0.5 * chol.shape[-1] * _LOG_2PI


def _log_joint(
    rows: DenseRows,
    priors: np.ndarray,
    means: np.ndarray,
    chol: np.ndarray,
    whitening: tuple | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """log pi_j + log N(x_i | mu_j, Sigma_j) of every run, (n, B, k), and whether each
    run's moments about ``rows.shift`` are precise, (B,). ``whitening``: what
    :func:`_whitening` gives for these means and factors, if already made."""
    B, k, d = means.shape
    inverse, offsets, precise, _ = whitening or _whitening(rows, means, chol)
    n = rows.X.shape[0]
    by_products = precise & (n * k * d >= _PRODUCTS_MIN_ELEMENTS)
    if not by_products.any():
        distances = _whitened_distances(rows, inverse, offsets)
    elif by_products.all():
        distances = _product_distances(rows, inverse, offsets)
    else:
        distances = np.empty((n, B, k))
        distances[:, by_products] = _product_distances(
            rows, inverse[by_products], offsets[by_products]
        )
        distances[:, ~by_products] = _whitened_distances(
            rows, inverse[~by_products], offsets[~by_products]
        )
    return _constants(priors, chol) - 0.5 * distances, precise


def _e_step(
    rows: DenseRows,
    priors: np.ndarray,
    means: np.ndarray,
    chol: np.ndarray,
    responsibilities: bool = True,
    whitening: tuple | None = None,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray, np.ndarray]:
    """The E-step of B runs: weighted responsibilities w_i r_ij (B, k, n), each run's
    log-likelihood sum_i w_i log p(x_i) (B,), whether its log-likelihood is finite
    at every row (B,), and whether its moments about ``rows.shift`` are precise (B,).

    One call of the compiled kernel where it is built
    (:func:`gaussmix.kernels.batched.dense_responsibilities`: whitened distances,
    as precise as the means), else numpy's calls on (k, n, B) arrays. With
    ``responsibilities=False`` the kernel leaves them out (None). ``whitening``: what
    :func:`_whitening` gives for these means and factors, if already made.
    """
    whitening = whitening or _whitening(rows, means, chol)
    if batched.has_dense_responsibilities():
        inverse, offsets, precise, _ = whitening
        resp, log_lik, lost = batched.dense_responsibilities(
            rows.columns(),
            inverse,
            offsets,
            _constants(priors, chol),
            rows.weights,
            responsibilities=responsibilities,
        )
        return resp, log_lik, lost == 0, precise
    log_joint, precise = _log_joint(rows, priors, means, chol, whitening)
    # Component-major (k, n, B): numpy reduces over the short component axis
    # of (n, B, k) slowly (50-370 us at k <= 9), over the leading one fast, and
    # in the same order whatever B is (so a run's sums do not depend on its batch).
    log_joint = np.ascontiguousarray(np.moveaxis(log_joint, 2, 0))
    top = log_joint.max(axis=0)
    usable = np.isfinite(top).all(axis=0)
    with np.errstate(invalid="ignore", over="ignore"):
        resp = np.exp(log_joint - top)
        total = resp.sum(axis=0)
        resp /= total
        log_lik = top + np.log(total)
    if rows.weights is not None:
        resp *= rows.weights[:, None]
        log_lik *= rows.weights[:, None]
    # (B, k, n): one row per run and component, for the moments' products.
    resp = np.ascontiguousarray(resp.transpose(2, 0, 1))
    return resp, log_lik.sum(axis=0), usable, precise


def _whitened_distances(rows: DenseRows, inverse: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """|L_j^-1 (y - c_j)|^2, (n, B, k), for inverse Cholesky factors (B, k, d, d) and
    centres c = mu - shift (B, k, d)."""
    B, k, d = offsets.shape
    whitened = rows.centred @ inverse.transpose(3, 0, 1, 2).reshape(d, B * k * d)
    whitened -= np.einsum("bkij,bkj->bki", inverse, offsets).reshape(B * k * d)
    np.square(whitened, out=whitened)
    # Each run of d columns summed: one matrix-vector product over all of them.
    return (whitened.reshape(-1, d) @ np.ones(d)).reshape(-1, B, k)


def _product_distances(rows: DenseRows, inverse: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """As :func:`_whitened_distances`, from the rows' products as the compiled kernel
    takes them: (y - c)' P (y - c) = yy' : P - 2 y.Pc + c.Pc, one (n, d(d+1)/2) x
    (d(d+1)/2, B k) product where whitening makes (n, B k d) temporaries (2-3 MB at
    n = 2,000, in twice the time). Only as precise as moments about the shift are."""
    B, k, d = offsets.shape
    precisions = np.swapaxes(inverse, -1, -2) @ inverse
    scaled = np.einsum("bkij,bkj->bki", precisions, offsets)
    first, second, weight = upper_triangle(d)
    half = precisions[..., first, second] * weight
    part = rows.half_products() @ half.reshape(B * k, -1).T
    part -= 2.0 * (rows.centred @ scaled.reshape(B * k, d).T)
    part += np.einsum("bki,bki->bk", scaled, offsets).reshape(B * k)
    return part.reshape(-1, B, k)


def mean_log_likelihoods(rows: DenseRows, states: list[Gaussians]) -> np.ndarray:
    """Each state's mean (weighted) log-likelihood of the rows, all in one E-step.

    For ranking the optima of many runs by the likelihood of other rows
    (:mod:`gaussmix.selection.screening`).

    Parameters
    ----------
    rows : DenseRows
    states : list of Gaussians
        Mixtures with the same number of components and the rows' features.

    Returns
    -------
    ndarray, shape (B,)
        -inf for a state whose covariances cannot be factorized or whose
        log-likelihood is not finite at some row.
    """
    if not states:
        return np.empty(0)
    priors = np.stack([state.priors for state in states]).astype(np.float64)
    means = np.stack([state.means for state in states]).astype(np.float64)
    covariances = np.stack([state.covariances for state in states]).astype(np.float64)
    chol, ok = _factorizable(covariances)
    with np.errstate(divide="ignore"):
        _, log_lik, usable, _ = _e_step(rows, priors, means, chol, responsibilities=False)
    return np.where(ok & usable, log_lik / rows.weight_sum, -np.inf)


def _factorizable(covariances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cholesky factors (B, k, d, d) and which runs' covariances are all positive definite.

    Runs that are not get identity factors (they leave the batch)."""
    try:
        chol = np.linalg.cholesky(covariances)
    except np.linalg.LinAlgError:
        # Rare (a collapsed component at reg_covar=0): eigenvalues say which runs
        # (of finite matrices: LAPACK's would not converge on NaN or inf).
        finite = np.isfinite(covariances).all(axis=(1, 2, 3))
        ok = finite.copy()
        if finite.any():
            ok[finite] = (np.linalg.eigvalsh(covariances[finite])[..., 0] > 0).all(axis=1)
        chol = np.broadcast_to(np.eye(covariances.shape[-1]), covariances.shape).copy()
        if ok.any():
            try:
                chol[ok] = np.linalg.cholesky(covariances[ok])
            except np.linalg.LinAlgError:
                ok[:] = False
        return chol, ok
    ok = (np.diagonal(chol, axis1=2, axis2=3) > 0).all(axis=(1, 2))
    return chol, ok


def run_batch(
    rows: DenseRows,
    source: StatisticsSource,
    family: MaximumLikelihood,
    states: list[Gaussians],
    *,
    n_iter: int,
    rule: ConvergenceRule,
    lower_bounds: list[float] | None = None,
) -> list[EMResult]:
    """EM runs from each of ``states``, side by side (see the module's text).

    Parameters
    ----------
    rows : DenseRows
        The rows of ``source``.
    source : StatisticsSource
        The general engine's source of the same rows (a run whose covariances
        cannot be factorized is redone there from its start).
    family : MaximumLikelihood
    states : list of Gaussians
        The starts, all with the same number of components.
    n_iter : int
    rule : ConvergenceRule
        A float ``tol`` or no criterion.
    lower_bounds : list of float, optional
        Each run's objective before its first iteration (default -inf).

    Returns
    -------
    list of EMResult
        In the order of ``states``.
    """
    B = len(states)
    if B == 0:
        return []
    k, d = states[0].means.shape
    structure = structures.get(family.covariance_type)
    quadratic = structure.quadratic
    X = rows.X
    priors = np.stack([state.priors for state in states]).astype(np.float64)
    means = np.stack([state.means for state in states]).astype(np.float64)
    covariances = np.stack([state.covariances for state in states]).astype(np.float64)
    bounds = np.full(B, -np.inf) if lower_bounds is None else np.array(lower_bounds, float)
    results: list[EMResult | None] = [None] * B
    active = np.arange(B)

    def general(run: int) -> None:
        start = -np.inf if lower_bounds is None else lower_bounds[run]
        results[run] = run_em_general(
            source, family, states[run], n_iter=n_iter, rule=rule, lower_bound=start
        )

    def about_means(resp, resp_sum, old_means, previous):
        """The M-step from moments about the E-step's means (the engine's precise path)."""
        deviations = X[None, None] - old_means[:, :, None, :]  # (r, k, n, d)
        weighted = deviations * resp[..., None]
        if quadratic:
            again = np.swapaxes(weighted, -1, -2) @ deviations
        else:
            again = np.einsum("bknd,bknd->bkd", weighted, deviations)
        return m_step_batch(
            resp_sum,
            weighted.sum(axis=2),
            again,
            old_means,
            family.covariance_type,
            family.reg_covar,
            previous,
        )

    # Moments about the shift cannot resolve an M-step whose result lies too far
    # from it (eps |mu_j - shift|^2 ||Sigma_j^-1|| past PRECISION_LIMIT): such an
    # M-step is redone from moments about the E-step's means. Runs that go on are
    # checked at the next iteration, where the whitening's bound (||L^-1||_F^2 >=
    # ||Sigma^-1||) clears almost all of them at no cost; the exact test
    # (shared_shift_errors, an eigendecomposition) is left for the others and for
    # the runs that stop. ``unchecked``: such runs and what their redo needs.
    unchecked: tuple | None = None
    for iteration in range(1, n_iter + 1):
        chol, ok = _factorizable(covariances[active])
        whitening = _whitening(rows, means[active], chol)
        if unchecked is not None:
            runs, at, last_resp, last_sum, last_means, last_previous = unchecked
            unchecked = None
            where = np.searchsorted(active, runs)  # they all go on: in active
            # (within 1 %: where the two nearly agree, rounding must not decide)
            cleared = whitening[3][where] <= 0.99 * PRECISION_LIMIT
            suspect = ~(cleared & ok[where])
            if suspect.any():
                errors = shared_shift_errors(
                    means[runs[suspect]], covariances[runs[suspect]], rows.shift
                )
                again = np.flatnonzero(suspect)[errors > PRECISION_LIMIT]
                if again.size:
                    ids, old = runs[again], at[again]
                    priors[ids], means[ids], covariances[ids] = about_means(
                        last_resp[old], last_sum[old], last_means[old], last_previous[old]
                    )
                    chol, ok = _factorizable(covariances[active])
                    whitening = _whitening(rows, means[active], chol)
        resp, log_lik, usable, precise = _e_step(
            rows, priors[active], means[active], chol, whitening=whitening
        )
        ok &= usable
        if not ok.all():
            for run in active[~ok]:
                general(run)
            active, resp, log_lik, precise = active[ok], resp[ok], log_lik[ok], precise[ok]
            if not active.size:
                break
        b = active.size
        current = log_lik / rows.weight_sum
        change = current - bounds[active]
        bounds[active] = current
        stopped = np.abs(change) < rule.tol if rule.tol is not None else np.zeros(b, dtype=bool)
        done = stopped | (iteration == n_iter)  # the runs' last M-step: checked now
        resp_sum = resp.sum(axis=2)
        flat = resp.reshape(b * k, -1)
        first = (flat @ rows.centred).reshape(b, k, d)
        second = rows.second_moments(flat, quadratic)
        second = second.reshape((b, k, d, d) if quadratic else (b, k, d))
        previous = covariances[active]
        old_means = means[active]
        # Only the runs whose moments about the shift are precise take the M-step
        # from them (the others' would be noise, with overflow warnings).
        fine = slice(None) if precise.all() else precise
        new_priors, new_means = np.empty((b, k)), np.empty((b, k, d))
        new_covariances = np.empty((b, k, d, d))
        redo = ~precise
        if precise.any():
            new_priors[fine], new_means[fine], new_covariances[fine] = m_step_batch(
                resp_sum[fine],
                first[fine],
                second[fine],
                rows.shift,
                family.covariance_type,
                family.reg_covar,
                previous[fine],
            )
            now = precise & done
            if now.any():
                errors = shared_shift_errors(new_means[now], new_covariances[now], rows.shift)
                redo[now] = errors > PRECISION_LIMIT
            later = np.flatnonzero(precise & ~done)
            if later.size:
                unchecked = (active[later], later, resp, resp_sum, old_means, previous)
        if redo.any():
            new_priors[redo], new_means[redo], new_covariances[redo] = about_means(
                resp[redo], resp_sum[redo], old_means[redo], previous[redo]
            )
        priors[active], means[active], covariances[active] = (
            new_priors,
            new_means,
            new_covariances,
        )
        for run in active[stopped]:
            results[run] = EMResult(
                Gaussians(priors[run], means[run], covariances[run]),
                True,
                iteration,
                float(bounds[run]),
                False,
            )
        active = active[~stopped]
        if not active.size:
            break
    for run in active:
        results[run] = EMResult(
            Gaussians(priors[run], means[run], covariances[run]),
            False,
            n_iter,
            float(bounds[run]),
            False,
        )
    family.e_step_covariances = None
    return results  # type: ignore[return-value]


def run_em(
    rows: DenseRows,
    source: StatisticsSource,
    family: MaximumLikelihood,
    state: Gaussians,
    *,
    n_iter: int,
    rule: ConvergenceRule,
    lower_bound: float = -np.inf,
    **general: Any,
) -> EMResult:
    """One EM run from ``state``, as :func:`gaussmix.em.driver.run_em` over ``source``.

    A batch of one (:func:`run_batch`); with a ``callback`` or ``verbose`` in
    ``general`` the general driver runs it.

    Parameters
    ----------
    rows : DenseRows
        The rows of ``source``.
    source : StatisticsSource
        The general engine's source of the same rows.
    family : MaximumLikelihood
    state : Gaussians
    n_iter : int
    rule : ConvergenceRule
        A float ``tol`` or no criterion.
    lower_bound : float, default=-inf
    **general
        Passed to the general driver when it takes over (callback, verbose).

    Returns
    -------
    EMResult
    """
    if general.get("callback") is not None or general.get("verbose"):
        return run_em_general(
            source, family, state, n_iter=n_iter, rule=rule, lower_bound=lower_bound, **general
        )
    return run_batch(
        rows, source, family, [state], n_iter=n_iter, rule=rule, lower_bounds=[lower_bound]
    )[0]
