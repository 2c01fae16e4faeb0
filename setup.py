"""Build script for the optional compiled EM kernel (everything else is in pyproject.toml).

``gaussmix.kernels._fused`` is a plain C file with no dependency beyond the C library.
It is marked optional: where no C compiler is available the build goes on
without it, and gaussmix runs its numpy path (``gaussmix.kernels.compiled``).
"""

import sys

from setuptools import Extension, setup

compile_args = [] if sys.platform == "win32" else ["-O3"]

setup(
    ext_modules=[
        Extension(
            "gaussmix.kernels._fused",
            sources=["src/gaussmix/kernels/_fused.c"],
            extra_compile_args=compile_args,
            optional=True,
        )
    ]
)
