"""Compiled kernels and the thread pool that runs row blocks on all cores.

- :mod:`~gaussmix.kernels.compiled`: ctypes access to ``_fused.c`` (EM statistics,
  predict moments), with ``available()`` saying whether it is built and enabled.
- :mod:`~gaussmix.kernels.threads`: row blocks shared by threads, BLAS kept
  single-threaded inside each.
"""
