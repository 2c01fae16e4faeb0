"""The progress bar of ``gaussmix fit``, drawn from the EM driver's callback."""

from __future__ import annotations

import time
from typing import TextIO


# ----------------------------------------------------------------------
# Fitting with an optional progress bar
# ----------------------------------------------------------------------
class ProgressBar:
    """A one-line progress bar redrawn in place on a terminal stream.

    Parameters
    ----------
    total : int
        Number of steps of a full bar.
    stream : text stream
        Where to draw (standard error for the CLI).
    width : int, default=30
        Characters of the bar itself.
    """

    def __init__(self, total: int, stream: TextIO, width: int = 30) -> None:
        self.total = total
        self.stream = stream
        self.width = width
        self._last = 0.0
        self._pending: tuple | None = None

    def update(self, label: str, done: int, text: str, force: bool = False) -> None:
        """Redraw the bar (at most every 0.1 s unless ``force`` or finished).

        Parameters
        ----------
        label : str
            Text before the bar.
        done : int
            Steps completed, out of ``total``.
        text : str
            Text after the bar.
        force : bool, default=False
            Redraw even if the last redraw was less than 0.1 s ago.
        """
        now = time.monotonic()
        if not force and now - self._last < 0.1 and done < self.total:
            self._pending = (label, done, text)
            return
        self._last = now
        self._pending = None
        filled = int(self.width * done / max(self.total, 1))
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r{label} [{bar}] {done}/{self.total} {text}\x1b[K")
        self.stream.flush()

    def close(self) -> None:
        """Draw the last state if it was throttled away, then end the bar's line."""
        if self._pending is not None:
            self.update(*self._pending, force=True)
        self.stream.write("\n")
        self.stream.flush()
