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


def _esc(v: Any) -> str:
    import html

    return html.escape("" if v is None else str(v))


def _bar(spent: int, budget: int | None) -> str:
    if not budget:
        return ""
    share = min(1.0, spent / budget)
    color = "#c0392b" if share >= 0.9 else "#e67e22" if share >= 0.5 else "#27ae60"
    return (f'<div style="width:120px;background:#eee;border-radius:3px"><div style="width:{share * 100:.0f}%;'
            f'background:{color};height:10px;border-radius:3px"></div></div>')


def ledger_html(ledger: Any) -> str:
    """A ledger in a notebook: spending per account and period with budget bars, and the last
    24 hours by report."""
    rows = ledger.usage()
    head = "".join(f"<th>{h}</th>" for h in ("provider", "account", "period", "spent", "reserved", "budget", "remaining", ""))
    body = "".join(
        f"<tr><td>{_esc(r['provider'])}</td><td><code>{_esc(r['account'])}</code></td><td>{_esc(r['period'])}</td>"
        f"<td>{r['spent']:,}</td><td>{r['reserved']:,}</td><td>{'' if r['budget'] is None else format(r['budget'], ',')}</td>"
        f"<td>{'' if r['remaining'] is None else format(r['remaining'], ',')}</td><td>{_bar(r['spent'], r['budget'])}</td></tr>"
        for r in rows)
    day = ledger.usage(by="report", since="24h")
    last = "".join(f"<tr><td>{_esc(r['provider'])}</td><td>{_esc(r['report'])}</td><td>{r['requests']:,}</td><td>{r['cached']:,}</td>"
                   f"<td>{r['spent']:,}</td></tr>" for r in day)
    return (f"<div><b>seowire ledger</b> <code>{_esc(ledger.url)}</code>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body or '<tr><td colspan=8>empty</td></tr>'}</tbody></table>"
            f"<b>last 24 hours by report</b><table><thead><tr><th>provider</th><th>report</th><th>requests</th><th>cached</th>"
            f"<th>spent</th></tr></thead><tbody>{last or '<tr><td colspan=5>no calls</td></tr>'}</tbody></table></div>")


def rows_html(rows: Any, preview: int = 10) -> str:
    """A Rows in a notebook: the first rows as a table, with what the call cost and a partial badge."""
    badge = ' <span style="background:#e67e22;color:white;padding:0 4px;border-radius:3px">partial</span>' if rows.partial else ""
    cols = list(rows[0]) if rows else []
    head = "".join(f"<th>{_esc(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{_esc(r.get(c))}</td>" for c in cols) + "</tr>" for r in list(rows)[:preview])
    more = f"<p>... {len(rows) - preview:,} more rows</p>" if len(rows) > preview else ""
    return (f"<div><b>{_esc(rows.provider)} {_esc(rows.report)}</b>: {len(rows):,} rows, {rows.units:,} units "
            f"(estimate {rows.estimate:,}){badge}<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}</div>")


def plot(ledger: Any, provider: str | None = None, period: str | None = None, account: str | None = None,
         thresholds: tuple[float, ...] = (0.5, 0.8, 0.9)) -> Any:
    """The period's burn-down: cumulative spend so far, the budget, the alert thresholds, and the
    projection to the period's end at the current rate (matplotlib, extra ``seowire[plot]``)."""
    try:
        from matplotlib.figure import Figure  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError:
        from .exceptions import MissingExtra

        raise MissingExtra("ledger.plot needs matplotlib, which is not installed: pip install 'seowire[plot]'") from None
    scopes = [r for r in ledger.usage() if (provider is None or r["provider"] == provider) and (account is None or r["account"] == account)
              and (period is None or r["period"] == period)]
    if not scopes:
        raise InvalidRequest(f"the ledger has nothing for provider={provider!r} period={period!r}")
    label = period or max(r["period"] for r in scopes)
    scopes = [r for r in scopes if r["period"] == label]
    start, end = _period_bounds(label)
    calls = [c for c in ledger.calls(since=start.timestamp()) if c["period"] == label
             and (provider is None or c["provider"] == provider) and (account is None or c["account"] == account)]
    budget = sum(r["budget"] for r in scopes if r["budget"]) or None
    times = [_dt.datetime.fromtimestamp(c["at"], _dt.timezone.utc) for c in calls]
    total, spent = 0, []
    for c in calls:
        total += c["units"]
        spent.append(total)
    from matplotlib.dates import date2num  # type: ignore[import-untyped, import-not-found, unused-ignore]

    x = lambda t: float(date2num(t))  # noqa: E731 - matplotlib's day numbers
    fig = Figure(figsize=(7, 3.5))
    ax = fig.add_subplot()
    ax.step([x(start)] + [x(t) for t in times], [0] + spent, where="post", label="spent")
    now = _dt.datetime.now(_dt.timezone.utc)
    if times and now > start:
        rate = total / max((now - start).total_seconds(), 1.0)
        ax.plot([x(now), x(end)], [total, total + rate * (end - now).total_seconds()], linestyle="--", label="projection at the current rate")
    if budget:
        ax.axhline(budget, color="black", label=f"budget {budget:,}")
        for t in thresholds:
            ax.axhline(budget * t, color="grey", linestyle=":", linewidth=0.8)
            ax.text(x(start), budget * t, f" {t:.0%}", va="bottom", fontsize=7, color="grey")
    ax.set_xlim(x(start), x(end))
    ax.xaxis_date()
    ax.set_title(f"{provider or 'all providers'}: {label}")
    ax.set_ylabel("units")
    ax.legend(loc="upper left", fontsize=7)
    fig.autofmt_xdate()
    return fig


def _period_bounds(label: str) -> tuple[_dt.datetime, _dt.datetime]:
    utc = _dt.timezone.utc
    if len(label) == 7:  # YYYY-MM
        y, m = int(label[:4]), int(label[5:])
        start = _dt.datetime(y, m, 1, tzinfo=utc)
        end = _dt.datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=utc)
    elif len(label) == 10:  # YYYY-MM-DD
        start = _dt.datetime.fromisoformat(label).replace(tzinfo=utc)
        end = start + _dt.timedelta(days=1)
    else:  # "total": from the first call to now
        start = _dt.datetime.now(utc) - _dt.timedelta(days=30)
        end = _dt.datetime.now(utc)
    return start, end
