"""Progress bars for the commands: tqdm's bar on a terminal; elsewhere (a log file, a pipe,
CI) the same text as plain lines, one every LOG_INTERVAL_S seconds, instead of tqdm's
`\\r`-joined redraws.

A run shorter than the interval prints no progress line at all; one that printed any ends
with a last line (the totals and the overall rate).
"""

import sys
import time

from tqdm import tqdm

LOG_INTERVAL_S = 30.0


def bar(iterable=None, *, file=None, interval=LOG_INTERVAL_S, **kwargs):
    """A tqdm bar (same arguments) on `file` (default stderr): drawn on a terminal, else
    `interval`-spaced lines."""
    file = file or sys.stderr
    isatty = getattr(file, "isatty", None)
    if isatty is not None and isatty():
        return tqdm(iterable, file=file, **kwargs)
    return _LogLines(iterable, file=file, interval=interval, **kwargs)


class _LogLines(tqdm):
    """tqdm that writes a full line when one is due instead of redrawing in place."""

    def __init__(self, iterable=None, *, interval, **kwargs):
        self._interval = interval
        self._due = time.monotonic() + interval
        self._lines = 0
        kwargs.pop("dynamic_ncols", None)
        kwargs.setdefault("smoothing", 0)  # Rates averaged over the whole run.
        # leave=False: close() then calls display(msg="") once, which writes the last line.
        super().__init__(iterable, mininterval=min(interval, 1.0), ascii=True,
                         **{**kwargs, "leave": False})

    def display(self, msg=None, pos=None):
        closing = msg == ""
        now = time.monotonic()
        if (closing and self._lines) or (not closing and now >= self._due):
            self.fp.write(str(self) + "\n")
            self.fp.flush()
            self._due, self._lines = now + self._interval, self._lines + 1
        return False  # close() writes nothing more (tqdm would add "\r").

    def clear(self, nolock=False):
        """Nothing to clear: lines are never redrawn (tqdm.write calls this)."""
