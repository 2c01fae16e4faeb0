"""``fit_stream`` of the estimators: passes of mini-batches over data larger than memory."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sklearn.utils import check_random_state

from ..em.batches import check_batching, check_first_batch, open_rows

__all__ = ["StreamFitMixin"]


class StreamFitMixin:
    """Adds :meth:`fit_stream` to an estimator with ``fit`` and ``partial_fit``."""

    def fit_stream(
        self,
        X: Any,
        y: Any = None,
        *,
        batch_size: int | None = None,
        n_passes: int = 1,
        shuffle: bool = True,
        callback: Callable[[int, int, float, float], Any] | None = None,
    ) -> Any:
        """Fit by one or a few passes of mini-batches (online EM), reading one batch at a time.

        For data larger than memory: a memory-mapped array or a path to a
        ``.npy`` file (memory-mapped) is indexed one batch at a time, a Dask
        array computed one chunk at a time (see :mod:`gaussmix.em.batches`),
        so memory stays bounded by a few batches. The first batch is fitted
        by ``fit`` (``init_params``, ``n_init``, ``max_iter``, ``tol``
        and the ``*_init`` parameters apply to it), then every batch of
        every pass, the first included, is one ``partial_fit`` step
        (``learning_decay``, ``learning_offset``, ``total_samples``). Like
        ``fit``, it starts afresh; ``partial_fit`` can continue the
        stream afterwards. With ``BayesianGaussianMixture`` over several
        passes, give ``total_samples`` (the number of rows): by default the
        rows seen so far count, which grows with every pass.

        Parameters
        ----------
        X : array-like, numpy.memmap, str or os.PathLike, or dask.array.Array, shape (n, d)
        y : ignored
        batch_size : int, optional
            Rows per batch; default about 4 MiB of rows (32,768 rows of 16
            features), at most n / 32 (at least 1,024).
        n_passes : int, default=1
        shuffle : bool, default=True
            Random batches in every pass, drawn from ``random_state``.
        callback : callable, optional
            ``callback(rows_seen, pass_number, mean_log_likelihood, elapsed)``
            after every batch (the batch's mean log-likelihood under the
            parameters before its step); a true return value stops.

        Returns
        -------
        self

        Examples
        --------
        >>> import numpy as np
        >>> from gaussmix.sklearn import GaussianMixture
        >>> rng = np.random.default_rng(0)
        >>> X = rng.choice([-5.0, 5.0], size=(40_000, 1)) + rng.normal(size=(40_000, 2))
        >>> gm = GaussianMixture(n_components=2, random_state=0).fit_stream(X, batch_size=4000)
        >>> gm.n_iter_, np.round(np.sort(gm.means_[:, 0]))
        (10, array([-5.,  5.]))
        """
        rows = open_rows(X)
        batch_size, n_passes = check_batching(
            batch_size, n_passes, rows.n_rows, rows.n_features, self.n_components
        )
        if callback is not None and not callable(callback):
            raise TypeError(
                "callback must be callable(rows_seen, pass_number, mean_log_likelihood, "
                f"elapsed) or None; got {type(callback).__name__}"
            )
        batches = rows.batches(
            batch_size,
            n_passes=n_passes,
            shuffle=bool(shuffle),
            random_state=check_random_state(self.random_state),
        )
        started = time.perf_counter()
        rows_seen = 0
        first = True
        for pass_number, batch in batches:
            if first:
                if len(batch) < rows.n_rows:
                    check_first_batch(len(batch), self.n_components, batch_size)
                self.fit(batch)
                first = False
            self._partial_fit(batch, None)
            rows_seen += len(batch)
            if callback is not None and callback(
                rows_seen,
                pass_number,
                self._online[0].batch_log_likelihood,
                time.perf_counter() - started,
            ):
                break
        return self
