"""EM over Dask arrays (gaussmix.dask) against the fit in memory, and lazy outputs.

The reference is the in-memory fit (itself tested against scikit-learn's EM in
test_em.py): from the same initial parameters, a Dask fit must give the same
parameters and iterations to rtol 1e-8, whatever the chunking. Skipped when dask
is not installed.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import dask  # noqa: E402

import gaussmix.dask as gdask  # noqa: E402
import gaussmix.em.dask_source as dask_source  # noqa: E402
from gaussmix import GMM, ConvergenceWarning  # noqa: E402

RTOL = 1e-8


def _blobs(n_per: int = 600, d: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (3, d))
    X = np.concatenate([rng.normal(size=(n_per, d)) * (1 + j) + centres[j] for j in range(3)])
    return X[rng.permutation(X.shape[0])]


X_NP = _blobs()
X_DA = da.from_array(X_NP, chunks=(500, 3))  # uneven last chunk: 1800 = 3 * 500 + 300


def _fit(X, seed=0, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GMM(3, random_state=seed).from_samples(X, **options)


def _assert_same_fit(a: GMM, b: GMM) -> None:
    assert a.n_iter_ == b.n_iter_
    assert a.converged_ == b.converged_
    np.testing.assert_allclose(b.priors, a.priors, rtol=RTOL)
    np.testing.assert_allclose(b.means, a.means, rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(b.covariances, a.covariances, rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(b.lower_bound_, a.lower_bound_, rtol=RTOL)


@pytest.fixture(scope="module")
def client():
    """An in-process cluster (threads), not the default: tests opt in with as_current()."""
    with distributed.Client(
        processes=False,
        n_workers=1,
        threads_per_worker=2,
        dashboard_address=":0",
        set_as_default=False,
    ) as c:
        yield c


# ----------------------------------------------------------------------
# The fit equals the fit in memory
# ----------------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical", "tied"])
@pytest.mark.parametrize("init_params", ["random", "kmeans++"])
def test_equals_in_memory_fit_every_covariance_type_and_init(covariance_type, init_params):
    options = dict(covariance_type=covariance_type, init_params=init_params, n_iter=15)
    _assert_same_fit(_fit(X_NP, **options), _fit(X_DA, **options))


@pytest.mark.parametrize(
    "options",
    [
        dict(tol=1e-6, n_iter=200),  # scikit-learn's rule
        dict(R_diff=1e-3, n_iter=200),  # gmr's rule (the default tol="auto")
        dict(tol=None, n_iter=7, reg_covar=1e-2),
        dict(n_init=3, init_params="kmeans++", tol=1e-4),
        dict(oracle_approximating_shrinkage=True, n_iter=10, tol=None),
        dict(dtype=np.float32, n_iter=10, tol=None),
    ],
    ids=["tol", "R_diff", "reg_covar", "n_init", "oas", "float32-products"],
)
def test_equals_in_memory_fit_with_options(options):
    a, b = _fit(X_NP, **options), _fit(X_DA, **options)
    if options.get("dtype") is np.float32:
        # float32 GEMMs: the chunk boundaries change the rounding (~1e-6).
        np.testing.assert_allclose(b.means, a.means, rtol=1e-4, atol=1e-4)
        return
    _assert_same_fit(a, b)
    if options.get("tol") is not None or "R_diff" in options:
        assert a.converged_


def test_float32_data_and_integer_data():
    X32 = X_NP.astype(np.float32)
    _assert_same_fit(_fit(X32, n_iter=8), _fit(da.from_array(X32, chunks=400), n_iter=8))
    Xint = np.round(X_NP * 10).astype(np.int64)
    _assert_same_fit(_fit(Xint, n_iter=8), _fit(da.from_array(Xint, chunks=(700, 3)), n_iter=8))


def test_warm_start_from_given_parameters():
    start = _fit(X_NP, n_iter=3)

    def warm(X):
        gmm = GMM(3, priors=start.priors, means=start.means, covariances=start.covariances)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return gmm.from_samples(X, n_iter=5)

    _assert_same_fit(warm(X_NP), warm(X_DA))


def test_sample_weight_dask_numpy_and_other_chunks():
    w = np.random.default_rng(1).uniform(0, 3, X_NP.shape[0])
    reference = _fit(X_NP, sample_weight=w, n_iter=10)
    _assert_same_fit(reference, _fit(X_DA, sample_weight=da.from_array(w, chunks=333), n_iter=10))
    _assert_same_fit(reference, _fit(X_DA, sample_weight=w, n_iter=10))
    # Integer weights are repeated rows (from the same start: the init draws differ).
    counts = np.random.default_rng(2).integers(0, 3, X_NP.shape[0])
    start = _fit(X_NP, n_iter=2)
    start = dict(priors=start.priors, means=start.means, covariances=start.covariances)
    repeated = GMM(3, **start).from_samples(np.repeat(X_NP, counts, axis=0), n_iter=4, tol=None)
    weighted = GMM(3, **start).from_samples(
        X_DA, sample_weight=da.from_array(counts, chunks=600), n_iter=4, tol=None
    )
    np.testing.assert_allclose(weighted.means, repeated.means, rtol=1e-10)
    np.testing.assert_allclose(weighted.covariances, repeated.covariances, rtol=1e-10)


def test_missing_values_equal_in_memory_fit():
    rng = np.random.default_rng(3)
    X = X_NP.copy()
    X[rng.random(X.shape) < 0.15] = np.nan
    X[5] = np.nan  # a row with nothing observed
    Xd = da.from_array(X, chunks=(400, 3))
    for covariance_type in ("full", "diag"):
        options = dict(allow_missing=True, covariance_type=covariance_type, n_iter=8)
        _assert_same_fit(_fit(X, **options), _fit(Xd, **options))
    with pytest.raises(ValueError, match="allow_missing=True"):
        GMM(3).from_samples(Xd)


def test_verbose_says_where_the_chunks_live_and_callback_sees_the_same_iterations(capsys):
    seen = {"numpy": [], "dask": []}

    def recorder(key):
        def callback(iteration, lower_bound, change, elapsed):
            seen[key].append((iteration, lower_bound))
            return iteration == 4  # stops the fit: no warning

        return callback

    GMM(3, random_state=0).from_samples(X_NP, callback=recorder("numpy"))
    capsys.readouterr()
    gmm = GMM(3, random_state=0, verbose=1).from_samples(X_DA, callback=recorder("dask"))
    out = capsys.readouterr().out
    assert "no distributed Client" in out and "recomputed from their source" in out
    assert out.count("EM iteration") == 4
    assert [i for i, _ in seen["dask"]] == [1, 2, 3, 4] and not gmm.converged_
    np.testing.assert_allclose(
        [v for _, v in seen["dask"]], [v for _, v in seen["numpy"]], rtol=RTOL
    )


def test_persist_option_and_message(capsys):
    reference = _fit(X_NP, n_iter=5)
    gmm = GMM(3, random_state=0, verbose=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gmm.from_samples(X_DA, n_iter=5, persist=True)
    assert "persist=True" in capsys.readouterr().out
    _assert_same_fit(reference, gmm)


def test_persist_policy_reads_worker_memory():
    class FakeClient:
        def __init__(self, limit):
            self.limit = limit

        def scheduler_info(self, n_workers=-1):
            worker = {"memory_limit": self.limit, "metrics": {"memory": 1e9}}
            return {"workers": {"tcp://a": worker, "tcp://b": dict(worker)}}

    assert dask_source.persist_policy(10**9, None, None)[0] is False
    keep, message = dask_source.persist_policy(2 * 10**9, None, FakeClient(4e9))  # 6 GB free
    assert keep and "2 worker(s)" in message
    keep, message = dask_source.persist_policy(4 * 10**9, None, FakeClient(4e9))  # more than half
    assert not keep and "exceed half" in message
    assert not dask_source.persist_policy(1, None, FakeClient(0))[0]  # no limits known
    assert not dask_source.persist_policy(1, False, FakeClient(4e9))[0]
    assert dask_source.persist_policy(10**12, True, None)[0]


def test_initialization_sample_is_bounded_and_random(monkeypatch):
    monkeypatch.setattr(dask_source, "INIT_SAMPLE_ROWS", 400)
    source = gdask.DaskSource(
        X_DA, None, "full", n_components=3, random_state=np.random.RandomState(0)
    )
    rows = source.initialization_data()
    assert rows.shape == (400, 3)
    # Distinct rows of X, in row order.
    index = {tuple(row): i for i, row in enumerate(X_NP)}
    positions = [index[tuple(row)] for row in rows]
    assert positions == sorted(set(positions))
    # Both initializations then reach the optimum of the fit in memory (other
    # starting points, so only up to the convergence tolerance).
    for init_params in ("random", "kmeans++"):
        a = _fit(X_NP, init_params=init_params, tol=1e-9, n_iter=500)
        b = _fit(X_DA, init_params=init_params, tol=1e-9, n_iter=500)
        order_a, order_b = np.argsort(a.means[:, 0]), np.argsort(b.means[:, 0])
        np.testing.assert_allclose(b.means[order_b], a.means[order_a], atol=1e-2)
        np.testing.assert_allclose(b.lower_bound_, a.lower_bound_, rtol=1e-6)


def test_fit_on_a_client_equals_in_memory_fit_and_persists(client, capsys):
    reference = _fit(X_NP, init_params="kmeans++", n_iter=6)
    with client.as_current():
        gmm = GMM(3, random_state=0, verbose=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gmm.from_samples(X_DA, init_params="kmeans++", n_iter=6)
    assert "keeping the" in capsys.readouterr().out
    _assert_same_fit(reference, gmm)


def test_dataframe_to_dask_array():
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    frame = dd.from_pandas(pd.DataFrame(X_NP, columns=list("abc")), npartitions=3)
    _assert_same_fit(_fit(X_NP, n_iter=5), _fit(frame.to_dask_array(lengths=True), n_iter=5))


# ----------------------------------------------------------------------
# Errors a Dask user meets
# ----------------------------------------------------------------------
def test_clear_errors():
    with pytest.raises(ValueError, match=r"chunked along its columns.*rechunk\(\{1: -1\}\)"):
        GMM(2).from_samples(da.from_array(X_NP, chunks=(500, 2)))
    unknown = X_DA[X_DA[:, 0] > 0]
    with pytest.raises(ValueError, match=r"unknown chunk sizes.*compute_chunk_sizes"):
        GMM(2).from_samples(unknown)
    with pytest.raises(ValueError, match="must be 2-D"):
        GMM(2).from_samples(X_DA[:, 0])
    with pytest.raises(ValueError, match="n_components=5 is larger than n_samples=4"):
        GMM(5).from_samples(X_DA[:4])
    bad = X_NP.copy()
    bad[7, 1] = np.inf
    with pytest.raises(ValueError, match="infinite values"):
        GMM(2).from_samples(da.from_array(bad, chunks=500))
    with pytest.raises(ValueError, match="non-negative"):
        GMM(2).from_samples(X_DA, sample_weight=-da.ones(X_NP.shape[0], chunks=500))
    with pytest.raises(ValueError, match="positive sum"):
        GMM(2).from_samples(X_DA, sample_weight=da.zeros(X_NP.shape[0], chunks=500))
    with pytest.raises(ValueError, match="length n_samples=1800"):
        GMM(2).from_samples(X_DA, sample_weight=da.ones(10, chunks=5))
    nan_column = X_NP.copy()
    nan_column[:, 2] = np.nan
    with pytest.raises(ValueError, match=r"no observed value: \[2\]"):
        GMM(2).from_samples(da.from_array(nan_column, chunks=500), allow_missing=True)
    with pytest.raises(TypeError, match="real numbers"):
        GMM(2).from_samples(da.from_array(X_NP.astype(complex), chunks=500))


def test_a_task_that_keeps_killing_workers_is_named(monkeypatch):
    class KilledWorker(Exception):  # distributed's exception, by name
        pass

    def compute(*collections):
        raise KilledWorker("Attempted to run task 'e_step-0' on 4 different workers")

    monkeypatch.setattr(gdask.dask, "compute", compute)
    with pytest.raises(RuntimeError, match=r"allowed-failures.*smaller row chunks"):
        GMM(2).from_samples(X_DA)


def test_the_fit_never_computes_the_whole_array(monkeypatch):
    # Every compute of the fit goes through gaussmix.em.dask_source._compute; none of
    # its arguments may be X itself (or anything of X's size).
    sizes = []
    original = dask_source._compute

    def spy(*collections):
        sizes.extend(c.nbytes for c in collections if c is not None)
        return original(*collections)

    monkeypatch.setattr(dask_source, "_compute", spy)
    monkeypatch.setattr(dask_source, "INIT_SAMPLE_ROWS", 100)
    _fit(X_DA, n_iter=3)
    assert sizes and max(sizes) <= 100 * 3 * 8


# ----------------------------------------------------------------------
# Lazy outputs, chunked like the input
# ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted() -> GMM:
    return _fit(X_NP, n_iter=20)


def test_lazy_scores_and_responsibilities(fitted):
    log_p = fitted.score_samples(X_DA)
    assert isinstance(log_p, da.Array) and log_p.chunks == (X_DA.chunks[0],)
    np.testing.assert_allclose(log_p.compute(), fitted.score_samples(X_NP), rtol=1e-12)
    density = fitted.to_probability_density(X_DA)
    assert isinstance(density, da.Array)
    np.testing.assert_allclose(density.compute(), fitted.to_probability_density(X_NP))
    resp = fitted.to_responsibilities(X_DA)
    assert resp.chunks == (X_DA.chunks[0], (3,))
    np.testing.assert_allclose(resp.compute(), fitted.to_responsibilities(X_NP), rtol=1e-12)
    # The summaries compute their sums from the lazy scores.
    np.testing.assert_allclose(fitted.bic(X_DA), fitted.bic(X_NP), rtol=1e-12)
    np.testing.assert_allclose(fitted.score(X_DA), fitted.score(X_NP), rtol=1e-12)


def test_lazy_predict_with_covariance_and_impute(fitted):
    inputs = X_DA[:, [2, 0]]
    mean = fitted.predict([2, 0], inputs)
    assert mean.chunks == (X_DA.chunks[0], (1,))
    np.testing.assert_allclose(mean.compute(), fitted.predict([2, 0], X_NP[:, [2, 0]]))
    mean, cov = fitted.predict([1], X_DA[:, [1]], return_covariance=True)
    assert cov.shape == (1800, 2, 2) and cov.chunks == (X_DA.chunks[0], (2,), (2,))
    mean_np, cov_np = fitted.predict([1], X_NP[:, [1]], return_covariance=True)
    mean, cov = dask.compute(mean, cov)
    np.testing.assert_allclose(mean, mean_np, rtol=1e-12)
    np.testing.assert_allclose(cov, cov_np, rtol=1e-12)
    holes = X_NP.copy()
    holes[::7, 1] = np.nan
    filled = fitted.impute(da.from_array(holes, chunks=(500, 3)))
    assert filled.chunks == X_DA.chunks
    np.testing.assert_allclose(filled.compute(), fitted.impute(holes), rtol=1e-12)


def test_lazy_outputs_freeze_the_model_and_accept_unknown_chunks(fitted):
    model = GMM(3, priors=fitted.priors, means=fitted.means.copy(), covariances=fitted.covariances)
    lazy = model.score_samples(X_DA)
    expected = model.score_samples(X_NP)
    model.means[0] += 10.0  # later edits do not reach the lazy result
    np.testing.assert_allclose(lazy.compute(), expected)
    subset = X_DA[X_DA[:, 0] > 0]  # NaN chunk sizes are fine for outputs
    np.testing.assert_allclose(
        fitted.score_samples(subset).compute(), fitted.score_samples(X_NP[X_NP[:, 0] > 0])
    )
    with pytest.raises(ValueError, match="model expects 3"):
        fitted.score_samples(X_DA[:, :2])
    with pytest.raises(ValueError, match="chunked along its columns"):
        fitted.to_responsibilities(X_DA.rechunk((500, 1)))


# ----------------------------------------------------------------------
# Files read by the workers
# ----------------------------------------------------------------------
def test_read_npy_chunks_are_read_by_the_tasks(tmp_path):
    path = tmp_path / "data.npy"
    np.save(path, X_NP)
    lazy = gdask.read_npy(str(path), chunk_rows=700)
    assert lazy.chunks == ((700, 700, 400), (3,))
    np.testing.assert_array_equal(lazy.compute(), X_NP)
    _assert_same_fit(_fit(X_NP, n_iter=5), _fit(lazy, n_iter=5))


# ----------------------------------------------------------------------
# Two worker processes, one of which dies mid-fit
# ----------------------------------------------------------------------
def test_fit_survives_a_worker_killed_once(tmp_path):
    counter = str(tmp_path / "calls")
    # Which call of the chunk loader kills its worker: one in the third iteration
    # (the first pass and two iterations read the 4 chunks first).
    fatal_call = 3 * 4 + 2

    def load_or_die(block):
        # Each call appends one byte; the call whose byte lands at position
        # fatal_call (whichever worker runs it) ends its process.
        fd = os.open(counter, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, b".")
            position = os.lseek(fd, 0, os.SEEK_CUR)  # where this call's byte ended
        finally:
            os.close(fd)
        if position == fatal_call:
            os._exit(1)
        return block

    X = da.from_array(X_NP, chunks=(450, 3)).map_blocks(load_or_die, dtype=np.float64)
    reference = _fit(X_NP, n_iter=6, tol=None)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as c,
        c.as_current(),
    ):
        gmm = _fit(X, n_iter=6, tol=None, persist=False)
    assert os.path.getsize(counter) > fatal_call  # the worker did die, and the fit went on
    _assert_same_fit(reference, gmm)


# ----------------------------------------------------------------------
# The command line on a running cluster
# ----------------------------------------------------------------------
def test_cli_fit_on_a_scheduler_equals_the_local_fit(client, tmp_path, capsys):
    from gaussmix.cli import main
    from gaussmix.io import load_model

    data = tmp_path / "data.npy"
    np.save(data, X_NP)
    csv = tmp_path / "data.csv"
    np.savetxt(csv, X_NP, delimiter=",")
    common = ["-k", "3", "--seed", "0", "--n-iter", "5", "--tol", "none", "--no-progress"]
    assert main(["fit", str(data), "-o", str(tmp_path / "here.json"), *common]) == 0
    here = load_model(tmp_path / "here.json")
    for source, name in ((data, "npy"), (csv, "csv")):
        out = tmp_path / f"{name}.json"
        argv = ["fit", str(source), "-o", str(out), "--scheduler", client.scheduler.address]
        assert main([*argv, *common]) == 0, capsys.readouterr().err
        there = load_model(out)
        np.testing.assert_allclose(there.means, here.means, rtol=RTOL)
        np.testing.assert_allclose(there.covariances, here.covariances, rtol=RTOL)
    assert "BIC" in capsys.readouterr().err
    with pytest.raises(ValueError, match="cannot connect to a Dask scheduler"):
        gdask.connect("tcp://127.0.0.1:1", timeout=0.5)


# ----------------------------------------------------------------------
# scikit-learn: GaussianMixtureRegressor
# ----------------------------------------------------------------------
def test_regressor_fits_and_predicts_dask_arrays_lazily():
    pytest.importorskip("sklearn")
    from gaussmix.sklearn import GaussianMixtureRegressor

    X, y = X_NP[:, :2], X_NP[:, 2]
    options = dict(n_components=3, random_state=0, n_iter=10, tol=None)
    reference = GaussianMixtureRegressor(**options).fit(X, y)
    lazy = GaussianMixtureRegressor(**options).fit(da.from_array(X, chunks=500), y)
    assert lazy.n_features_in_ == 2
    np.testing.assert_allclose(lazy.gmm_.means, reference.gmm_.means, rtol=RTOL)
    Xd = da.from_array(X, chunks=(450, 2))
    mean, std = lazy.predict(Xd, return_std=True)
    assert isinstance(mean, da.Array) and mean.chunks == (Xd.chunks[0],)
    mean_np, std_np = reference.predict(X, return_std=True)
    mean, std = dask.compute(mean, std)
    np.testing.assert_allclose(mean, mean_np, rtol=1e-8)
    np.testing.assert_allclose(std, std_np, rtol=1e-8)
    two = GaussianMixtureRegressor(**options).fit(Xd, da.from_array(X_NP[:, 1:], chunks=300))
    assert two.predict(Xd[:10]).shape == (10, 2)
    with pytest.raises(ValueError, match="different numbers of rows"):
        GaussianMixtureRegressor(**options).fit(Xd, y[:10])
