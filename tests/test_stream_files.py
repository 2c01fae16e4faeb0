"""Paths that must never be opened by the streaming reader or the CLI's --noise: a FIFO
(opening it blocks) and a link to /dev/zero (it never ends)."""

import os

import numpy as np
import pytest

import gaussmix
from gaussmix.cli.files import DataError, read_noise

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")


@pytest.fixture()
def hostile(tmp_path):
    fifo = tmp_path / "fifo.npy"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.npy"
    zero.symlink_to("/dev/zero")
    return fifo, zero


def test_fit_stream_refuses_files_that_are_not_regular(hostile):
    for path in hostile:
        with pytest.raises(ValueError, match="not a regular file"):
            gaussmix.fit_stream(str(path), 2)
    with pytest.raises(ValueError, match="no such file"):
        gaussmix.fit_stream(str(hostile[0]) + ".missing.npy", 2)


def test_cli_noise_refuses_files_that_are_not_regular(hostile, tmp_path):
    for path in hostile:
        with pytest.raises(DataError, match="not a regular file"):
            read_noise(str(path))
    good = tmp_path / "noise.npy"
    np.save(good, np.ones((3, 2)))
    np.testing.assert_array_equal(read_noise(str(good)), np.ones((3, 2)))
