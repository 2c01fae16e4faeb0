"""Model-based hierarchical agglomeration: the starts of ``init_params="hc"``.

mclust starts EM from the partitions of a model-based agglomerative
hierarchy (Banfield & Raftery 1993; Fraley 1998, "Algorithms for model-based
Gaussian hierarchical clustering", SIAM J. Sci. Comput. 20(1), 270-281;
Fraley & Raftery 2002): every row starts as its own cluster and each step
merges the two clusters whose merge lowers the classification likelihood
least. One hierarchy gives the partitions for every k, deterministically.

The default criterion (``method="vvv"``, mclust's default
``hcModelName``) is the classification likelihood of the unconstrained
model, cluster g with weight n_g and scatter W_g (about its mean)
contributing ``n_g log det(S_g / n_g)`` to the criterion to be minimised,
where ``S_g = W_g + (beta tr(W_g) / n_g + alpha omega) I`` and omega is the
mean variance per coordinate of all the rows. Without the two ridge terms
the criterion is undefined for clusters of at most d rows; mclust's
documentation describes its ``alpha`` and ``beta`` (both 1) in these words
("alpha times the trace of the crossproduct matrix of all the observations
divided by the product of the data dimensions", "beta times the trace of
the crossproduct matrix of the group divided by the number of observations
in the group"); how they enter here is this module's reading, not mclust's
code. Both terms fade as a cluster grows (relative to W_g they shrink like
1 / n_g), so large clusters are compared by the plain VVV criterion. A
merge's cost is the criterion of the merged cluster minus those of its two
parts; the scatter of a merge is ``W_i + W_j + n_i n_j / (n_i + n_j) (m_i -
m_j)(m_i - m_j)^T`` (Fraley's updating formula), so each merge costs one
batched log-determinant of the merged cluster against every other cluster.

Data with more than :data:`VVV_ROWS` rows (fewer with more than 8 features,
:func:`vvv_clusters`) are first agglomerated by Ward's criterion (the
equal-volume spherical model, EII, for which Fraley shows the merge cost is
the sum-of-squares increase; scipy's compiled ``linkage``) down to that many
clusters, and the VVV merges go on from that partition (small, local
clusters, where the two criteria differ least).
``method="ward"`` agglomerates by Ward's criterion throughout.

The agglomerated data are mclust's default transformation
(``mclust.options("hcUse")`` = "SVD", Scrucca & Raftery 2015): the columns
standardized, rotated onto their principal axes, each axis scaled by the
square root of its singular value (U D^1/2 of the standardized data's SVD).
Data with more than :data:`HC_ROWS` rows (mclust's
``mclust.options("subset")``) are agglomerated on that many rows drawn at
random (with probability proportional to the weights, if any). The start of
k components is :func:`gaussmix.em.init.partition_moments` of the
k-cluster partition.
"""

from __future__ import annotations

import numpy as np

from .._gaussian import component_log_densities
from ..kernels import clustering

__all__ = [
    "HC_ROWS",
    "VVV_ROWS",
    "Hierarchy",
    "component_log_joint",
    "merge_components",
    "scaled_svd",
    "vvv_clusters",
    "vvv_criterion",
]

#: Rows (at most) that are agglomerated (mclust's ``subset`` default).
HC_ROWS = 2000

#: Clusters (at most) the VVV merges start from; larger data are first
#: agglomerated by Ward's criterion down to this many clusters.
VVV_ROWS = 400


def vvv_clusters(n_features: int) -> int:
    """Clusters the VVV merges start from: :data:`VVV_ROWS` up to 8 features, fewer above.

    A merge costs a d x d determinant per cluster, so the VVV stage costs about
    m^2 d^3; above 8 features m shrinks to keep that at its 8-feature cost
    (m = VVV_ROWS (8 / d)^1.5, at least 20: 141 clusters at d = 16, 50 at 32).
    """
    if n_features <= 8:
        return VVV_ROWS
    return max(20, int(VVV_ROWS * (8.0 / n_features) ** 1.5))


def scaled_svd(X: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """mclust's "SVD" transformation: U D^1/2 of the standardized data's SVD.

    The columns are centred and scaled to unit (weighted) variance, rotated
    onto their principal axes, and each axis is scaled by the fourth root of
    its variance's inverse (so its spread is the square root of its
    singular value, up to one factor for all). Constant columns and
    directions without variance (below 1e-12 of the largest) are dropped.

    Parameters
    ----------
    X : ndarray, shape (n, d)
    weights : ndarray, shape (n,), optional

    Returns
    -------
    ndarray, shape (n, r), r <= d
    """
    w = np.ones(X.shape[0]) if weights is None else weights
    total = w.sum()
    centred = X - (w @ X) / total
    sd = np.sqrt(w @ centred**2 / total)
    keep = sd > 1e-12 * max(sd.max(initial=0.0), np.finfo(float).tiny)
    standard = centred[:, keep] / sd[keep]
    covariance = (standard * w[:, None]).T @ standard / total
    eigvals, eigvecs = np.linalg.eigh(covariance)
    keep = eigvals > 1e-12 * max(eigvals[-1] if eigvals.size else 0.0, np.finfo(float).tiny)
    return standard @ (eigvecs[:, keep] * eigvals[keep] ** -0.25)


def vvv_criterion(
    scatter: np.ndarray,
    weight: np.ndarray,
    omega: float,
    alpha: float = 1.0,
    beta: float = 1.0,
) -> np.ndarray:
    """Each cluster's term ``n log det(S / n)`` of the VVV classification criterion.

    ``S = W + (beta tr(W) / n + alpha omega) I`` (see the module's text).

    Parameters
    ----------
    scatter : ndarray, shape (..., d, d)
        W, the (weighted) scatter about the cluster's mean.
    weight : ndarray, shape (...)
        n, the cluster's rows (total weight).
    omega : float
        The mean variance per coordinate of all the rows.
    alpha, beta : float, default=1.0

    Returns
    -------
    ndarray, shape (...)
    """
    d = scatter.shape[-1]
    trace = np.trace(scatter, axis1=-2, axis2=-1)
    ridge = beta * trace / weight + alpha * omega
    regular = scatter + ridge[..., None, None] * np.eye(d)
    _, log_det = np.linalg.slogdet(regular)
    return weight * (log_det - d * np.log(weight))


class _VVVMerges:
    """Merges, cheapest first, of the groups of ``labels`` by the VVV criterion."""

    def __init__(
        self, Z: np.ndarray, w: np.ndarray, labels: np.ndarray, alpha: float, beta: float
    ) -> None:
        m, d = int(labels.max()) + 1, Z.shape[1]
        count = np.bincount(labels, weights=w, minlength=m)
        means = np.zeros((m, d))
        np.add.at(means, labels, Z * w[:, None])
        means /= count[:, None]
        centred = Z - means[labels]
        scatter = np.zeros((m, d, d))
        np.add.at(scatter, labels, np.einsum("n,ni,nj->nij", w, centred, centred))
        grand = Z - (w @ Z) / w.sum()
        self.omega = float(w @ (grand**2).sum(axis=1)) / (w.sum() * d)
        self.alpha, self.beta = alpha, beta
        self.count, self.means, self.scatter = count, means, scatter
        self.cost = vvv_criterion(scatter, count, self.omega, alpha, beta)
        self.active = np.ones(m, dtype=bool)

    def _pair_costs(self) -> np.ndarray:
        """The (m, m) merge costs of every pair (inf on the diagonal)."""
        m, d = self.means.shape
        pair = np.full((m, m), np.inf)
        first, second = np.triu_indices(m, 1)
        step = max(1, 2**20 // (d * d))  # pairs per batch (~8 MiB of scatters)
        for start in range(0, first.size, step):
            a, b = first[start : start + step], second[start : start + step]
            pair[a, b] = pair[b, a] = self._merge_costs(a, b)
        return pair

    def _merge_costs(self, i: np.ndarray | int, others: np.ndarray) -> np.ndarray:
        """Criterion change of merging group(s) i with each of ``others``."""
        n_i, n_o = self.count[i], self.count[others]
        total = n_i + n_o
        delta = self.means[others] - self.means[i]
        scatter = self.scatter[others] + self.scatter[i]
        scatter += (n_i * n_o / total)[:, None, None] * (delta[:, :, None] * delta[:, None, :])
        merged = vvv_criterion(scatter, total, self.omega, self.alpha, self.beta)
        return merged - self.cost[i] - self.cost[others]

    def run(self, n_merges: int) -> list[tuple[int, int]]:
        """The first ``n_merges`` merges, (kept, absorbed) group ids each.

        In the compiled kernel where it is built (:func:`gaussmix.kernels.clustering.vvv_merges`:
        the same merges, 2,000 rows in 8-D 0.02 s where numpy's loop took 0.2 s), else here.
        """
        found = clustering.vvv_merges(
            self.count,
            self.means,
            self.scatter,
            self.cost,
            self.omega,
            self.alpha,
            self.beta,
            n_merges,
        )
        if found is not None:
            return [(int(i), int(j)) for i, j in found]
        return self._run(n_merges)

    def _run(self, n_merges: int) -> list[tuple[int, int]]:
        pair = self._pair_costs()
        best = pair.min(axis=1)
        partner = pair.argmin(axis=1)
        merges = []
        for _ in range(n_merges):
            i = int(np.argmin(best))
            j = int(partner[i])
            i, j = min(i, j), max(i, j)
            merges.append((i, j))
            n_i, n_j = self.count[i], self.count[j]
            delta = self.means[j] - self.means[i]
            self.scatter[i] += self.scatter[j] + (n_i * n_j / (n_i + n_j)) * np.outer(delta, delta)
            self.means[i] += (n_j / (n_i + n_j)) * delta
            self.count[i] = n_i + n_j
            self.cost[i] = vvv_criterion(
                self.scatter[i], self.count[i], self.omega, self.alpha, self.beta
            )
            self.active[j] = False
            pair[j, :] = pair[:, j] = np.inf
            best[j] = np.inf
            others = np.flatnonzero(self.active)
            others = others[others != i]
            row = np.full(pair.shape[0], np.inf)
            if others.size:
                row[others] = self._merge_costs(i, others)
            pair[i, :] = pair[:, i] = row
            best[i], partner[i] = row.min(), row.argmin()
            # Rows whose cheapest partner was i or j: look again; others may
            # now be cheapest with the merged cluster.
            stale = (partner == i) | (partner == j)
            stale[i] = stale[j] = False
            stale &= self.active
            if stale.any():
                rows = np.flatnonzero(stale)
                best[rows] = pair[rows].min(axis=1)
                partner[rows] = pair[rows].argmin(axis=1)
            closer = row < best
            best[closer], partner[closer] = row[closer], i
        return merges


class Hierarchy:
    """The agglomerative hierarchy of (a subsample of) X, cut at any number of clusters.

    Parameters
    ----------
    X : ndarray, shape (n, d)
        Complete rows.
    weights : ndarray, shape (n,), optional
    rng : numpy Generator, optional
        Draws the subsample when n > ``max_rows`` (else unused).
    max_rows : int, default=HC_ROWS
    method : {"vvv", "ward"}, default="vvv"
        The merge criterion: the unconstrained model's classification
        likelihood (mclust's default; after Ward merges down to
        :func:`vvv_clusters` clusters on larger data) or Ward's throughout.
    alpha, beta : float, default=1.0
        The VVV criterion's two ridge terms (see the module's text).

    Attributes
    ----------
    rows : ndarray of int
        The agglomerated rows of X.
    """

    def __init__(
        self,
        X: np.ndarray,
        weights: np.ndarray | None = None,
        rng: np.random.Generator | None = None,
        max_rows: int = HC_ROWS,
        method: str = "vvv",
        alpha: float = 1.0,
        beta: float = 1.0,
    ) -> None:
        if method not in ("vvv", "ward"):
            raise ValueError(f"method must be 'vvv' or 'ward', got {method!r}")
        # Rows of zero weight carry no information (and no cluster of them has
        # a defined criterion): they are not agglomerated.
        usable = np.arange(X.shape[0])
        if weights is not None and np.count_nonzero(weights) > 0:
            usable = np.flatnonzero(weights > 0)
        n = usable.size
        if n > max_rows:
            rng = np.random.default_rng(0) if rng is None else rng
            p = None if weights is None else weights[usable] / weights[usable].sum()
            if p is not None and np.count_nonzero(p) < max_rows:
                p = None
            self.rows = usable[np.sort(rng.choice(n, size=max_rows, replace=False, p=p))]
        else:
            self.rows = usable
        self.X = np.asarray(X[self.rows], dtype=np.float64)
        self.weights = None if weights is None else np.asarray(weights[self.rows], np.float64)
        self.method = method
        from scipy.cluster.hierarchy import linkage  # scipy on first use (a fast import)

        Z = scaled_svd(self.X, self.weights)
        self.tree = None
        self._cuts: dict[int, np.ndarray] = {}
        self._merges: list[tuple[int, int]] = []
        self._start = np.zeros(len(self.rows), dtype=np.intp)
        if len(self.rows) < 2 or Z.shape[1] == 0:
            return
        self.tree = linkage(Z, method="ward")
        if method == "vvv":
            m = min(len(self.rows), vvv_clusters(Z.shape[1]))
            self._start = self._ward_labels(m) if m < len(self.rows) else np.arange(m)
            w = np.ones(len(self.rows)) if self.weights is None else self.weights
            self._merges = _VVVMerges(Z, w, self._start, alpha, beta).run(m - 1)

    def _ward_labels(self, n_clusters: int) -> np.ndarray:
        from scipy.cluster.hierarchy import cut_tree, fcluster

        # fcluster (compiled) cuts below the k-th highest merge; scipy's
        # cut_tree (much slower) only where tied heights leave fewer clusters.
        flat = fcluster(self.tree, n_clusters, criterion="maxclust")
        _, labels = np.unique(flat, return_inverse=True)
        if labels.max() + 1 != n_clusters:
            labels = cut_tree(self.tree, n_clusters=n_clusters)[:, 0]
        return labels.astype(np.intp)

    def labels(self, n_clusters: int) -> np.ndarray:
        """Labels in [0, n_clusters) of the agglomerated ``rows``, cut at ``n_clusters``."""
        if n_clusters not in self._cuts:  # a grid asks for each k once per structure
            self._cuts[n_clusters] = self._cut(n_clusters)
        return self._cuts[n_clusters].copy()

    def _cut(self, n_clusters: int) -> np.ndarray:
        if self.tree is None or n_clusters <= 1:
            return np.zeros(len(self.rows), dtype=np.intp)
        n_clusters = min(n_clusters, len(self.rows))
        if self.method == "ward":
            return self._ward_labels(n_clusters)
        n_groups = int(self._start.max()) + 1
        if n_clusters >= n_groups:
            return self._ward_labels(n_clusters)
        group = np.arange(n_groups)
        for kept, absorbed in self._merges[: n_groups - n_clusters]:
            group[group == absorbed] = kept
        _, labels = np.unique(group[self._start], return_inverse=True)
        return labels.astype(np.intp)


def component_log_joint(
    X: np.ndarray, priors: np.ndarray, means: np.ndarray, covariances: np.ndarray
) -> np.ndarray | None:
    """log pi_j + log N(x_i | mu_j, Sigma_j) of every component and row, shape (k, n).

    None when a covariance is not positive definite or a prior is not positive.
    """
    try:
        chol = np.linalg.cholesky(covariances)
    except np.linalg.LinAlgError:
        return None
    diagonal = np.diagonal(chol, axis1=-2, axis2=-1)
    if not (diagonal > 0).all() or not (np.asarray(priors) > 0).all():
        return None
    return (np.log(priors) + component_log_densities(X, means, chol)).T


def merge_components(
    X: np.ndarray,
    priors: np.ndarray,
    means: np.ndarray,
    covariances: np.ndarray,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """A mixture of k - 1 components: the pair of components whose merge keeps X likeliest.

    Two components i and j merge into the Gaussian with their mixture's
    weight, mean and covariance (moment matching: ``pi = pi_i + pi_j``, ``mu
    = (pi_i mu_i + pi_j mu_j) / pi``, ``Sigma = sum_{g = i, j} pi_g (Sigma_g +
    (mu_g - mu)(mu_g - mu)^T) / pi``); of the k (k - 1) / 2 pairs, the merge
    whose mixture gives the rows of X the highest (weighted) log-likelihood
    is returned. Merged again and again, it gives the top of a hierarchy
    above a fitted mixture, by the mixture likelihood rather than the
    classification likelihood that :class:`Hierarchy` merges by. (On the
    20,000 x 8 rows of six clusters of ``benchmarks/bench_mclust.py``, the
    six clusters' moments merged this way down to three were grouped as
    R's mclust's three-component VVV fit groups them; merged by
    :class:`Hierarchy`'s criterion they were grouped otherwise, and EM from
    that grouping ended at least 4,500 BIC units worse.)

    Parameters
    ----------
    X : ndarray, shape (n, d)
    priors, means, covariances : ndarrays, shapes (k,), (k, d), (k, d, d)
        k >= 2.
    weights : ndarray, shape (n,), optional

    Returns
    -------
    tuple of ndarrays, shapes (k - 1,), (k - 1, d), (k - 1, d, d), or None
        The merged mixture (the merged component last); None when a
        covariance is not positive definite.
    """
    k = priors.shape[0]
    first, second = np.triu_indices(k, 1)
    pair_prior = priors[first] + priors[second]
    share = priors[first] / pair_prior
    pair_mean = share[:, None] * means[first] + (1 - share)[:, None] * means[second]
    apart = means[first] - pair_mean, means[second] - pair_mean
    pair_cov = share[:, None, None] * (
        covariances[first] + apart[0][:, :, None] * apart[0][:, None, :]
    ) + (1 - share)[:, None, None] * (
        covariances[second] + apart[1][:, :, None] * apart[1][:, None, :]
    )
    log_joint = component_log_joint(X, priors, means, covariances)
    merged = component_log_joint(X, pair_prior, pair_mean, pair_cov)
    if log_joint is None or merged is None:
        return None
    # Every pair's mixture: the other k - 2 components and the merged one.
    others = np.ones((first.size, k), dtype=bool)
    others[np.arange(first.size), first] = False
    others[np.arange(first.size), second] = False
    top = np.maximum(log_joint.max(axis=0), merged.max(axis=0))
    dense = np.exp(log_joint - top)  # (k, n)
    total = others.astype(float) @ dense + np.exp(merged - top)  # (pairs, n)
    log_lik = np.log(total) + top
    w = np.ones(X.shape[0]) if weights is None else weights
    best = int(np.argmax(log_lik @ w))
    keep = others[best]
    return (
        np.append(priors[keep], pair_prior[best]),
        np.vstack([means[keep], pair_mean[best][None]]),
        np.concatenate([covariances[keep], pair_cov[best][None]]),
    )
