"""Small helpers shared with gmr's public API."""

from __future__ import annotations

import numbers
import os
import sys
from typing import Any, TextIO

import numpy as np

__all__ = ["check_random_state", "config", "show_config"]


def check_random_state(seed: Any) -> np.random.RandomState | np.random.Generator:
    """Turn ``seed`` into a random number generator.

    Parameters
    ----------
    seed : None, int, numpy.random.RandomState or numpy.random.Generator
        None (or the ``numpy.random`` module) gives numpy's global
        RandomState; an integer gives a new RandomState seeded with it; a
        RandomState or Generator is returned unchanged.

    Returns
    -------
    rng : numpy.random.RandomState or numpy.random.Generator

    Raises
    ------
    ValueError
        If ``seed`` is none of the above.

    Examples
    --------
    >>> from gaussmix.utils import check_random_state
    >>> rng = check_random_state(0)
    >>> check_random_state(rng) is rng
    True
    """
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        if not 0 <= int(seed) < 2**32:
            raise ValueError(
                f"random_state={seed} is not a valid seed; use an integer in [0, 2**32 - 1], "
                "None, a numpy.random.RandomState or a numpy.random.Generator"
            )
        return np.random.RandomState(int(seed))
    if isinstance(seed, np.random.RandomState | np.random.Generator):
        return seed
    raise ValueError(
        f"random_state={seed!r} cannot be used to seed a random number generator; use "
        "None, an int, a numpy.random.RandomState or a numpy.random.Generator"
    )


# Slowdown of the numpy path against the compiled kernel, measured by
# benchmarks/bench_kernels.py (results/kernels.json) at (200k, 16, 16).
_NUMPY_PATH_COST = (
    "EM iterations about 2x slower (full covariances; 1.7-2x for diag and spherical), "
    "GMR predict with covariances 2-3x slower"
)


def config() -> dict[str, Any]:
    """Describe how this gaussmix installation computes, as a dictionary.

    Returns
    -------
    info : dict
        ``version``; ``python`` and ``platform``; ``compiled_kernel``, one of
        ``"in use"``, ``"disabled by GAUSSMIX_DISABLE_COMPILED"`` or ``"not built"``;
        ``numpy_path_cost``, what running without the kernel costs (None when it is
        in use); ``threads``, whether EM can split row blocks across threads (needs
        threadpoolctl); ``dependencies``, the installed version of numpy, scipy and
        each optional dependency (None when absent).

    See Also
    --------
    show_config : the same, printed.

    Examples
    --------
    >>> from gaussmix.utils import config
    >>> config()["compiled_kernel"] in ("in use", "not built",
    ...                                 "disabled by GAUSSMIX_DISABLE_COMPILED")
    True
    """
    import importlib.metadata  # here: a few ms that import gaussmix need not pay
    import platform

    from ._version import __version__
    from .kernels import compiled

    if compiled.available():
        kernel = "in use"
    elif os.environ.get("GAUSSMIX_DISABLE_COMPILED", "") not in ("", "0"):
        kernel = "disabled by GAUSSMIX_DISABLE_COMPILED"
    else:
        kernel = "not built"
    dependencies: dict[str, str | None] = {}
    for name in ("numpy", "scipy", "threadpoolctl", "scikit-learn", "matplotlib", "dask"):
        try:
            dependencies[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            dependencies[name] = None
    return {
        "version": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "compiled_kernel": kernel,
        "numpy_path_cost": None if kernel == "in use" else _NUMPY_PATH_COST,
        "threads": dependencies["threadpoolctl"] is not None,
        "dependencies": dependencies,
    }


def show_config(file: TextIO | None = None) -> None:
    """Print how this gaussmix installation computes (see :func:`config`).

    Parameters
    ----------
    file : file-like, optional
        Where to print (default: standard output).

    Examples
    --------
    >>> from gaussmix.utils import show_config
    >>> show_config()  # doctest: +ELLIPSIS
    gaussmix ...
    """
    info = config()
    out = sys.stdout if file is None else file
    print(f"gaussmix {info['version']} (Python {info['python']}, {info['platform']})", file=out)
    print(f"compiled kernel: {info['compiled_kernel']}", file=out)
    if info["numpy_path_cost"]:
        print(f"  without it: {info['numpy_path_cost']}", file=out)
        if info["compiled_kernel"] == "not built":
            print(
                "  to build it: install a C compiler and reinstall gaussmix from source",
                file=out,
            )
    threads = "yes" if info["threads"] else "no (install threadpoolctl or gaussmix[sklearn])"
    print(f"EM row blocks in threads: {threads}", file=out)
    for name, version in info["dependencies"].items():
        print(f"{name}: {version or 'not installed'}", file=out)
