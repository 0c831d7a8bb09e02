"""Spend by day, report, tag or provider, from the ledger's call log (``Ledger.usage(by=...)``)."""

from __future__ import annotations

import datetime as _dt
import re
import time
from typing import Any

from .exceptions import InvalidRequest

BY = ("day", "report", "tag", "provider", "account")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}


def since_seconds(since: Any) -> float:
    """``since=`` as unix seconds: ``"24h"``, ``"30d"``, ``"90m"``, ``"2w"`` (ago), a datetime or
    date, or unix seconds; None: everything the log keeps."""
    if since is None:
        return 0.0
    if isinstance(since, bool):
        raise InvalidRequest(f"since must be a duration like '24h' or '30d', a datetime or unix seconds, not {since!r}")
    if isinstance(since, (int, float)):
        return float(since)
    if isinstance(since, _dt.datetime):
        return (since if since.tzinfo else since.replace(tzinfo=_dt.timezone.utc)).timestamp()
    if isinstance(since, _dt.date):
        return _dt.datetime(since.year, since.month, since.day, tzinfo=_dt.timezone.utc).timestamp()
    if isinstance(since, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", since)
        if m:
            return time.time() - float(m.group(1)) * _UNITS[m.group(2)]
    raise InvalidRequest(f"since must be a duration like '24h' or '30d', a datetime or unix seconds, not {since!r}")


def summarize(calls: list[dict[str, Any]], by: str, output: str = "dicts") -> Any:
    """One row per day/report/tag/provider: requests, cached requests, units estimated and spent."""
    from . import frames

    if by not in BY:
        raise InvalidRequest(f"by must be one of {', '.join(map(repr, BY))}, not {by!r}")
    frames.check(output)
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    for c in calls:
        if by == "day":
            key: tuple[str, ...] = (_dt.datetime.fromtimestamp(c["at"], _dt.timezone.utc).strftime("%Y-%m-%d"),)
        elif by == "report":
            key = (c["provider"], c["report"])
        else:
            key = (c[by],)
        g = groups.setdefault(key, {"requests": 0, "cached": 0, "estimated": 0, "spent": 0, "rows": 0})
        g["requests"] += 1
        g["cached"] += int(c["cached"])
        g["estimated"] += c["estimate"]
        g["spent"] += c["units"]
        g["rows"] += c["rows"]
    names = ["provider", "report"] if by == "report" else [by]
    out = [{**dict(zip(names, k)), **v} for k, v in sorted(groups.items())]
    if output == "dicts":
        return out
    return frames.convert(out, output, None, names + ["requests", "cached", "estimated", "spent", "rows"],
                          {"requests": "integer", "cached": "integer", "estimated": "integer", "spent": "integer", "rows": "integer"})
