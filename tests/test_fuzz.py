"""Fuzzing the public surface: model files, arguments and the command line.

Every hostile input must end in a result or a ValueError/TypeError (files:
ValueError; CLI: exit status 1 or 2 with a one-line message), never in another
exception, a traceback, NaN returned silently, or a read past the size cap.
Bounded for CI (a few hundred examples in all).
"""

from __future__ import annotations

import io
import json
import warnings
import zipfile
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gaussmix import GMM, MVN
from gaussmix.cli.parser import main

FAST = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _model() -> GMM:
    return GMM(
        2,
        priors=[0.4, 0.6],
        means=[[0.0, 1.0], [2.0, -1.0]],
        covariances=[np.eye(2), [[2.0, 0.3], [0.3, 1.0]]],
        random_state=0,
    )


def _check_loaded(model) -> None:
    """A model that loads is a valid model: finite, normalized, usable."""
    if isinstance(model, GMM):
        assert np.isfinite(model.priors).all() and abs(model.priors.sum() - 1) < 1e-5
        assert np.isfinite(model.score_samples(np.zeros((1, model.means.shape[1])))).all()
    else:
        assert isinstance(model, MVN)
        assert np.isfinite(model.mean).all()


# --------------------------------------------------------------------------
# Model files
# --------------------------------------------------------------------------
@FAST
@given(data=st.data())
def test_mutated_json_files_load_or_raise_value_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("json") / "model.json"
    _model().save(path)
    raw = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 6))):
        kind = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        at = data.draw(st.integers(0, len(raw) - 1))
        if kind == "flip":
            raw[at] = data.draw(st.integers(0, 255))
        elif kind == "cut":
            del raw[at : at + data.draw(st.integers(1, 40))]
        else:
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=20))
        if not raw:
            raw = bytearray(b"{")
    path.write_bytes(bytes(raw))
    try:
        model = GMM.load(path)
    except ValueError:
        return
    _check_loaded(model)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=20,
)


@FAST
@given(
    field=st.sampled_from(
        [
            "priors",
            "means",
            "covariances",
            "n_components",
            "model",
            "format_version",
            "covariance_type_",
            "estimator",
            "lower_bound_",
            "n_iter_",
            "converged_",
            "unknown",
        ]
    ),
    value=json_values,
)
def test_json_fields_of_any_type_load_or_raise_value_error(tmp_path_factory, field, value):
    path = tmp_path_factory.mktemp("fields") / "model.json"
    data = _model().to_dict()
    data[field] = value
    path.write_text(json.dumps(data))
    try:
        model = GMM.load(path)
    except ValueError:
        return
    _check_loaded(model)


@FAST
@given(data=st.data())
def test_mutated_npz_files_load_or_raise_value_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("npz") / "model.npz"
    _model().save(path)
    raw = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw) - 1))
        if data.draw(st.booleans()):
            raw[at] = data.draw(st.integers(0, 255))
        else:
            del raw[at : at + data.draw(st.integers(1, 64))]
        if not raw:
            raw = bytearray(b"PK")
    path.write_bytes(bytes(raw))
    try:
        model = GMM.load(path)
    except ValueError:
        return
    _check_loaded(model)


@FAST
@given(
    members=st.lists(
        st.tuples(
            st.sampled_from(["priors", "means", "covariances", "model", "x", "format"]),
            st.binary(max_size=64),
        ),
        max_size=5,
    )
)
def test_archives_of_arbitrary_members_raise_value_error(tmp_path_factory, members):
    path = tmp_path_factory.mktemp("zip") / "model.npz"
    with zipfile.ZipFile(path, "w") as archive:
        for name, payload in members:
            archive.writestr(name + ".npy", payload)
    with pytest.raises(ValueError):
        GMM.load(path)


# --------------------------------------------------------------------------
# Arguments of every public method
# --------------------------------------------------------------------------
hostile = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.sampled_from([0.0, -1.0, 0.5, 1.5, np.nan, np.inf, -np.inf, 1e308, 5e-324]),
    st.text(max_size=4),
    st.sampled_from(
        [
            [],
            [[]],
            [[0.0, 1.0], [2.0]],
            np.zeros(0),
            np.zeros((0, 2)),
            np.zeros((3, 2)),
            np.full((2, 2), np.nan),
            np.full((2, 2), 1e308),
            np.zeros((2, 3)),
            np.zeros((1, 2, 3)),
            np.array([["a", "b"]]),
            np.array([[1 + 2j, 0]]),
            np.array([2**64 - 1], dtype=np.uint64),
            np.array([[0.0, 1.0]], dtype=object),
        ]
    ),
)

GMM_CALLS = [
    ("score_samples", 1),
    ("to_responsibilities", 1),
    ("to_probability_density", 1),
    ("score", 1),
    ("bic", 1),
    ("aic", 1),
    ("sample", 1),
    ("sample_confidence_region", 2),
    ("is_in_confidence_region", 2),
    ("marginalize", 1),
    ("condition", 2),
    ("predict", 2),
    ("condition_batch", 2),
    ("impute", 1),
    ("to_ellipses", 1),
    ("extract_mvn", 1),
    ("apply_oracle_approximating_shrinkage", 1),
]


@settings(max_examples=150, deadline=None)
@given(call=st.sampled_from(GMM_CALLS), args=st.lists(hostile, min_size=2, max_size=2))
def test_gmm_methods_raise_value_or_type_errors_only(call, args):
    _call_hostile(_model(), call, args)


def _call_hostile(model, call, args) -> None:
    """A ValueError/TypeError or a result without NaN (densities may be 0, never NaN)."""
    name, n_args = call
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = getattr(model, name)(*args[:n_args])
        except (ValueError, TypeError):
            return
    for array in result if isinstance(result, tuple) else (result,):
        if isinstance(array, np.ndarray) and array.dtype.kind == "f" and array.size:
            assert not np.isnan(array).any(), (name, args)


@settings(max_examples=80, deadline=None)
@given(
    kwargs=st.fixed_dictionaries(
        {},
        optional={
            "n_iter": hostile,
            "n_init": hostile,
            "tol": hostile,
            "R_diff": hostile,
            "reg_covar": hostile,
            "init_params": hostile,
            "covariance_type": hostile,
            "sample_weight": hostile,
            "chunk_size": hostile,
            "n_jobs": hostile,
            "callback": hostile,
            "dtype": hostile,
        },
    ),
    X=hostile,
)
def test_from_samples_raises_value_or_type_errors_only(kwargs, X):
    data = np.random.default_rng(0).normal(size=(30, 2)) if X is None else X
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            gmm = GMM(2, random_state=0).from_samples(data, **kwargs)
        except (ValueError, TypeError):
            return
    assert np.isfinite(gmm.means).all() and np.isfinite(gmm.covariances).all()


@settings(max_examples=60, deadline=None)
@given(mean=hostile, covariance=hostile, x=hostile)
def test_mvn_raises_value_or_type_errors_only(mean, covariance, x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            mvn = MVN(mean=mean, covariance=covariance, random_state=0)
            mvn.to_probability_density(x)
            mvn.sample(3)
        except (ValueError, TypeError):
            return


# --------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------
COMMANDS = ["fit", "predict", "sample", "score", "info", "plot", "demo", "select", "impute"]
OPTIONS = [
    "-k",
    "-n",
    "-o",
    "--seed",
    "--dims",
    "--given",
    "--tol",
    "--n-iter",
    "--dpi",
    "--covariance-type",
    "--allow-missing",
    "--criterion",
    "--plot",
    "--scheduler",
    "--format",
]


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    np.savetxt(folder / "data.csv", rng.normal(size=(40, 3)), delimiter=",")
    np.save(folder / "data.npy", rng.normal(size=(40, 3)))
    (folder / "empty.csv").write_text("")
    (folder / "ragged.csv").write_text("1,2,3\n4,5\n")
    (folder / "text.csv").write_text("a,b\nx,y\n")
    _model().save(folder / "model.json")
    (folder / "bad.json").write_text('{"format": "gaussmix"')
    return folder


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_cli_never_prints_a_traceback(cli_files, data):
    files = [
        str(cli_files / name)
        for name in (
            "data.csv",
            "data.npy",
            "empty.csv",
            "ragged.csv",
            "text.csv",
            "model.json",
            "bad.json",
            "missing.csv",
        )
    ]
    values = st.sampled_from(
        [
            *files,
            "-1",
            "0",
            "3",
            "2**70",
            str(10**30),
            "nan",
            "inf",
            "x",
            "",
            "1e308",
            "0,1",
            "full",
            "all",
            "bic",
        ]
    )
    argv = [data.draw(st.sampled_from(COMMANDS))]
    for _ in range(data.draw(st.integers(0, 5))):
        argv.append(data.draw(st.one_of(values, st.sampled_from(OPTIONS))))
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main([*argv, "-o", str(cli_files / "out.json")] if "demo" in argv else argv)
    assert status in (0, 1, 2), (argv, status, err.getvalue())
    assert "Traceback" not in err.getvalue(), (argv, err.getvalue())
    if status:
        assert err.getvalue().strip(), argv


MVN_CALLS = [
    ("condition", 2),
    ("estimate_from_sigma_points", 1),
    ("from_samples", 1),
    ("is_in_confidence_region", 2),
    ("marginalize", 1),
    ("predict", 2),
    ("sample", 1),
    ("sample_confidence_region", 2),
    ("sigma_points", 1),
    ("squared_mahalanobis_distance", 1),
    ("to_ellipse", 1),
    ("to_log_probability_density", 1),
    ("to_norm_factor_and_exponents", 1),
    ("to_probability_density", 1),
]


@settings(max_examples=100, deadline=None)
@given(call=st.sampled_from(MVN_CALLS), args=st.lists(hostile, min_size=2, max_size=2))
def test_mvn_methods_raise_value_or_type_errors_only(call, args):
    mvn = MVN(mean=[0.0, 1.0], covariance=[[2.0, 0.3], [0.3, 1.0]], random_state=0)
    _call_hostile(mvn, call, args)


CONDITIONAL_CALLS = [
    ("sample", 1),
    ("score_samples", 1),
    ("to_probability_density", 1),
    ("modes", 1),
    ("mean", 0),
    ("covariance", 0),
]


@settings(max_examples=60, deadline=None)
@given(call=st.sampled_from(CONDITIONAL_CALLS), arg=hostile)
def test_conditional_methods_raise_value_or_type_errors_only(call, arg):
    name, n_args = call
    cond = _model().condition_batch([0], [[0.0], [1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = getattr(cond, name)(*([arg] if n_args else []))
        except (ValueError, TypeError):
            return
    if isinstance(result, np.ndarray) and result.dtype.kind == "f" and result.size:
        assert not np.isnan(result).any(), (name, arg)


@settings(max_examples=60, deadline=None)
@given(X=hostile, k=hostile, seed=st.sampled_from([None, 0, -1, 2**70, "x", 1.5]))
def test_initialization_functions_raise_value_or_type_errors_only(X, k, seed):
    from gaussmix import covariance_initialization, kmeansplusplus_initialization

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for call in (
            lambda: kmeansplusplus_initialization(X, k, seed),
            lambda: covariance_initialization(X, k),
        ):
            try:
                result = call()
            except (ValueError, TypeError):
                continue
            assert not np.isnan(np.asarray(result, dtype=float)).any()
