"""The compiled library's further functions, their ctypes signatures set on first use.

:mod:`gaussmix.kernels.compiled` declares the EM and predict kernels when it loads
the library; the modules that wrap further kernels (:mod:`gaussmix.kernels.batched`,
:mod:`gaussmix.kernels.patterns`, :mod:`gaussmix._linalg`) take theirs from
:func:`declared`, which sets the signature on the library in use at the call, so
that a library loaded later (a benchmark's second build) gets it too.
"""

from __future__ import annotations

from typing import Any

from . import compiled

__all__ = ["declared"]


def declared(name: str, restype: Any, argtypes: list) -> Any:
    """The library's function ``name`` with its ctypes signature.

    Parameters
    ----------
    name : str
        The C function's name.
    restype, argtypes
        Its ctypes result type and argument types (set where not set yet).

    Returns
    -------
    ctypes function or None
        None where the library is not in use or lacks the function.
    """
    lib = compiled.library()
    function = getattr(lib, name, None) if lib is not None else None
    if function is not None and function.argtypes is None:
        function.restype = restype
        function.argtypes = argtypes
    return function
