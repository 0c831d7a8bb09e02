"""Progress of work that spans many requests (bulk url_metrics, batch_analysis, paging).

``progress=None`` (the default) shows a bar in an interactive terminal or a notebook and nothing
otherwise; ``True`` always shows one (tqdm's auto mode when tqdm is installed, a plain line on
stderr if not); ``False`` never; a callable receives a :class:`Progress` after each request.
"""

from __future__ import annotations

import logging
import sys
import threading
from dataclasses import dataclass
from typing import Any, Callable, TypeAlias, Union

from .exceptions import InvalidRequest

__all__ = ["Progress", "ProgressArg", "start"]

logger = logging.getLogger("seowire")


@dataclass(frozen=True)
class Progress:
    """Where a multi-request call stands: rows received, units committed, requests done."""

    description: str
    rows: int
    units: int
    requests: int
    total: int | None


ProgressArg: TypeAlias = Union[bool, Callable[[Progress], Any], None]


def interactive() -> bool:
    """A notebook kernel, or a terminal on stderr."""
    ipython = sys.modules.get("IPython")
    shell = getattr(ipython, "get_ipython", lambda: None)() if ipython else None
    if type(shell).__name__ == "ZMQInteractiveShell":  # Jupyter, not a terminal IPython
        return True
    stream = sys.stderr
    return stream is not None and hasattr(stream, "isatty") and stream.isatty()


class _Tracker:
    """Counts what has landed and passes it on; safe to tick from the runtime's threads."""

    def __init__(self, description: str, total: int | None, sink: Callable[[Progress], Any] | None, bar: Any = None) -> None:
        self._lock = threading.Lock()
        self._state = Progress(description, 0, 0, 0, total)
        self._sink = sink
        self._bar = bar

    def __call__(self, rows: int, units: int) -> None:  # the core's (rows, units) callback
        self.update(rows, units, 1)

    def update(self, rows: int, units: int, requests: int = 1) -> None:
        with self._lock:
            s = self._state
            self._state = s = Progress(s.description, s.rows + rows, s.units + units, s.requests + requests, s.total)
            if self._bar is not None:
                self._bar.update(rows)
                self._bar.set_postfix(units=s.units, requests=s.requests, refresh=False)
        if self._sink is not None:
            try:
                self._sink(s)
            except Exception:  # a broken bar must not lose rows that are already paid for
                logger.exception("progress callback failed")

    @property
    def state(self) -> Progress:
        return self._state

    def close(self) -> None:
        if isinstance(self._sink, _Line) and self._state.requests:
            sys.stderr.write("\n")
            self._sink = None
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class _Line:
    """Without tqdm: one rewritten status line on stderr."""

    def __call__(self, p: Progress) -> None:
        of = f"/{p.total}" if p.total else ""
        sys.stderr.write(f"\r{p.description}: {p.rows}{of} rows, {p.units} units, {p.requests} requests")
        sys.stderr.flush()


class _Off(_Tracker):
    def __init__(self) -> None:
        super().__init__("", None, None)

    def update(self, rows: int, units: int, requests: int = 1) -> None:
        pass


def start(progress: ProgressArg, total: int | None, description: str) -> _Tracker:
    """A tracker for one multi-request call, from the user's ``progress=`` argument."""
    if progress is None:
        progress = interactive()
    if progress is False:
        return _Off()
    if progress is True:
        try:
            from tqdm.auto import tqdm  # type: ignore[import-untyped, import-not-found, unused-ignore]
        except ImportError:
            return _Tracker(description, total, _Line())
        return _Tracker(description, total, None, tqdm(total=total, desc=description, unit="rows", leave=True))
    if callable(progress):
        return _Tracker(description, total, progress)
    raise InvalidRequest(f"progress must be True, False, None or a callable, not {progress!r}")
