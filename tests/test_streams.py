"""Streams: ``fit_stream``, ``GMM.from_stream``, the estimators' ``fit_stream``, ``fit --online``.

References not written here: scikit-learn's batch EM (the mean log-likelihood of
its optimum on the same rows), scipy.stats' densities (the batch log-likelihood
the progress callback reports), the closed-form conditional mean of a known
mixture (GMR from a stream), the known noise-free covariance of data measured
with known noise, tracemalloc's count of the memory allocated while streaming a
file much larger than a batch, and the rows themselves (every row read once a
pass).
"""

from __future__ import annotations

import threading
import tracemalloc
import warnings

import numpy as np
import pytest
from scipy import stats

pytest.importorskip("sklearn")
from sklearn import mixture as sk_mixture

import gaussmix
from gaussmix import GMM
from gaussmix._validation import check_spread
from gaussmix.cli import main
from gaussmix.em.batches import (
    MAX_BLOCKS,
    ReadAhead,
    check_batch,
    default_batch_size,
    open_rows,
)
from gaussmix.fitting import stream_chunk_rows
from gaussmix.io import load_model
from gaussmix.sklearn import BayesianGaussianMixture, GaussianMixture

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

# A known mixture: three well separated components with anisotropic covariances.
TRUE_WEIGHTS = np.array([0.5, 0.3, 0.2])
TRUE_MEANS = np.array([[0.0, 0.0, 0.0], [6.0, 0.0, 2.0], [0.0, 6.0, -2.0]])
TRUE_SCALES = np.array([[1.0, 0.5, 0.8], [0.7, 1.2, 0.6], [0.9, 0.9, 1.1]])

# One pass of mini-batches ends this close (nats per row) to the batch optimum.
MARGIN = 0.01


def draw(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = rng.choice(3, size=n, p=TRUE_WEIGHTS)
    return TRUE_MEANS[labels] + rng.normal(size=(n, 3)) * TRUE_SCALES[labels]


@pytest.fixture(scope="module")
def rows() -> np.ndarray:
    return draw(60_000, 0)


@pytest.fixture(scope="module")
def batch_optimum(rows):
    """scikit-learn's batch EM to convergence: the mean log-likelihood of its optimum."""
    optimum = {}
    for covariance_type in COVARIANCE_TYPES:
        sk = sk_mixture.GaussianMixture(
            3, covariance_type=covariance_type, tol=1e-8, max_iter=500, n_init=2, random_state=0
        ).fit(rows)
        optimum[covariance_type] = sk.score(rows)
    return optimum


def sk_score(gmm: GMM, X: np.ndarray) -> float:
    """The mean log-likelihood of a GMM's parameters, as scikit-learn computes it."""
    sk = sk_mixture.GaussianMixture(len(gmm.priors), covariance_type="full")
    sk.weights_, sk.means_, sk.covariances_ = gmm.priors, gmm.means, gmm.covariances
    sk.precisions_cholesky_ = np.linalg.cholesky(np.linalg.inv(gmm.covariances))
    return float(sk.score(X))


# -- one pass reaches the batch optimum ---------------------------------------------------
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_one_pass_ends_near_scikit_learns_batch_optimum(rows, batch_optimum, covariance_type):
    gmm = gaussmix.fit_stream(
        rows, 3, covariance_type=covariance_type, batch_size=2000, random_state=0
    )
    assert gmm.n_iter_ == 30 and gmm.covariance_type_ == covariance_type
    gap = batch_optimum[covariance_type] - sk_score(gmm, rows)
    assert gap < MARGIN, gap


@pytest.mark.parametrize("estimator", [GaussianMixture, BayesianGaussianMixture])
def test_the_estimators_fit_stream_ends_near_the_batch_optimum(rows, batch_optimum, estimator):
    options = {"total_samples": len(rows)} if estimator is BayesianGaussianMixture else {}
    model = estimator(n_components=3, random_state=0, **options)
    assert model.fit_stream(rows, batch_size=2000) is model
    assert model.n_iter_ == 30 and model.n_features_in_ == 3
    assert batch_optimum["full"] - model.score(rows) < MARGIN
    # It starts afresh, like fit.
    again = model.fit_stream(rows, batch_size=2000)
    np.testing.assert_allclose(
        again.means_,
        estimator(n_components=3, random_state=0, **options)
        .fit_stream(rows, batch_size=2000)
        .means_,
    )


def test_the_default_batch_size_keeps_one_pass_near_the_optimum(rows, batch_optimum):
    gmm = gaussmix.fit_stream(rows, 3, random_state=1)
    assert gmm.n_iter_ == -(-len(rows) // default_batch_size(len(rows), 3))
    assert batch_optimum["full"] - sk_score(gmm, rows) < MARGIN


# -- where the rows come from ---------------------------------------------------------------
def test_a_path_a_memory_map_and_an_array_give_the_same_fit(rows, tmp_path):
    path = tmp_path / "rows.npy"
    np.save(path, rows)
    fits = [
        gaussmix.fit_stream(X, 3, batch_size=3000, random_state=3).means
        for X in (rows, np.load(path, mmap_mode="r"), path, str(path))
    ]
    for means in fits[1:]:
        np.testing.assert_array_equal(means, fits[0])


def test_a_dask_array_streams_one_chunk_at_a_time(rows, batch_optimum):
    da = pytest.importorskip("dask.array")
    X = da.from_array(rows, chunks=(7000, 3))
    gmm = gaussmix.fit_stream(X, 3, batch_size=2000, random_state=0)
    assert gmm.n_iter_ == 30
    assert batch_optimum["full"] - sk_score(gmm, rows) < MARGIN


def test_float32_rows_stream_as_float32(rows, batch_optimum):
    gmm = gaussmix.fit_stream(rows.astype(np.float32), 3, batch_size=2000, random_state=0)
    assert batch_optimum["full"] - sk_score(gmm, rows) < MARGIN


@pytest.mark.parametrize("n", [1000, MAX_BLOCKS + 12_345, 3 * MAX_BLOCKS + 7])
@pytest.mark.parametrize("shuffle", [True, False])
def test_every_pass_reads_every_row_once(n, shuffle):
    X = np.arange(n, dtype=np.float64)[:, None]
    seen = {1: [], 2: []}
    for pass_number, batch in open_rows(X).batches(
        4096, n_passes=2, shuffle=shuffle, random_state=0
    ):
        seen[pass_number].append(batch[:, 0])
    for batches in seen.values():
        np.testing.assert_array_equal(np.sort(np.concatenate(batches)), X[:, 0])
        assert max(len(b) for b in batches) <= 4096 + -(-n // MAX_BLOCKS)
    first, second = np.concatenate(seen[1]), np.concatenate(seen[2])
    if n > 4096:  # a new order every pass (within a batch, rows stay sorted)
        assert (not np.array_equal(first, second)) == shuffle
    if shuffle:  # batches mix the whole range, not consecutive rows
        assert np.ptp(seen[1][0]) > n / 2


def test_dask_batches_read_every_row_once():
    da = pytest.importorskip("dask.array")
    X = da.from_array(np.arange(10_000.0)[:, None], chunks=((3000, 1, 4999, 2000), (1,)))
    batches = [b for _, b in open_rows(X).batches(1500, shuffle=True, random_state=0)]
    np.testing.assert_array_equal(np.sort(np.concatenate(batches)[:, 0]), np.arange(10_000.0))
    assert max(len(b) for b in batches) == 1500


def test_shuffling_is_seeded(rows):
    a = gaussmix.fit_stream(rows, 3, batch_size=3000, random_state=5).means
    b = gaussmix.fit_stream(rows, 3, batch_size=3000, random_state=5).means
    np.testing.assert_array_equal(a, b)


def test_ordered_rows_need_the_shuffle(batch_optimum):
    # Rows sorted by component: in order, the last batches hold one component
    # only; shuffled batches are samples of the whole.
    X = draw(60_000, 0)
    X = X[np.argsort(X[:, 0] + X[:, 1])]
    gmm = gaussmix.fit_stream(X, 3, batch_size=2000, random_state=0)
    assert batch_optimum["full"] - sk_score(gmm, draw(60_000, 0)) < MARGIN


# -- memory: bounded by a few batches --------------------------------------------------
def test_streaming_a_memory_mapped_file_allocates_a_few_batches(tmp_path):
    n, d, batch = 400_000, 8, 4000
    path = tmp_path / "big.npy"
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(n, d))
    rng = np.random.default_rng(0)
    for start in range(0, n, 50_000):
        out[start : start + 50_000] = rng.normal(size=(50_000, d)) + (start // 50_000) % 2 * 4
    out.flush()
    del out
    file_bytes, batch_bytes = n * d * 8, batch * d * 8
    tracemalloc.start()
    try:
        gaussmix.fit_stream(path, 2, batch_size=batch, random_state=0, n_jobs=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert file_bytes == 100 * batch_bytes
    assert peak < 8 * batch_bytes, (peak, batch_bytes)


# -- the progress callback ----------------------------------------------------------------
def _mixture_log_likelihood(gmm: GMM, X: np.ndarray) -> float:
    densities = [
        w * stats.multivariate_normal(m, c).pdf(X)
        for w, m, c in zip(gmm.priors, gmm.means, gmm.covariances, strict=True)
    ]
    return float(np.mean(np.log(np.sum(densities, axis=0))))


def test_the_callback_reports_each_batch_before_its_step(rows):
    calls = []

    def stop_after(steps):
        def callback(rows_seen, pass_number, mean_log_likelihood, elapsed):
            calls.append((rows_seen, pass_number, mean_log_likelihood, elapsed))
            return len(calls) == steps

        return callback

    options = dict(batch_size=1000, shuffle=False, random_state=0)
    one = gaussmix.fit_stream(rows, 3, callback=stop_after(1), **options)
    assert one.n_iter_ == 1
    calls.clear()
    two = gaussmix.fit_stream(rows, 3, callback=stop_after(2), **options)
    assert two.n_iter_ == 2
    # Batch 2 (rows 1000-2000 in order) scored under the model after step 1.
    assert calls[1][2] == pytest.approx(_mixture_log_likelihood(one, rows[1000:2000]), rel=1e-9)
    assert [c[:2] for c in calls] == [(1000, 1), (2000, 1)]
    assert 0 <= calls[0][3] <= calls[1][3]


def test_the_callback_counts_rows_over_passes():
    X = draw(5000, 1)
    calls = []
    gaussmix.fit_stream(
        X, 3, batch_size=2000, n_passes=2, random_state=0, callback=lambda *a: calls.append(a)
    )
    assert [c[0] for c in calls] == [2000, 4000, 5000, 7000, 9000, 10000]
    assert [c[1] for c in calls] == [1, 1, 1, 2, 2, 2]


# -- GMR from a stream: the closed-form conditional mean ------------------------------------
GMR_WEIGHTS = np.array([0.4, 0.6])
GMR_MEANS = np.array([[-2.0, 1.0], [2.0, -1.0]])
GMR_COVS = np.array([[[1.0, 0.6], [0.6, 0.8]], [[1.5, -0.9], [-0.9, 1.0]]])


def _closed_form_conditional_mean(x):
    var_x = GMR_COVS[:, 0, 0]
    dens = GMR_WEIGHTS * stats.norm(GMR_MEANS[:, 0], np.sqrt(var_x)).pdf(x[:, None])
    resp = dens / dens.sum(axis=1, keepdims=True)
    cond = GMR_MEANS[:, 1] + GMR_COVS[:, 1, 0] / var_x * (x[:, None] - GMR_MEANS[:, 0])
    return (resp * cond).sum(axis=1)


def test_gmr_from_a_streamed_file_predicts_the_closed_form(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.choice(2, size=100_000, p=GMR_WEIGHTS)
    chol = np.linalg.cholesky(GMR_COVS)
    X = GMR_MEANS[labels] + np.einsum("nij,nj->ni", chol[labels], rng.normal(size=(100_000, 2)))
    np.save(tmp_path / "xy.npy", X)
    gmm = GMM(n_components=2, random_state=0).from_stream(tmp_path / "xy.npy")
    x = np.linspace(-3.0, 3.0, 13)
    predicted = gmm.predict([0], x[:, None]).ravel()
    np.testing.assert_allclose(predicted, _closed_form_conditional_mean(x), atol=0.05)
    # partial_fit continues the stream from the streamed model.
    steps = gmm.n_iter_
    gmm.partial_fit(X[:1000])
    assert gmm.n_iter_ == steps + 1


# -- measurement noise in partial_fit (extreme deconvolution) --------------------------------
def test_partial_fit_with_known_noise_recovers_the_noise_free_covariance():
    V = np.array([[1.0, 0.3], [0.3, 0.5]])
    S = np.diag([0.8, 0.4])
    rng = np.random.default_rng(0)
    gmm = GMM(1, random_state=0)
    for _ in range(300):
        X = rng.multivariate_normal([1.0, 2.0], V + S, size=2000)
        gmm.partial_fit(X, noise_covariances=S, learning_decay=0.6)
    # 600,000 rows: the sample covariance's error is about 0.003.
    np.testing.assert_allclose(gmm.means[0], [1.0, 2.0], atol=0.01)
    np.testing.assert_allclose(gmm.covariances[0], V, atol=0.02)
    # Without the noise the stream learns the convolved covariance V + S.
    plain = GMM(1, random_state=0)
    for _ in range(50):
        plain.partial_fit(rng.multivariate_normal([1.0, 2.0], V + S, size=2000))
    np.testing.assert_allclose(plain.covariances[0], V + S, atol=0.05)


# -- several starts on the first batch ---------------------------------------------------------
TRAP_WEIGHTS = [0.5, 0.3, 0.2]


def draw_trap(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three overlapping, correlated components in 4-D, where k-means++ often starts badly:
    the rows, and the true means and covariances."""
    rng = np.random.default_rng(1)
    means = rng.normal(0.0, 4.0, (3, 4))
    factors = 0.6 * rng.normal(size=(3, 4, 4))
    labels = rng.choice(3, size=n, p=TRAP_WEIGHTS)
    noise = np.einsum("nij,nj->ni", factors[labels], rng.normal(size=(n, 4)))
    covariances = factors @ factors.transpose(0, 2, 1) + 0.09 * np.eye(4)
    return means[labels] + noise + 0.3 * rng.normal(size=(n, 4)), means, covariances


@pytest.fixture(scope="module")
def trap():
    # scikit-learn's optimum, started from the true mixture (three k-means++ starts of its
    # own reach the same score to 1e-7 nats per row, 40x slower).
    X, means, covariances = draw_trap(40_000)
    sk = sk_mixture.GaussianMixture(
        3,
        tol=1e-6,
        max_iter=500,
        weights_init=TRAP_WEIGHTS,
        means_init=means,
        precisions_init=np.linalg.inv(covariances),
    )
    return X, sk.fit(X).score(X)


@pytest.mark.parametrize("seed", [1, 5, 7])
def test_several_starts_on_the_first_batch_escape_a_poor_one(trap, seed):
    X, optimum = trap
    # One start: two k-means++ seeds in one cluster, and one pass keeps the poor optimum.
    one = gaussmix.fit_stream(X, 3, batch_size=4000, random_state=seed)
    assert optimum - sk_score(one, X) > 0.1
    best = gaussmix.fit_stream(X, 3, batch_size=4000, random_state=seed, n_init=5)
    assert optimum - sk_score(best, X) < MARGIN


def test_cli_online_takes_several_starts(tmp_path, capsys, trap):
    X, optimum = trap
    path, model = tmp_path / "x.npy", tmp_path / "model.json"
    np.save(path, X)
    argv = ["fit", str(path), "-k", "3", "--online", "--batch-size", "4000", "--seed", "1"]
    argv += ["-o", str(model)]
    assert main([*argv, "--n-init", "5"]) == 0, capsys.readouterr().err
    assert optimum - sk_score(load_model(model), X) < MARGIN


# -- the command line -------------------------------------------------------------------------
def test_cli_fit_online_writes_a_model_near_the_batch_optimum(
    tmp_path, capsys, rows, batch_optimum
):
    path, model = tmp_path / "big.npy", tmp_path / "model.json"
    np.save(path, rows)
    status = main(
        [
            "fit",
            str(path),
            "-k",
            "3",
            "--online",
            "--batch-size",
            "2000",
            "--passes",
            "2",
            "--seed",
            "0",
            "-o",
            str(model),
        ]
    )
    err = capsys.readouterr().err
    assert status == 0, err
    assert "by online EM, 60 batches in 2 pass(es)" in err
    gmm = load_model(model)
    assert batch_optimum["full"] - sk_score(gmm, rows) < MARGIN


@pytest.mark.parametrize(
    "argv",
    [
        ["--passes", "2"],
        ["--batch-size", "10"],
        ["--online", "--allow-missing"],
    ],
)
def test_cli_online_options_need_each_other(tmp_path, capsys, argv):
    path = tmp_path / "x.npy"
    np.save(path, draw(100, 0))
    assert main(["fit", str(path), "-k", "2", *argv]) == 2
    assert "online" in capsys.readouterr().err


def test_cli_online_refuses_nan_in_a_batch(tmp_path, capsys):
    X = draw(10_000, 0)
    X[7000, 1] = np.nan
    np.save(tmp_path / "x.npy", X)
    assert main(["fit", str(tmp_path / "x.npy"), "-k", "2", "--online"]) == 1
    assert "X contains NaN" in capsys.readouterr().err


# -- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"n_passes": 0}, ValueError, "n_passes"),
        ({"batch_size": 2.5}, TypeError, "batch_size"),
        ({"callback": 3}, TypeError, "callback"),
        ({"learning_decay": 2.0}, ValueError, "learning_decay"),
        ({"covariance_type": "round"}, ValueError, "covariance_type"),
        ({"n_jobs": 0}, ValueError, "n_jobs"),
        ({"n_init": 0}, ValueError, "n_init"),
    ],
)
def test_bad_options_are_refused_by_name(kwargs, error, match):
    with pytest.raises(error, match=match):
        gaussmix.fit_stream(draw(500, 0), 2, **kwargs)


def test_bad_data_are_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        gaussmix.fit_stream(tmp_path / "absent.npy", 2)
    (tmp_path / "text.npy").write_text("not an array")
    with pytest.raises(ValueError, match=r"not a readable \.npy"):
        gaussmix.fit_stream(tmp_path / "text.npy", 2)
    with pytest.raises(ValueError, match="2-D"):
        gaussmix.fit_stream(np.zeros((4, 3, 2)), 2)
    with pytest.raises(TypeError, match="real numbers"):
        gaussmix.fit_stream(np.array([["a", "b"]] * 10), 2)
    batches = (draw(100, seed) for seed in range(3))
    with pytest.raises(TypeError, match=r"X: got an iterator.*call partial_fit on each"):
        gaussmix.fit_stream(batches, 2)
    with pytest.raises(TypeError, match="X: got an iterator"):
        GaussianMixture(2).fit_stream(iter([draw(100, 0)]))
    X = draw(5000, 0)
    X[4321, 2] = np.inf
    with pytest.raises(ValueError, match="X contains infinite"):
        gaussmix.fit_stream(X, 2, batch_size=1000, shuffle=False)
    with pytest.raises(ValueError, match="n_components=5 is larger than n_samples=4"):
        gaussmix.fit_stream(draw(4, 0), 5)  # X itself has too few rows


@pytest.mark.parametrize(
    "fit",
    [
        lambda X, **kw: gaussmix.fit_stream(X, 5, **kw),
        lambda X, **kw: GMM(n_components=5).from_stream(X, **kw),
        lambda X, **kw: GaussianMixture(5).fit_stream(X, **kw),
        lambda X, **kw: BayesianGaussianMixture(n_components=5).fit_stream(X, **kw),
    ],
)
def test_a_batch_size_smaller_than_k_is_refused_by_name_before_reading(fit):
    # The file is 100 rows long; the message is about the batch, not about X.
    reads = []
    with pytest.raises(ValueError, match=r"batch_size=4 is too small.*n_components=5"):
        fit(draw(100, 0), batch_size=4, callback=lambda *a: reads.append(a))
    assert reads == []


def test_a_first_batch_rounded_below_k_is_refused_by_name():
    # Over 2^16 rows, shuffled batches are whole blocks (here 2 rows each): a
    # batch_size of 5 gathers 2 blocks, 4 rows, one fewer than the components.
    X = np.random.default_rng(0).normal(size=(MAX_BLOCKS + 10, 2))
    with pytest.raises(ValueError, match=r"batch_size=5 is too small: the first batch \(4 rows"):
        gaussmix.fit_stream(X, 5, batch_size=5, random_state=0)
    with pytest.raises(ValueError, match=r"batch_size=5 is too small: the first batch \(4 rows"):
        GaussianMixture(5, random_state=0).fit_stream(X, batch_size=5)
    huge = draw(1000, 0)
    huge[10, 0] = 1e200
    with pytest.raises(ValueError, match="overflow"):
        gaussmix.fit_stream(huge, 2, batch_size=500, shuffle=False)


# -- the engine's batches use every thread -------------------------------------------------
@pytest.mark.parametrize("n_rows", [1000, 5000, 8192, 65_536])
def test_a_batch_is_split_into_enough_chunks_for_every_thread(n_rows):
    chunk = stream_chunk_rows(n_rows, 16, "full", 2)
    assert chunk >= 256
    assert -(-n_rows // chunk) >= 4 or chunk == 256


def test_no_warning_from_a_clean_stream(rows):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gaussmix.fit_stream(rows, 3, batch_size=5000, random_state=0)


# -- the reader thread (ReadAhead): errors come out, the thread ends ----------------------------
def _reader_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("gaussmix-read")]


def test_read_ahead_reads_one_ahead_and_raises_where_the_item_was_due():
    read = []

    def items():
        for i in range(3):
            read.append(i)
            yield i
        raise KeyError("the reader failed")

    with ReadAhead(items()) as reader:
        assert next(reader) == 0 and read == [0]
        reader.prefetch()
        reader.prefetch()  # one read in flight at most
        assert next(reader) == 1
        assert next(reader) == 2 and read == [0, 1, 2]
        with pytest.raises(KeyError, match="the reader failed"):
            next(reader)
    assert _reader_threads() == []


def test_read_ahead_prepare_errors_come_out_of_next():
    def refuse_two(item):
        if item == 2:
            raise ValueError("X contains NaN")

    with ReadAhead(iter([1, 2, 3]), prepare=refuse_two) as reader:
        assert next(reader) == 1
        reader.prefetch()
        with pytest.raises(ValueError, match="NaN"):
            next(reader)
    assert _reader_threads() == []


@pytest.mark.parametrize("how", ["callback raises", "callback stops", "bad batch", "bad chunk"])
def test_a_stream_that_ends_early_leaves_no_reader_thread(how):
    dask_array = pytest.importorskip("dask.array")
    X = draw(20_000, 3)
    calls = []

    def callback(*args):
        calls.append(args)
        if how == "callback raises" and len(calls) == 2:
            raise RuntimeError("stop here")
        return how == "callback stops" and len(calls) == 3

    data = X
    if how == "bad batch":
        data = X.copy()
        data[15_000, 1] = np.nan
    elif how == "bad chunk":

        def fail_third(block, block_info=None):
            if block_info[0]["chunk-location"][0] == 2:
                raise OSError("chunk 2 unreadable")
            return block

        data = dask_array.from_array(X, chunks=4000).map_blocks(fail_third, dtype=X.dtype)
    errors = {
        "callback raises": (RuntimeError, "stop here"),
        "bad batch": (ValueError, "X contains NaN"),
        "bad chunk": (OSError, "chunk 2 unreadable"),
    }
    options = dict(batch_size=2000, shuffle=False, callback=callback, random_state=0)
    if how in errors:
        error, match = errors[how]
        with pytest.raises(error, match=match):
            gaussmix.fit_stream(data, 3, **options)
    else:
        gmm = gaussmix.fit_stream(data, 3, **options)
        assert gmm.n_iter_ == 3
    assert _reader_threads() == []
    expected = {"callback raises": 2, "callback stops": 3, "bad batch": 7, "bad chunk": 4}
    assert len(calls) == expected[how]


def test_a_batch_check_on_the_reader_thread_leaves_the_warning_filters_alone(monkeypatch):
    # warnings.catch_warnings swaps the process's filters and is not thread-safe: a
    # batch checked on the reader thread while the caller's thread (a callback) holds
    # its own catch_warnings could leave either's filters in place for good.
    def refuse(*args, **kwargs):
        raise AssertionError("catch_warnings called while checking a batch")

    wide = draw(1000, 0)
    wide[10, 0] = 1e200  # a far outlier
    with_missing = wide.copy()
    with_missing[:, 1] = np.nan  # a column with no observed value is skipped
    with monkeypatch.context() as patch:
        patch.setattr(warnings, "catch_warnings", refuse)
        with pytest.raises(ValueError, match=r"X spans 1e\+200 in column 0"):
            check_batch(wide)
        with pytest.raises(ValueError, match=r"X spans 1e\+200 in column 0"):
            check_spread(with_missing)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_spread(np.full((5, 2), np.nan))  # nothing observed: nothing to refuse
    assert caught == []
