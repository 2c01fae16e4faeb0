"""Hostile model files: refused with a ValueError naming the file, before data is read."""

from __future__ import annotations

import os
import sys
import threading
import time
import zipfile

import numpy as np
import pytest

import gaussmix.io as gio
from gaussmix import GMM
from gaussmix.cli import main
from gaussmix.io import load_model


def _model():
    return GMM(2, priors=[0.4, 0.6], means=[[0.0, 1.0], [2.0, 3.0]], covariances=[np.eye(2)] * 2)


def _good_npz(tmp_path):
    path = tmp_path / "good.npz"
    _model().save(path)
    return path


def _rewrite(good, target, change, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(target, "w", compression) as dst:
        for item in src.infolist():
            change(dst, item.filename, src.read(item.filename))
    return target


def test_a_member_that_inflates_past_the_cap_is_refused_before_inflating(tmp_path, monkeypatch):
    # A small cap stands in for the 512 MiB default; the bomb is a zero-filled
    # array of 64 MB that compresses to ~60 kB.
    monkeypatch.setattr(gio, "MAX_MODEL_BYTES", 16 * 2**20)
    bomb = np.zeros((1, 8_000_000))

    def change(dst, name, payload):
        if name == "means.npy":
            with dst.open(name, "w") as handle:
                np.lib.format.write_array(handle, bomb)
        else:
            dst.writestr(name, payload)

    path = _rewrite(_good_npz(tmp_path), tmp_path / "bomb.npz", change)
    assert path.stat().st_size < 1_000_000
    with pytest.raises(ValueError, match=r"bomb\.npz.*cap"):
        load_model(path)


def test_a_json_file_past_the_cap_is_refused_by_its_size(tmp_path, monkeypatch):
    monkeypatch.setattr(gio, "MAX_MODEL_BYTES", 1000)
    path = tmp_path / "big.json"
    path.write_text(" " * 2000 + "{}")
    with pytest.raises(ValueError, match=r"big\.json is 2002 bytes, more than the 1000-byte cap"):
        load_model(path)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
@pytest.mark.parametrize("ext", [".json", ".npz"])
def test_a_symlink_to_dev_zero_is_refused_without_reading(tmp_path, ext):
    path = tmp_path / f"model{ext}"
    path.symlink_to("/dev/zero")
    with pytest.raises(ValueError, match="not a regular file"):
        load_model(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    path = tmp_path / "model.json"
    os.mkfifo(path)
    outcome = []

    def load():
        try:
            load_model(path)
        except ValueError as exc:
            outcome.append(str(exc))

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(10)
    if worker.is_alive():  # unblock the reader so the test process can exit
        with open(path, "w"):
            pass
        pytest.fail("load_model blocked on a FIFO")
    assert outcome and "not a regular file" in outcome[0]


def _entries(raw: bytes, name: bytes):
    """Offsets of the local and the central header of member ``name``."""
    local = central = None
    at = raw.find(b"PK\x03\x04")
    while at >= 0 and local is None:
        length = int.from_bytes(raw[at + 26 : at + 28], "little")
        if raw[at + 30 : at + 30 + length] == name:
            local = at
        at = raw.find(b"PK\x03\x04", at + 4)
    at = raw.find(b"PK\x01\x02")
    while at >= 0 and central is None:
        length = int.from_bytes(raw[at + 28 : at + 30], "little")
        if raw[at + 46 : at + 46 + length] == name:
            central = at
        at = raw.find(b"PK\x01\x02", at + 4)
    return local, central


@pytest.mark.parametrize("damage", ["deflate", "lzma", "method", "encrypted", "crc"])
def test_corrupt_archives_are_value_errors_naming_the_file(tmp_path, damage):
    """zlib.error, LZMAError, NotImplementedError, RuntimeError, BadZipFile: all ValueError."""
    compression = zipfile.ZIP_LZMA if damage == "lzma" else zipfile.ZIP_DEFLATED
    path = _rewrite(
        _good_npz(tmp_path), tmp_path / "bad.npz", lambda d, n, p: d.writestr(n, p), compression
    )
    raw = bytearray(path.read_bytes())
    local, central = _entries(bytes(raw), b"means.npy")
    if damage in ("deflate", "lzma"):
        name_len = int.from_bytes(raw[local + 26 : local + 28], "little")
        extra_len = int.from_bytes(raw[local + 28 : local + 30], "little")
        data = local + 30 + name_len + extra_len
        raw[data + 1 : data + 30] = b"\xff" * 29
    elif damage == "method":
        raw[local + 8] = raw[central + 10] = 99  # no such compression method
    elif damage == "encrypted":
        raw[local + 6] |= 1
        raw[central + 8] |= 1
    else:
        raw[local + 14 : local + 18] = raw[central + 16 : central + 20] = b"\x01\x02\x03\x04"
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"bad\.npz"):
        load_model(path)


def test_an_archive_of_many_tiny_members_is_refused_at_once(tmp_path):
    path = tmp_path / "many.npz"
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(12_000):
            archive.writestr(f"m{i}.npy", b"")
    start = time.perf_counter()
    with pytest.raises(ValueError, match="12000 members"):
        load_model(path)
    assert time.perf_counter() - start < 2.0


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX special files")
def test_cli_reports_hostile_model_files_in_one_line(tmp_path, capsys):
    path = tmp_path / "model.json"
    path.symlink_to("/dev/zero")
    data = tmp_path / "x.csv"
    data.write_text("0,1\n")
    status = main(["score", str(path), str(data)])
    err = capsys.readouterr().err
    assert status == 1
    assert "not a regular file" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_round_trip_still_works_for_both_formats(tmp_path):
    for ext in ("json", "npz"):
        path = tmp_path / f"m.{ext}"
        _model().save(path)
        again = load_model(path)
        np.testing.assert_array_equal(again.covariances, _model().covariances)


def test_symmetrize_does_not_overflow_near_the_largest_float():
    """Regression (issue 13): (A + A^T) / 2 overflowed to inf above ~9e307."""
    from gaussmix._linalg import symmetrize

    big = np.array([[1.7e308, 1.6e308], [1.6e308, 1.7e308]])
    assert np.isfinite(symmetrize(big)).all()
    rng = np.random.default_rng(0)
    A = rng.normal(size=(5, 4, 4))
    np.testing.assert_array_equal(symmetrize(A), 0.5 * (A + np.swapaxes(A, -1, -2)))
