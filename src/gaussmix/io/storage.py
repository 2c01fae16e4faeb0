"""Model files on disk: safe reading (regular files, size caps, archive errors) and writing.

See :mod:`gaussmix.io` for what is refused and why.
"""

from __future__ import annotations

import json
import lzma
import os
import secrets
import stat
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from .schema import (
    EXTENSIONS,
    FIELDS,
    MALFORMED,
    model_to_dict,
    validate_fields,
)

__all__ = [
    "MAX_MODEL_BYTES",
    "read_fields",
    "read_npy_header",
    "save_model",
    "to_json_text",
    "write_model_dict",
]


# ----------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------
def _extension(path: Any) -> str:
    try:
        suffix = Path(os.fspath(path)).suffix.lower()
    except TypeError as exc:
        raise TypeError(f"path must be a str or os.PathLike; got {type(path).__name__}") from exc
    if suffix not in EXTENSIONS:
        raise ValueError(
            f"path must end with .json or .npz (the format is chosen by extension); "
            f"got {os.fspath(path)!r}"
        )
    return suffix


def to_json_text(data: dict) -> str:
    # One field per line, arrays on one line each: readable and diff-friendly.
    lines = [
        f"  {json.dumps(key)}: {json.dumps(value, allow_nan=False)}" for key, value in data.items()
    ]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def _to_npz_arrays(data: dict) -> dict[str, np.ndarray]:
    arrays = {}
    for key, value in data.items():
        if isinstance(value, str):
            arrays[key] = np.array(value, dtype=np.str_)
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            arrays[key] = np.array(value, dtype=np.str_)
        elif isinstance(value, bool):
            arrays[key] = np.array(value, dtype=np.bool_)
        elif isinstance(value, int):
            arrays[key] = np.array(value, dtype=np.int64)
        else:
            arrays[key] = np.asarray(value, dtype=np.float64)
    return arrays


def save_model(model: Any, path: str | os.PathLike) -> None:
    """Save a GMM or MVN to ``path``, format chosen by its extension.

    ``.json`` writes a human-readable JSON object, ``.npz`` a NumPy archive
    of plain arrays (floats are stored exactly in both). The file is written
    to a temporary name and moved into place, so a crash never leaves a
    half-written model.

    Parameters
    ----------
    model : GMM or MVN
        An initialized model.
    path : str or os.PathLike
        Destination ending in ``.json`` or ``.npz``.

    Raises
    ------
    ValueError
        If the extension is not .json/.npz or the model is not initialized.
    OSError
        If the file cannot be written.
    """
    write_model_dict(model_to_dict(model), path)


def write_model_dict(data: dict, path: str | os.PathLike) -> None:
    """Write a schema dict (as :func:`model_to_dict` returns) to ``path``, atomically.

    Parameters
    ----------
    data : dict
        Validated against the schema before anything is written.
    path : str or os.PathLike
        Destination ending in ``.json`` or ``.npz``.

    Raises
    ------
    ValueError
        If the extension is not .json/.npz or ``data`` breaks the schema.
    OSError
        If the file cannot be written.
    """
    suffix = _extension(path)
    validate_fields(data, source="model")
    target = Path(os.fspath(path))
    # A unique temporary name opened with open(): the file gets the usual umask
    # permissions (mkstemp would make it private).
    tmp_name = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp_name, "xb") as handle:
            if suffix == ".json":
                handle.write(to_json_text(data).encode("utf-8"))
            else:
                np.savez(handle, **_to_npz_arrays(data))
        os.replace(tmp_name, target)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed; model parameters must be finite numbers")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    data = {}
    for key, value in pairs:
        if key in data:
            raise ValueError(f"field {key!r} appears more than once")
        data[key] = value
    return data


#: The default cap of model files (see ``gaussmix.io.MAX_MODEL_BYTES``, which the
#: readers are given).
MAX_MODEL_BYTES = 512 * 2**20

# Every way the archive or compression layers can fail on a hostile file.
_ARCHIVE_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    NotImplementedError,  # unsupported compression method
    RuntimeError,  # encrypted member
    EOFError,
    OSError,
    ValueError,
    struct.error,
)


def _open_regular(path: Path, max_bytes: int) -> Any:
    """Open ``path`` for reading if it is a regular file within the size cap.

    Opened without blocking (a FIFO would otherwise wait for a writer
    forever) and checked on the open descriptor, so a symlink to
    ``/dev/zero`` or a device is refused before anything is read.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise ValueError(f"{path}: cannot be opened ({exc.strerror or exc})") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(
                f"{path} is not a regular file (a device, FIFO or socket); a model file "
                "must be a regular .json or .npz file"
            )
        if info.st_size > max_bytes:
            raise ValueError(
                f"{path} is {info.st_size} bytes, more than the {max_bytes}-byte cap "
                "for model files (gaussmix.io.MAX_MODEL_BYTES)"
            )
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _read_json(path: Path, max_bytes: int) -> Any:
    with _open_regular(path, max_bytes) as handle:
        raw = handle.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise ValueError(f"{path} grew past the {max_bytes}-byte cap while being read")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a gaussmix .json model (not UTF-8 text)") from exc
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    except RecursionError as exc:
        raise ValueError(f"{path}: JSON nested too deeply for a gaussmix model") from exc
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def _read_npz(path: Path, max_bytes: int) -> dict:
    """The members of a ``.npz`` model, every size checked before it is read.

    The archive's directory is checked first (member count at most the
    schema's fields, declared sizes within :data:`MAX_MODEL_BYTES`), then each
    member's ``.npy`` header (no object dtype, declared bytes within the
    member); only then is the member's data read, exactly the declared
    number of bytes. Every failure of the zip, compression or ``.npy``
    layers is a ValueError naming the file.
    """
    with _open_regular(path, max_bytes) as handle:
        magic = handle.read(6)
        handle.seek(0)
        if magic.startswith(b"\x93NUMPY"):
            raise ValueError(f"{path}: not a .npz archive (a single .npy array?)")
        try:
            archive = zipfile.ZipFile(handle)
        except _ARCHIVE_ERRORS as exc:
            raise ValueError(f"{path}: not a valid .npz archive ({exc})") from exc
        with archive:
            members = archive.infolist()
            allowed = max(len(fields) for fields in FIELDS.values())
            if len(members) > allowed:
                raise ValueError(
                    f"{path}: archive has {len(members)} members; a gaussmix model has at "
                    f"most {allowed} fields"
                )
            total = sum(member.file_size for member in members)
            if total > max_bytes:
                raise ValueError(
                    f"{path}: archive members declare {total} bytes uncompressed, more than "
                    f"the {max_bytes}-byte cap (gaussmix.io.MAX_MODEL_BYTES)"
                )
            data = {}
            for member in members:
                key = member.filename[:-4] if member.filename.endswith(".npy") else member.filename
                data[key] = _read_npy_member(archive, member, key, path)
    return data


def read_npy_header(stream: Any) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran_order, dtype) from the header of a ``.npy`` stream, nothing more.

    Reads no data, so the caller can check the declared size first.

    Raises
    ------
    ValueError
        If the stream does not start with a valid ``.npy`` header.
    """
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(stream)
    return np.lib.format.read_array_header_2_0(stream)


def _read_npy_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, key: str, path: Path):
    """One member as a Python value or plain array, after its header is checked."""
    try:
        with archive.open(member) as stream:
            shape, fortran, dtype = read_npy_header(stream)
            if dtype.hasobject:
                raise ValueError(
                    f"{path}: array {key!r} holds Python objects; gaussmix files hold plain "
                    "numbers and strings only, and are never unpickled"
                )
            count = int(np.prod(shape, dtype=object))
            declared = count * dtype.itemsize
            if declared > member.file_size:
                raise ValueError(
                    f"{path}: array {key!r} declares shape {shape} ({declared} bytes) but "
                    f"its member holds {member.file_size} bytes"
                )
            raw = stream.read(declared)
    except ValueError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise ValueError(f"{path}: member {key!r} is not a readable .npy array ({exc})") from exc
    except _ARCHIVE_ERRORS as exc:
        raise ValueError(f"{path}: array {key!r} is corrupt ({exc})") from exc
    if len(raw) != declared:
        raise ValueError(f"{path}: array {key!r} is truncated")
    if dtype.kind not in "biufU":
        raise ValueError(
            f"{path}: array {key!r} has unsupported dtype {dtype}; gaussmix files hold plain "
            "numbers and strings only"
        )
    value = np.frombuffer(raw, dtype=dtype, count=count)
    value = value.reshape(shape[::-1]).T if fortran else value.reshape(shape)
    if dtype.kind == "U":
        if value.ndim == 1 and key == "feature_names":
            return [str(name) for name in value]
        if value.ndim != 0:
            raise ValueError(f"{path}: array {key!r} must be a single string")
        return str(value)
    if dtype.kind == "b" and value.ndim == 0:
        return bool(value)
    if value.ndim == 0 and dtype.kind in "iu":
        return int(value)
    return value.copy()


def read_fields(path: str | os.PathLike, max_bytes: int) -> tuple[dict, str]:
    """The validated fields of a model file of at most ``max_bytes``, and its name."""
    suffix = _extension(path)
    file_path = Path(os.fspath(path))
    if not file_path.exists():
        raise FileNotFoundError(f"model file not found: {file_path}")
    if file_path.is_dir():
        raise ValueError(f"{file_path} is a directory, not a model file")
    source = str(file_path)
    try:
        reader = _read_json if suffix == ".json" else _read_npz
        data = reader(file_path, max_bytes)
        return validate_fields(data, source=source), source
    except MALFORMED as exc:
        # A safety net: whatever the validation did not foresee is still a
        # malformed file, reported as such.
        raise ValueError(f"{source}: malformed gaussmix model file ({exc})") from exc
