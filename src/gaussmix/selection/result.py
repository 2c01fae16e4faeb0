"""The result of :func:`gaussmix.select_model`: the table, the chosen model, text, CSV and plot."""

from __future__ import annotations

import csv
import io
import os
from typing import Any

import numpy as np

from .. import covariance as structures


# ----------------------------------------------------------------------
# The result
# ----------------------------------------------------------------------
class ModelSelection:
    """The result of :func:`select_model`: the ranked grid and the chosen model.

    Attributes
    ----------
    best_model : GMM or GaussianMixtureRegressor
        The chosen candidate, fitted to all the data.
    best_params : dict
        ``{"n_components": k, "covariance_type": t}`` of the chosen candidate.
    best_index : int
        Its row in ``table``.
    criterion : str
        The criterion ``score`` holds (lower is better).
    table : list of dict
        One dict per candidate, in grid order (covariance types as given,
        then k), with the keys ``n_components``, ``covariance_type``,
        ``score`` (the criterion; for "cv" the negated mean held-out
        log-likelihood per row, for "r2" the negated mean R^2), ``bic``,
        ``aic``, ``icl`` (None where not computed), ``log_likelihood``
        (total log-likelihood of the fitted data; for "cv"/"r2" the mean
        held-out log-likelihood per row), ``n_parameters``, ``converged``,
        ``n_iter`` (all folds together under cross-validation), ``seconds``,
        ``degenerate`` (None or the reason, see :func:`is_degenerate`),
        ``error`` (None or the message of a candidate that failed) and
        ``best``.
    models : dict
        ``(n_components, covariance_type) -> GMM`` for every candidate fitted
        to all the data (with "cv" and "r2" only the chosen one).
    """

    def __init__(
        self,
        table: list[dict],
        best_index: int,
        best_model: Any,
        criterion: str,
        models: dict,
    ) -> None:
        self.table = table
        self.best_index = best_index
        self.best_model = best_model
        self.criterion = criterion
        self.models = models
        # best_index None: no sound candidate (the table of a failed selection).
        row = None if best_index is None else table[best_index]
        self.best_params = (
            None
            if row is None
            else {"n_components": row["n_components"], "covariance_type": row["covariance_type"]}
        )

    def __repr__(self) -> str:
        p = self.best_params
        return (
            f"ModelSelection(criterion={self.criterion!r}, candidates={len(self.table)}, "
            f"best: n_components={p['n_components']}, covariance_type={p['covariance_type']!r})"
        )

    _COLUMNS = (
        "n_components",
        "covariance_type",
        "score",
        "bic",
        "aic",
        "icl",
        "log_likelihood",
        "n_parameters",
        "converged",
        "n_iter",
        "seconds",
        "degenerate",
        "error",
        "best",
    )

    def to_csv(self, path: str | os.PathLike | None = None) -> str:
        """The table as CSV (one header row, one row per candidate).

        Parameters
        ----------
        path : str or path-like, optional
            Also write the text to this file.

        Returns
        -------
        text : str
        """
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self._COLUMNS)
        for row in self.table:
            writer.writerow(["" if row[c] is None else csv_cell(row[c]) for c in self._COLUMNS])
        text = buffer.getvalue()
        if path is not None:
            with open(path, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
        return text

    def to_text(self) -> str:
        """The table as aligned plain text; ``*`` marks the chosen candidate.

        Degenerate candidates are marked ``degenerate`` and failing ones show
        their error instead of numbers.
        """
        name = {"cv": "-cv loglik", "r2": "-R2"}.get(self.criterion, self.criterion.upper())
        header = ["", "k", "covariance", name, "log-lik", "params", "iter", "conv", "sec", "note"]
        lines = [header]
        for row in self.table:
            if row["error"] is not None:
                note = "failed: " + row["error"]
                numbers = ["", "", "", "", "", ""]
            else:
                note = "degenerate" if row["degenerate"] else ""
                numbers = [
                    f"{row['score']:.6g}",
                    "" if row["log_likelihood"] is None else f"{row['log_likelihood']:.6g}",
                    str(row["n_parameters"]),
                    str(row["n_iter"]),
                    "yes" if row["converged"] else "no",
                    f"{row['seconds']:.2f}",
                ]
            lines.append(
                [
                    "*" if row["best"] else "",
                    str(row["n_components"]),
                    row["covariance_type"],
                    *numbers,
                    note,
                ]
            )
        widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
        out = []
        for line in lines:
            cells = [
                cell.ljust(width) if i < 3 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(line[:-1], widths, strict=True))
            ]
            out.append(("  ".join(cells) + "  " + line[-1]).rstrip())
        p = self.best_params
        if p is None:
            out.append("best: none (every candidate failed or was degenerate)")
            return "\n".join(out)
        out.append(
            f"best: n_components={p['n_components']}, covariance_type={p['covariance_type']} "
            f"({name} lower is better)"
        )
        return "\n".join(out)

    def __str__(self) -> str:
        return self.to_text()

    def plot(self, ax: Any = None) -> Any:
        """The criterion against k, one line per covariance type (mclust's BIC plot).

        Each structure's line has mclust's symbol and colour
        (``bicPlotSymbols``, ``bicPlotColors``); degenerate candidates are
        circled, failing ones are left out, and a star marks the chosen
        candidate.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Default: a new figure's axes.

        Returns
        -------
        ax : matplotlib Axes
        """
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(6, 4))
        types = list(dict.fromkeys(row["covariance_type"] for row in self.table))
        for covariance_type in types:
            rows = [
                row
                for row in self.table
                if row["covariance_type"] == covariance_type and row["error"] is None
            ]
            if not rows:
                continue
            ks = [row["n_components"] for row in rows]
            scores = [row["score"] for row in rows]
            structure = structures.get(covariance_type)
            label = covariance_type
            if structure.mclust_name != covariance_type:
                label = f"{covariance_type} ({structure.mclust_name})"
            # mclust's symbol and colour of the structure's line.
            style = {
                "marker": structure.marker,
                "color": structure.color,
                "markerfacecolor": structure.color if structure.marker_filled else "none",
            }
            ax.plot(ks, scores, "-", label=label, **style)
            spurious = [i for i, row in enumerate(rows) if row["degenerate"] is not None]
            if spurious:
                ax.plot(
                    [ks[i] for i in spurious],
                    [scores[i] for i in spurious],
                    linestyle="none",
                    markersize=14,
                    **{**style, "marker": "o", "markerfacecolor": "none", "alpha": 0.5},
                )
        best = self.table[self.best_index]
        ax.plot(
            [best["n_components"]],
            [best["score"]],
            "*",
            color="black",
            markersize=16,
            label=f"best: k={best['n_components']}, {best['covariance_type']}",
        )
        name = {"cv": "negated held-out log-likelihood", "r2": "negated R²"}.get(
            self.criterion, self.criterion.upper()
        )
        ax.set_xlabel("number of components k")
        ax.set_ylabel(f"{name} (lower is better)")
        ax.set_xticks(sorted({row["n_components"] for row in self.table}))
        ax.legend(fontsize="small")
        if any(row["degenerate"] for row in self.table):
            ax.set_title("circled: degenerate fits (never chosen)", fontsize="small")
            # A spike's likelihood is unbounded: show degenerate fits up to one
            # span of the sound fits' scores beyond them, not the whole way.
            fitted = [row for row in self.table if row["error"] is None]
            sound = [row["score"] for row in fitted if row["degenerate"] is None]
            every = [row["score"] for row in fitted if np.isfinite(row["score"])]
            low, high = min(sound), max(sound)
            span = high - low or abs(high) or 1.0
            low, high = max(min(every), low - span), min(max(every), high + span)
            ax.set_ylim(low - 0.05 * (high - low), high + 0.05 * (high - low))
        return ax


def csv_cell(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)
