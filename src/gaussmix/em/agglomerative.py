"""Model-based hierarchical agglomeration: the starts of ``init_params="hc"``.

mclust starts EM from the partitions of a model-based agglomerative
hierarchy (Banfield & Raftery 1993; Fraley 1998, "Algorithms for model-based
Gaussian hierarchical clustering", SIAM J. Sci. Comput. 20(1), 270-281;
Fraley & Raftery 2002): every row starts as its own cluster and each step
merges the two clusters whose merge lowers the classification likelihood
least. One hierarchy gives the partitions for every k, deterministically.

Here the hierarchy is that of the spherical equal-volume model (EII), for
which Fraley (1998) shows the merge cost is Ward's sum-of-squares increase
n_i n_j / (n_i + n_j) times the squared distance between the two clusters'
means (scipy's compiled ``linkage``), on
the data whitened by their covariance: the principal components scaled to
unit variance (in the spirit of mclust's ``hcUse = "SVD"`` option), so
the start does not depend on the features' units. Data with more than
:data:`HC_ROWS` rows are agglomerated on that many rows drawn at random (with
probability proportional to the weights, if any). The start of k components
is :func:`gaussmix.em.init.partition_moments` of the k-cluster partition.
"""

from __future__ import annotations

import numpy as np

__all__ = ["HC_ROWS", "Hierarchy", "whiten"]

#: Rows (at most) that are agglomerated (mclust agglomerates a subset of
#: a few thousand rows of large data too).
HC_ROWS = 2000


def whiten(X: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """X centred, rotated onto its principal axes and scaled to unit variance.

    Directions without variance (below 1e-12 of the largest) are dropped.

    Parameters
    ----------
    X : ndarray, shape (n, d)
    weights : ndarray, shape (n,), optional

    Returns
    -------
    ndarray, shape (n, r), r <= d
    """
    w = np.ones(X.shape[0]) if weights is None else weights
    centred = X - (w @ X) / w.sum()
    covariance = (centred * w[:, None]).T @ centred / w.sum()
    eigvals, eigvecs = np.linalg.eigh(covariance)
    keep = eigvals > 1e-12 * max(eigvals[-1], np.finfo(float).tiny)
    return centred @ (eigvecs[:, keep] / np.sqrt(eigvals[keep]))


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
    ) -> None:
        n = X.shape[0]
        if n > max_rows:
            rng = np.random.default_rng(0) if rng is None else rng
            p = None if weights is None else weights / weights.sum()
            if p is not None and np.count_nonzero(p) < max_rows:
                p = None
            self.rows = np.sort(rng.choice(n, size=max_rows, replace=False, p=p))
        else:
            self.rows = np.arange(n)
        self.X = np.asarray(X[self.rows], dtype=np.float64)
        self.weights = None if weights is None else np.asarray(weights[self.rows], np.float64)
        from scipy.cluster.hierarchy import linkage  # scipy on first use (a fast import)

        whitened = whiten(self.X, self.weights)
        self.tree = linkage(whitened, method="ward") if len(self.rows) > 1 else None

    def labels(self, n_clusters: int) -> np.ndarray:
        """Labels in [0, n_clusters) of the agglomerated ``rows``, cut at ``n_clusters``."""
        from scipy.cluster.hierarchy import cut_tree, fcluster

        if self.tree is None or n_clusters <= 1:
            return np.zeros(len(self.rows), dtype=np.intp)
        n_clusters = min(n_clusters, len(self.rows))
        # fcluster (compiled) cuts below the k-th highest merge; scipy's
        # cut_tree (much slower) only where tied heights leave fewer clusters.
        flat = fcluster(self.tree, n_clusters, criterion="maxclust")
        _, labels = np.unique(flat, return_inverse=True)
        if labels.max() + 1 != n_clusters:
            labels = cut_tree(self.tree, n_clusters=n_clusters)[:, 0]
        return labels.astype(np.intp)
