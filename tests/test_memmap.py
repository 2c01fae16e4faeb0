"""Memory-mapped data (np.load(path, mmap_mode="r")): fitted in place, streamed from the file.

The reference is the same fit of the array read into memory; the memory test
measures the anonymous memory (RssAnon) of a fresh process, which a copy of
the data would raise by the data's size.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from gaussmix import GMM
from gaussmix.cli import main
from gaussmix.cli.files import read_data
from gaussmix.io import load_model


@pytest.fixture(scope="module")
def npy_file(tmp_path_factory):
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(700, 4)) + 3 * j for j in range(3)])
    path = tmp_path_factory.mktemp("memmap") / "data.npy"
    np.save(path, X[rng.permutation(X.shape[0])])
    return path


@pytest.mark.parametrize("init_params", ["random", "kmeans++"])
def test_memory_mapped_fit_equals_fit_in_memory(npy_file, init_params):
    mapped = np.load(npy_file, mmap_mode="r")
    a = GMM(3, random_state=0).from_samples(np.load(npy_file), init_params=init_params, tol=1e-6)
    b = GMM(3, random_state=0).from_samples(mapped, init_params=init_params, tol=1e-6)
    assert a.n_iter_ == b.n_iter_
    np.testing.assert_array_equal(b.means, a.means)
    np.testing.assert_array_equal(b.covariances, a.covariances)
    np.testing.assert_allclose(b.score_samples(mapped), a.score_samples(np.load(npy_file)))


def test_cli_fit_memory_maps_a_float_npy(npy_file, tmp_path):
    mapped = read_data(str(npy_file), memory_map=True)
    assert isinstance(mapped, np.memmap) and not mapped.flags.writeable
    assert not isinstance(read_data(str(npy_file)), np.memmap)
    out = tmp_path / "model.json"
    argv = ["fit", str(npy_file), "-k", "3", "--seed", "0", "--no-progress", "-o", str(out)]
    assert main(argv) == 0
    reference = GMM(3, random_state=0).from_samples(
        np.load(npy_file), init_params="kmeans++", tol=1e-3
    )
    np.testing.assert_allclose(load_model(out).means, reference.means, rtol=1e-12)


def test_cli_finds_the_first_bad_row_block_by_block(npy_file, tmp_path, capsys):
    X = np.load(npy_file)
    X[1500, 2] = np.inf
    bad = tmp_path / "bad.npy"
    np.save(bad, X)
    assert main(["fit", str(bad), "-k", "2", "--no-progress"]) == 1
    # data rows count from 1, columns from 0 (as --columns and --given)
    assert "data row 1501, column 2 is inf" in capsys.readouterr().err


_MEASURE = """
import json, re, sys, threading, time
from pathlib import Path
import numpy as np
from gaussmix import GMM

def anon_mb():
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"RssAnon:\\s+(\\d+)", status).group(1)) / 1024

X = np.load(sys.argv[1], mmap_mode="r")
GMM(8, random_state=0).from_samples(X[:20000], n_iter=1, tol=None)  # allocates the buffers
base, peak, done = anon_mb(), [0.0], []

def watch():
    while not done:
        peak[0] = max(peak[0], anon_mb())
        time.sleep(0.002)

watcher = threading.Thread(target=watch)
watcher.start()
GMM(8, random_state=0).from_samples(X, n_iter=2, tol=None)
done.append(True)
watcher.join()
print(json.dumps({"added_mb": peak[0] - base, "data_mb": X.nbytes / 2**20}))
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_memory_mapped_fit_adds_little_anonymous_memory(tmp_path):
    # 32 MB of data: a copy would add 32 MB; the checks and the EM iterations
    # read the file block by block and add a few MB. (k-means++ adds one float64
    # per row and a sample of at most 100,000 rows for the covariance spread:
    # benchmarks/bench_init_memory.py.)
    path = tmp_path / "big.npy"
    mapped = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(250_000, 16))
    mapped[:] = np.random.default_rng(0).standard_normal(mapped.shape)
    mapped.flush()
    del mapped
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout)
    assert result["added_mb"] < 0.5 * result["data_mb"], result
    # The measurement can fail: a fit of a copy adds the data's size.
    copying = _MEASURE.replace("from_samples(X, n_iter=2", "from_samples(np.array(X), n_iter=2")
    out = subprocess.run(
        [sys.executable, "-c", copying, str(path)], capture_output=True, text=True, check=True
    )
    control = json.loads(out.stdout)
    assert control["added_mb"] > 0.9 * control["data_mb"], control
