"""Build script for the optional compiled EM kernel (everything else is in pyproject.toml).

``gaussmix.kernels._fused`` is a plain C file with no dependency beyond the C library
(GCC or Clang: it uses their vector extensions). It is optional: where it cannot be
compiled the build goes on without it and gaussmix runs its numpy path
(``gaussmix.kernels.compiled``), which gives the same results, more slowly. Because pip
hides a build's output unless given ``-v``, that case is announced on standard error
*and* on the terminal the install runs in, so that nobody installs the slow path
without being told. ``GAUSSMIX_REQUIRE_COMPILED=1`` turns the warning into an error
(the wheel builds of ``[tool.cibuildwheel]`` set it for Linux and macOS).
"""

import os
import sys
import textwrap

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

compile_args = [] if sys.platform == "win32" else ["-O3"]

WARNING = """
gaussmix: the compiled EM kernel (src/gaussmix/kernels/_fused.c) could NOT be built:
  {reason}
gaussmix is installed without it and runs its numpy path instead: same results,
but EM iterations about 2x slower (full covariances; 1.7-2x for diag and
spherical) and GMR predict with covariances 2-3x slower. To get the kernel,
install a C compiler (gcc or clang) and reinstall gaussmix from source, e.g.
    python -m pip install --force-reinstall --no-binary gaussmix gaussmix
gaussmix.utils.show_config() reports whether the kernel is in use.
"""


def _announce(message: str) -> None:
    framed = "\n".join(["", "!" * 78, message.strip("\n"), "!" * 78, ""])
    print(framed, file=sys.stderr, flush=True)
    # pip captures the build's output and shows it only with -v or on failure;
    # the controlling terminal, where there is one, still reaches the user.
    try:
        with open("/dev/tty", "w") as terminal:
            terminal.write(framed + "\n")
    except OSError:
        pass


class OptionalKernelBuild(build_ext):
    """build_ext that reports, loudly, a kernel that could not be compiled."""

    def run(self):
        try:
            super().run()
        except Exception as error:  # no compiler at all: CCompilerError, PlatformError...
            self._failed(error)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as error:  # the compiler ran and failed
            self._failed(error)

    def _failed(self, error: BaseException) -> None:
        reason = textwrap.shorten(f"{type(error).__name__}: {error}", 300)
        if os.environ.get("GAUSSMIX_REQUIRE_COMPILED", "") not in ("", "0"):
            raise RuntimeError(
                "GAUSSMIX_REQUIRE_COMPILED is set and the compiled kernel failed to build: "
                + reason
            ) from error
        _announce(WARNING.format(reason=reason))


setup(
    ext_modules=[
        Extension(
            "gaussmix.kernels._fused",
            sources=["src/gaussmix/kernels/_fused.c"],
            extra_compile_args=compile_args,
        )
    ],
    cmdclass={"build_ext": OptionalKernelBuild},
)
