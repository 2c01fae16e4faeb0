"""One call for data larger than memory: :func:`fit_stream`."""

from __future__ import annotations

from typing import Any

from .fitting import StreamCallback
from .gmm import GMM

__all__ = ["fit_stream"]


def fit_stream(
    X: Any,
    n_components: int,
    *,
    covariance_type: str = "full",
    batch_size: int | None = None,
    n_passes: int = 1,
    shuffle: bool = True,
    random_state: Any = None,
    init_params: str = "kmeans++",
    reg_covar: float = 1e-6,
    learning_decay: float = 0.7,
    learning_offset: float = 10.0,
    callback: StreamCallback | None = None,
    n_jobs: int | None = None,
    n_init: int = 1,
) -> GMM:
    """Fit a :class:`~gaussmix.GMM` by one or a few passes of mini-batches (online EM).

    ``GMM(n_components, random_state=random_state).from_stream(X, ...)``: the
    rows are read one batch at a time (an array or memory-mapped file indexed
    per batch, a ``.npy`` path memory-mapped, a Dask array computed one chunk
    at a time), so memory stays bounded by a few batches. The first batch
    starts the model by batch EM, then every batch is one step of stepwise EM
    (Cappé & Moulines 2009). The result is an ordinary fitted ``GMM``
    (regression with :meth:`~gaussmix.GMM.predict`, scoring, saving), and
    :meth:`~gaussmix.GMM.partial_fit` can continue the stream. See
    :meth:`gaussmix.GMM.from_stream` for every option and
    :doc:`/guide/scale` for when one pass suffices.

    Parameters
    ----------
    X : array-like, numpy.memmap, str or os.PathLike, or dask.array.Array, shape (n, d)
    n_components : int
    covariance_type : str, default="full"
    batch_size : int, optional
        Default about 4 MiB of rows (32,768 rows of 16 features), at most n / 32,
        at least 1,024 (see :func:`gaussmix.em.batches.default_batch_size`).
    n_passes : int, default=1
    shuffle : bool, default=True
        Random batches in every pass (seeded by ``random_state``).
    random_state : None, int, RandomState or Generator, optional
        Seeds the first batch's start and the shuffling.
    init_params : {"random", "kmeans++", "hc"}, default="kmeans++"
    reg_covar : float, default=1e-6
    learning_decay, learning_offset : float, default=0.7, 10.0
        Step size eta_t = (t + learning_offset) ** -learning_decay.
    callback : callable, optional
        ``callback(rows_seen, pass_number, mean_log_likelihood, elapsed)``
        after every batch; a true return value stops.
    n_jobs : int, optional
        Threads per batch; default every core.
    n_init : int, default=1
        Batch EM runs from different starts on the first batch, the best
        kept: a poor start persists through the pass.

    Returns
    -------
    GMM
        Fitted.

    Examples
    --------
    >>> import numpy as np
    >>> import gaussmix
    >>> rng = np.random.default_rng(0)
    >>> x = rng.uniform(-3, 3, size=(50_000, 1))
    >>> y = np.where(x < 0, -1.0, 1.0) + 0.1 * rng.normal(size=(50_000, 1))
    >>> gmm = gaussmix.fit_stream(np.hstack([x, y]), 2, random_state=0)
    >>> gmm.predict([0], [[-2.0], [2.0]]).round(1)
    array([[-1.],
           [ 1.]])
    """
    model = GMM(n_components=n_components, random_state=random_state)
    return model.from_stream(
        X,
        covariance_type=covariance_type,
        batch_size=batch_size,
        n_passes=n_passes,
        shuffle=shuffle,
        init_params=init_params,
        reg_covar=reg_covar,
        learning_decay=learning_decay,
        learning_offset=learning_offset,
        callback=callback,
        n_jobs=n_jobs,
        n_init=n_init,
    )
