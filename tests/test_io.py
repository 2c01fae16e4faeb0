"""Persistence: round trips, stored fixtures, and refusal of malformed or unsafe files."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from gaussmix import GMM, MVN
from gaussmix.io import FORMAT_VERSION, load_model, model_from_dict, model_to_dict, save_model

DATA = Path(__file__).parent / "data"


def fitted_gmm(covariance_type: str = "full") -> GMM:
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(-2, 0.5, (60, 3)), rng.normal(2, 1.0, (60, 3))])
    return GMM(2, random_state=0).from_samples(
        X, n_iter=5, tol=None, covariance_type=covariance_type
    )


def valid_gmm_dict() -> dict:
    return {
        "format": "gaussmix",
        "format_version": 1,
        "model": "GMM",
        "priors": [0.5, 0.5],
        "means": [[0.0, 0.0], [1.0, 1.0]],
        "covariances": [[[1.0, 0.0], [0.0, 1.0]], [[2.0, 0.5], [0.5, 1.0]]],
    }


# ----------------------------------------------------------------------
# Round trips
# ----------------------------------------------------------------------
@pytest.mark.parametrize("ext", ["json", "npz"])
@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical", "tied"])
def test_gmm_round_trip_is_exact(tmp_path, ext, covariance_type):
    gmm = fitted_gmm(covariance_type)
    path = tmp_path / f"model.{ext}"
    gmm.save(path)
    loaded = GMM.load(path)
    assert isinstance(loaded, GMM)
    np.testing.assert_array_equal(loaded.priors, gmm.priors)
    np.testing.assert_array_equal(loaded.means, gmm.means)
    np.testing.assert_array_equal(loaded.covariances, gmm.covariances)
    assert loaded.covariance_type_ == covariance_type
    assert loaded.n_iter_ == gmm.n_iter_ == 5
    assert loaded.converged_ == gmm.converged_
    assert loaded.lower_bound_ == gmm.lower_bound_
    X = np.linspace(-3, 3, 12).reshape(4, 3)
    np.testing.assert_array_equal(loaded.score_samples(X), gmm.score_samples(X))
    assert loaded.bic(X) == gmm.bic(X)


@pytest.mark.parametrize("ext", ["json", "npz"])
def test_mvn_round_trip_is_exact(tmp_path, ext):
    mvn = MVN(mean=[0.1, 1 / 3], covariance=[[1.0, 0.2], [0.2, np.pi]])
    mvn.save(str(tmp_path / f"m.{ext.upper()}"))  # str paths and upper-case extensions
    loaded = MVN.load(str(tmp_path / f"m.{ext.upper()}"))
    np.testing.assert_array_equal(loaded.mean, mvn.mean)
    np.testing.assert_array_equal(loaded.covariance, mvn.covariance)


def test_to_dict_is_plain_json_and_from_dict_round_trips():
    gmm = fitted_gmm()
    data = gmm.to_dict()
    text = json.dumps(data, allow_nan=False)
    assert data["format"] == "gaussmix" and data["format_version"] == FORMAT_VERSION
    assert data["model"] == "GMM" and data["n_components"] == 2 and data["n_features"] == 3
    back = GMM.from_dict(json.loads(text))
    np.testing.assert_array_equal(back.covariances, gmm.covariances)
    mvn_data = MVN(mean=[1.0], covariance=[[2.0]]).to_dict()
    assert set(mvn_data) >= {"format", "format_version", "model", "mean", "covariance"}
    assert MVN.from_dict(mvn_data).covariance.tolist() == [[2.0]]
    assert model_to_dict(gmm) == data


def test_load_model_without_expected_returns_either(tmp_path):
    save_model(MVN(mean=[0.0], covariance=[[1.0]]), tmp_path / "m.json")
    assert isinstance(load_model(tmp_path / "m.json"), MVN)
    assert isinstance(model_from_dict(valid_gmm_dict()), GMM)


def test_json_file_is_readable_one_field_per_line(tmp_path):
    fitted_gmm().save(tmp_path / "m.json")
    lines = (tmp_path / "m.json").read_text().splitlines()
    assert lines[0] == "{" and lines[-1] == "}"
    assert lines[1] == '  "format": "gaussmix",'
    assert any(line.startswith('  "covariances": [[[') for line in lines)


# ----------------------------------------------------------------------
# Forward compatibility: files written by this version load in later ones
# ----------------------------------------------------------------------
@pytest.mark.parametrize("ext", ["json", "npz"])
def test_stored_v1_gmm_fixture_loads(ext):
    gmm = GMM.load(DATA / f"gmm_v1.{ext}")
    np.testing.assert_array_equal(gmm.priors, [0.25, 0.75])
    np.testing.assert_array_equal(gmm.means, [[0.0, 1.0], [2.0, -1.0]])
    np.testing.assert_array_equal(
        gmm.covariances, [[[1.0, 0.3], [0.3, 0.5]], [[0.2, 0.0], [0.0, 0.1]]]
    )
    assert (gmm.covariance_type_, gmm.converged_, gmm.n_iter_, gmm.lower_bound_) == (
        "full",
        True,
        12,
        -2.5,
    )
    assert gmm.predict([0], [[0.0]]).shape == (1, 1)


@pytest.mark.parametrize("ext", ["json", "npz"])
def test_stored_v1_mvn_fixture_loads(ext):
    mvn = MVN.load(DATA / f"mvn_v1.{ext}")
    np.testing.assert_array_equal(mvn.mean, [1.0, -2.0, 0.5])
    np.testing.assert_array_equal(
        mvn.covariance, [[2.0, 0.5, 0.0], [0.5, 1.0, 0.1], [0.0, 0.1, 0.3]]
    )


# ----------------------------------------------------------------------
# Validation of dicts
# ----------------------------------------------------------------------
def _modified(**changes) -> dict:
    data = valid_gmm_dict()
    for key, value in changes.items():
        if value is KeyError:
            del data[key]
        else:
            data[key] = value
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], "must be a dict"),
        (_modified(format=KeyError), "missing the field 'format'"),
        (_modified(format="gmr"), "format='gmr'"),
        (_modified(format_version=KeyError), "format_version"),
        (_modified(format_version=2), "newer gaussmix"),
        (_modified(format_version="1"), "'format_version' must be an integer"),
        (_modified(model="KMeans"), "model='KMeans'"),
        (_modified(model=KeyError), "model=None"),
        (_modified(weights=[1.0]), "unknown field(s) 'weights'"),
        (_modified(mean=[1.0]), "unknown field(s) 'mean'"),
        (_modified(covariances=KeyError), "missing the field(s) 'covariances'"),
        (_modified(priors=[0.5, 0.6]), "'priors' must sum to 1"),
        (_modified(priors=[1.5, -0.5]), "'priors' must be non-negative"),
        (_modified(priors=[1.0]), "'priors' must have shape (2,)"),
        (_modified(priors=[[0.5, 0.5]]), "'priors' must be a 1-D array"),
        (_modified(means=[[0.0, 0.0], [1.0]]), "'means' must be a regular 2-D array"),
        (_modified(means=[[0.0, "1"], [1.0, 1.0]]), "'means' must contain only numbers"),
        (_modified(means=[[0.0, True], [1.0, 1.0]]), "'means' must contain only numbers"),
        (_modified(means=[[0.0, None], [1.0, 1.0]]), "'means' must contain only numbers"),
        (_modified(means=[[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]), "'covariances' must have shape"),
        (_modified(means=[[], []]), "at least one component and one feature"),
        (_modified(means=[[0.0, 1e400], [1.0, 1.0]]), "'means' contains NaN or infinite"),
        (
            _modified(covariances=[[[1.0, 0.5], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]]),
            "'covariances[0]' is not symmetric",
        ),
        (
            _modified(covariances=[[[1.0, 0.0], [0.0, 1.0]], [[1.0, 2.0], [2.0, 1.0]]]),
            "'covariances[1]' is not positive semi-definite",
        ),
        (_modified(n_components=3), "'n_components' is 3 but the parameters have 2"),
        (_modified(n_features=True), "'n_features' must be an integer"),
        (_modified(covariance_type_="banded"), "'covariance_type_' is 'banded'"),
        (_modified(converged_="yes"), "'converged_' must be true or false"),
        (_modified(n_iter_=-1), "'n_iter_' must be >= 0"),
        (_modified(gaussmix_version=1), "'gaussmix_version' must be a string"),
    ],
)
def test_invalid_dict_raises_value_error_naming_the_problem(data, message):
    with pytest.raises(ValueError) as info:
        model_from_dict(data)
    assert message in str(info.value)


def test_collapsed_component_round_trips_like_the_model_that_scores_it():
    """Regression: one validator for objects and files. A GMM with an all-zero
    covariance (EM with reg_covar=0 can collapse a component onto a point) scored
    data, but to_dict() refused it ("covariances[1] is all zeros")."""
    gmm = GMM(2, priors=[0.5, 0.5], means=[[0.0], [1.0]], covariances=[[[1.0]], [[0.0]]])
    X = np.array([[0.0], [0.5], [1.0], [3.0]])
    again = model_from_dict(gmm.to_dict())
    np.testing.assert_array_equal(again.covariances, gmm.covariances)
    np.testing.assert_array_equal(again.score_samples(X), gmm.score_samples(X))


def test_invalid_mvn_dict():
    data = {"format": "gaussmix", "format_version": 1, "model": "MVN", "mean": [0.0, 1.0]}
    with pytest.raises(ValueError, match="missing the field\\(s\\) 'covariance'"):
        model_from_dict(data)
    data["covariance"] = [[1.0]]
    with pytest.raises(ValueError, match=r"must have shape \(2, 2\)"):
        model_from_dict(data)
    data["covariance"] = [[1.0, 0.0], [0.0, -1.0]]
    with pytest.raises(ValueError, match="'covariance' is not positive semi-definite"):
        model_from_dict(data)


def test_expected_class_mismatch():
    with pytest.raises(ValueError, match="holds a GMM model, but an MVN was expected"):
        MVN.from_dict(valid_gmm_dict())
    with pytest.raises(ValueError, match="holds an MVN model, but a GMM was expected"):
        GMM.load(DATA / "mvn_v1.json")


def test_saving_uninitialized_or_invalid_model_fails_cleanly(tmp_path):
    with pytest.raises(ValueError, match="not initialized"):
        GMM(2).save(tmp_path / "m.json")
    bad = GMM(2, priors=[0.5, 0.6], means=[[0.0], [1.0]], covariances=[[[1.0]], [[1.0]]])
    with pytest.raises(ValueError, match="sum to 1"):
        bad.save(tmp_path / "m.npz")
    with pytest.raises(TypeError, match="GMM or an MVN"):
        save_model(object(), tmp_path / "m.json")
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------
def test_extension_and_missing_file(tmp_path):
    gmm = fitted_gmm()
    with pytest.raises(ValueError, match=r"\.json or \.npz"):
        gmm.save(tmp_path / "model.pkl")
    with pytest.raises(ValueError, match=r"\.json or \.npz"):
        GMM.load(tmp_path / "model")
    with pytest.raises(FileNotFoundError, match="model file not found"):
        GMM.load(tmp_path / "absent.json")
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(ValueError, match="is a directory"):
        GMM.load(tmp_path / "dir.json")


def test_save_overwrites_atomically_without_leftovers(tmp_path):
    path = tmp_path / "m.json"
    fitted_gmm().save(path)
    MVN(mean=[0.0], covariance=[[1.0]]).save(path)
    assert isinstance(load_model(path), MVN)
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2, 3]", "must be a dict"),
        (json.dumps(valid_gmm_dict()).replace("0.5, 0.5]", "NaN, 0.5]", 1), "NaN is not allowed"),
        ('{"format": "gaussmix", "format": "gaussmix"}', "appears more than once"),
    ],
)
def test_malformed_json_files(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_model(path)


def test_invalid_utf8_json(tmp_path):
    path = tmp_path / "bad.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ValueError, match="not UTF-8"):
        load_model(path)


class _Exploit:
    """Unpickling this would create a file: loading must never do it."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_npz_with_object_array_is_refused_without_unpickling(tmp_path):
    marker = tmp_path / "pwned"
    arrays = {key: np.asarray(value) for key, value in valid_gmm_dict().items() if key != "means"}
    arrays["means"] = np.array([_Exploit(str(marker))], dtype=object)
    path = tmp_path / "evil.npz"
    np.savez(path, **arrays, allow_pickle=True)
    with pytest.raises(ValueError, match="'means' holds Python objects"):
        load_model(path)
    assert not marker.exists()


def test_pickle_file_with_npz_extension_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.npz"
    path.write_bytes(pickle.dumps(_Exploit(str(marker))))
    with pytest.raises(ValueError, match=r"not a valid \.npz archive"):
        load_model(path)
    assert not marker.exists()


def test_npy_and_corrupt_npz_are_refused(tmp_path):
    path = tmp_path / "array.npz"
    with open(path, "wb") as handle:
        np.save(handle, np.zeros(3))
    with pytest.raises(ValueError, match=r"not a \.npz archive"):
        load_model(path)
    good = tmp_path / "good.npz"
    fitted_gmm().save(good)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"truncated\.npz"):
        load_model(truncated)


def test_npz_field_checks(tmp_path):
    arrays = {key: np.asarray(value) for key, value in valid_gmm_dict().items()}
    path = tmp_path / "m.npz"
    np.savez(path, **arrays)
    assert isinstance(load_model(path), GMM)
    np.savez(path, **{**arrays, "format_version": np.array([1, 1])})
    with pytest.raises(ValueError, match="'format_version' must be an integer"):
        load_model(path)
    np.savez(path, **{**arrays, "model": np.array(["GMM", "MVN"])})
    with pytest.raises(ValueError, match="'model' must be a single string"):
        load_model(path)
    np.savez(path, **{**arrays, "priors": np.array([True, False])})
    with pytest.raises(ValueError, match="'priors' must contain real numbers"):
        load_model(path)
    np.savez(path, **{**arrays, "means": np.ones((2, 2), dtype=complex)})
    with pytest.raises(ValueError, match="unsupported dtype complex128"):
        load_model(path)


def _good_gmm_dict():
    return GMM(1, priors=[1.0], means=[[0.0, 1.0]], covariances=[np.eye(2)]).to_dict()


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(model=["GMM"]),
        lambda d: d.update(model={"a": 1}),
        lambda d: d.update(format=["gaussmix"]),
        lambda d: d.update(priors="[1.0]"),
    ],
)
def test_field_of_the_wrong_json_type_is_a_value_error(tmp_path, mutate):
    data = _good_gmm_dict()
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"bad\.json"):
        GMM.load(path)


def test_deeply_nested_json_is_a_value_error(tmp_path):
    path = tmp_path / "deep.json"
    text = json.dumps(_good_gmm_dict()).replace(
        '"priors": [1.0]', '"priors": ' + "[" * 100_000 + "]" * 100_000
    )
    path.write_text(text)
    with pytest.raises(ValueError, match=r"deep\.json"):
        GMM.load(path)


def test_npz_member_that_is_not_npy_or_declares_huge_shape(tmp_path):
    import zipfile

    good = tmp_path / "good.npz"
    GMM(1, priors=[1.0], means=[[0.0, 1.0]], covariances=[np.eye(2)]).save(good)
    raw = tmp_path / "raw.npz"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(raw, "w") as dst:
        for item in src.infolist():
            payload = src.read(item.filename)
            dst.writestr(
                item.filename.replace(".npy", "") if "format" in item.filename else item.filename,
                b"gaussmix" if "format" in item.filename else payload,
            )
    with pytest.raises(ValueError, match=r"not a readable \.npy array"):
        GMM.load(raw)
    huge = tmp_path / "huge.npz"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(huge, "w") as dst:
        for item in src.infolist():
            payload = src.read(item.filename)
            if item.filename == "means.npy":
                payload = payload.replace(b"(1, 2)", b"(1000000, 1000000)")
            dst.writestr(item.filename, payload)
    with pytest.raises(ValueError, match="declares shape"):
        GMM.load(huge)
