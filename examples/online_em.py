"""Online EM on a memory-mapped file: one pass of mini-batches against batch EM.
=============================================================================

A ``.npy`` file of 400,000 rows (8 dimensions, 6 components) is fitted twice
from the same starting means: by batch EM (``GMM.from_samples`` on the
memory-mapped file: every iteration reads all rows) and by one pass of online
(stepwise) EM (``gaussmix.fit_stream``: one batch at a time, each batch one
step). The plot shows the mean log-likelihood of held-out rows against the
rows read so far: online EM reaches the batch optimum's neighbourhood within
its single pass, while batch EM has read the file several times by then. The
dots are what the progress callback reports, each batch's mean log-likelihood
under the parameters before its step. (Online EM's first batch is fitted by
batch EM before the pass, which the rows read do not count: 8,000 rows a few
dozen times.)

Usage: ``python examples/online_em.py [OUTPUT_DIR] [--fast]``;
writes ``online_em.png``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import gaussmix
from gaussmix import GMM


def draw(n: int, rng: np.random.Generator) -> np.ndarray:
    """Rows of a fixed mixture of 6 components in 8 dimensions."""
    centres = np.random.default_rng(7).normal(0.0, 2.5, (6, 8))
    labels = rng.integers(6, size=n)
    scales = 0.6 + 0.1 * labels[:, None]
    return centres[labels] + scales * rng.normal(size=(n, 8))


def main(argv: list[str] | None = None) -> Path:
    argv = sys.argv[1:] if argv is None else argv
    fast = "--fast" in argv or os.environ.get("GAUSSMIX_FAST") == "1"
    positional = [a for a in argv if not a.startswith("--")]
    output = Path(positional[0] if positional else os.environ.get("GAUSSMIX_OUTPUT", "."))

    n = 60_000 if fast else 400_000
    rng = np.random.default_rng(0)
    held_out = draw(20_000, rng)
    start = draw(6_000, np.random.default_rng(1))[::1000]  # six rows as starting means
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rows.npy"
        np.save(path, draw(n, rng))
        X = np.load(path, mmap_mode="r")

        # Batch EM, one iteration at a time (each call continues from the model's
        # parameters): the held-out score after every pass over the file.
        batch = GMM(6, means=start.copy(), random_state=0)
        batch_scores = []
        for _ in range(8 if fast else 12):
            batch.from_samples(X, n_iter=1, tol=None)
            batch_scores.append(batch.score(held_out))
        batch.from_samples(X, n_iter=300, tol=1e-6)  # on to convergence
        optimum = batch.score(held_out)

        # Online EM: one pass; the model after every batch scored on the held-out rows.
        online_rows, online_scores, reported = [], [], []
        online = GMM(6, means=start.copy(), random_state=0)

        def after_batch(rows_seen, pass_number, batch_mean, elapsed):
            online_rows.append(rows_seen)
            online_scores.append(online.score(held_out))
            reported.append(batch_mean)

        gaussmix.GMM.from_stream(online, X, batch_size=n // 50, callback=after_batch)
        rows_read = n * np.arange(1, len(batch_scores) + 1)
        del X
    gap = optimum - online_scores[-1]
    print(
        f"batch EM: {batch.n_iter_ + len(batch_scores)} iterations, held-out mean "
        f"log-likelihood {optimum:.4f}; online EM: one pass "
        f"({online_rows[-1]:,} rows), {online_scores[-1]:.4f} (gap {gap:.4f} nats per row)"
    )

    figure = Figure(figsize=(9, 4.8))
    ax = figure.subplots()
    ax.plot(rows_read, batch_scores, "o-", color="C0", label="batch EM (one point per pass)")
    ax.plot(online_rows, online_scores, "-", color="C1", lw=2, label="online EM, held-out rows")
    ax.plot(
        online_rows,
        reported,
        ".",
        color="C1",
        alpha=0.4,
        ms=4,
        label="online EM, each batch before its step (the callback)",
    )
    ax.axhline(optimum, color="0.3", ls="--", lw=1, label="batch EM converged")
    ax.set_xscale("log")
    ax.set_ylim(optimum - 0.35, optimum + 0.1)
    ax.set(xlabel="rows read", ylabel="mean log-likelihood (nats per row)")
    ax.set_title(f"{n:,} rows from a memory-mapped file, k = 6, d = 8")
    ax.legend(loc="lower right", fontsize="small")
    figure.tight_layout()
    output.mkdir(parents=True, exist_ok=True)
    target = output / "online_em.png"
    figure.savefig(target, dpi=80)
    print(f"wrote {target}")
    return target


if __name__ == "__main__":
    main()
