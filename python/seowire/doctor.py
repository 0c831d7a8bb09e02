"""``seowire doctor``: check every configured provider, the ledger and the clock without
spending a unit, before a paid job finds out.

Each check is one row: ``provider``, ``check``, ``status`` (``ok``, ``warn`` or ``fail``) and a
``detail`` a person can act on. Only free calls are made (SEMrush ``countapiunits``, Moz
``quota.lookup``, Ahrefs ``limits-and-usage``); a key is never shown.
"""

from __future__ import annotations

import datetime as _dt
import os
import time
import urllib.error
import urllib.request
from email.utils import parsedate_to_datetime
from typing import Any

from .exceptions import AuthenticationError, SeowireError

__all__ = ["doctor", "EXPIRY_WARNING_DAYS", "CLOCK_SKEW_SECONDS"]

EXPIRY_WARNING_DAYS = 30
CLOCK_SKEW_SECONDS = 60


def _row(provider: str, check: str, status: str, detail: str) -> dict[str, str]:
    return {"provider": provider, "check": check, "status": status, "detail": detail}


def _configured() -> dict[str, bool]:
    env = os.environ
    return {
        "semrush": bool(env.get("SEMRUSH_API_KEY") or env.get("SEMRUSH_V4_API_KEY")),
        "moz": bool(env.get("MOZ_TOKEN") or (env.get("MOZ_ACCESS_ID") and env.get("MOZ_SECRET_KEY"))),
        "ahrefs": bool(env.get("AHREFS_API_KEY")),
    }


def _failure(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


def doctor(*, semrush: Any = None, moz: Any = None, ahrefs: Any = None, ledger: Any = None,
           now: _dt.datetime | None = None) -> dict[str, Any]:
    """Check the given clients (or those the environment configures: ``SEMRUSH_API_KEY`` /
    ``SEMRUSH_V4_API_KEY``, ``MOZ_TOKEN``, ``AHREFS_API_KEY``) and the ledger (``ledger=`` or
    ``SEOWIRE_LEDGER``). Returns ``{"ok": bool, "checks": [rows]}``; ``ok`` is False when any
    check failed (warnings do not fail)."""
    import seowire

    now = now or _dt.datetime.now(_dt.timezone.utc)
    configured = _configured()
    checks: list[dict[str, str]] = []
    clients: dict[str, Any] = {}
    for name, given, cls in (("semrush", semrush, seowire.Semrush), ("moz", moz, seowire.Moz), ("ahrefs", ahrefs, seowire.Ahrefs)):
        if given is not None:
            clients[name] = given
        elif configured[name]:
            try:
                clients[name] = cls(ledger=ledger) if ledger is not None else cls()
            except SeowireError as e:
                checks.append(_row(name, "client", "fail", _failure(e)))
    if not clients and not checks:
        checks.append(_row("-", "providers", "fail", "no provider is configured: set SEMRUSH_API_KEY, MOZ_TOKEN or AHREFS_API_KEY"))
    if "semrush" in clients:
        checks += _semrush(clients["semrush"])
    if "moz" in clients:
        checks += _moz(clients["moz"])
    if "ahrefs" in clients:
        checks += _ahrefs(clients["ahrefs"], now)
    checks += _ledger(ledger if ledger is not None else (next(iter(clients.values())).ledger if clients else None))
    for name, c in clients.items():
        checks.append(_clock(name, c.base_url))
    return {"ok": all(c["status"] != "fail" for c in checks), "checks": checks}


def _semrush(sr: Any) -> list[dict[str, str]]:
    from .semrush import _NoKey

    rows = []
    v3, v4 = not isinstance(sr._core, _NoKey), not isinstance(sr._v4, _NoKey)
    kinds = " and ".join(k for k, on in (("v3 (Analytics, Trends, Projects)", v3), ("v4", v4)) if on)
    rows.append(_row("semrush", "keys", "ok", f"{kinds} configured; v3 is deprecated (shutdown end of 2027): add a v4 key (v4_key= / SEMRUSH_V4_API_KEY)" if not v4 else f"{kinds} configured"))
    if v3:
        try:
            units = sr.balance()
            rows.append(_row("semrush", "balance", "fail" if units <= 0 else "ok",
                             "the v3 key has no units left" if units <= 0 else f"{units:,} units left on the v3 key"))
        except AuthenticationError as e:
            rows.append(_row("semrush", "key accepted", "fail", _failure(e)))
        except SeowireError as e:
            rows.append(_row("semrush", "balance", "fail", _failure(e)))
    if v4:
        rows.append(_row("semrush", "v4 key", "ok", "configured (SEMrush publishes no free v4 call to check it with)"))
    return rows


def _moz(moz: Any) -> list[dict[str, str]]:
    from .moz import POOLS

    rows = []
    for pool in POOLS:
        try:
            q = moz.quota(pool)
            allotted, left = int(q.get("allotted") or 0), int(q.get("remaining") or 0)
            if allotted == 0:
                rows.append(_row("moz", f"quota {pool}", "ok", "not in this plan (nothing allotted)"))
                continue
            rows.append(_row("moz", f"quota {pool}", "fail" if left <= 0 else "ok",
                             f"{left:,} of {allotted:,} left" if left > 0 else f"the {pool} pool is used up ({allotted:,} allotted)"))
        except AuthenticationError as e:
            rows.append(_row("moz", "token accepted", "fail", _failure(e)))
            break
        except SeowireError as e:
            rows.append(_row("moz", f"quota {pool}", "fail", _failure(e)))
    return rows


def _ahrefs(ahrefs: Any, now: _dt.datetime) -> list[dict[str, str]]:
    try:
        lu = ahrefs.limits_and_usage()
    except AuthenticationError as e:
        return [_row("ahrefs", "key accepted", "fail", _failure(e))]
    except SeowireError as e:
        return [_row("ahrefs", "limits and usage", "fail", _failure(e))]
    rows = []
    cap, used = lu.get("units_limit_api_key"), int(lu.get("units_usage_api_key") or 0)
    if cap is None:
        rows.append(_row("ahrefs", "key cap", "ok", f"no per-key cap; {used:,} units used"))
    else:
        left = int(cap) - used
        rows.append(_row("ahrefs", "key cap", "fail" if left <= 0 else "ok", f"{max(left, 0):,} of {int(cap):,} units left on the key"))
    expires = lu.get("api_key_expiration_date")
    if expires:
        try:
            at = _dt.datetime.fromisoformat(str(expires).replace("Z", "+00:00"))
            if at.tzinfo is None:
                at = at.replace(tzinfo=_dt.timezone.utc)
            days = (at - now).total_seconds() / 86_400
            status = "fail" if days <= 0 else "warn" if days <= EXPIRY_WARNING_DAYS else "ok"
            detail = (f"expired on {at:%Y-%m-%d}" if days <= 0 else f"expires on {at:%Y-%m-%d}, in {int(days)} days"
                      + (": make a new key in Ahrefs' API keys settings before then" if status == "warn" else ""))
            rows.append(_row("ahrefs", "key expiry", status, detail))
        except ValueError:
            rows.append(_row("ahrefs", "key expiry", "warn", f"unreadable expiry date {expires!r}"))
    return rows


def _ledger(ledger: Any) -> list[dict[str, str]]:
    import seowire

    try:
        led = ledger if isinstance(ledger, seowire.Ledger) else seowire.Ledger(ledger) if ledger else seowire.Ledger(os.environ.get("SEOWIRE_LEDGER") or None)
        t = time.perf_counter()
        led.usage()
        ms = (time.perf_counter() - t) * 1e3
        return [_row("ledger", "reachable", "ok", f"{led.url} answered in {ms:.1f} ms (holds the budgets, limits and the response cache)")]
    except SeowireError as e:
        return [_row("ledger", "reachable", "fail", _failure(e))]


def _clock(provider: str, base_url: str) -> dict[str, str]:
    """This machine's clock against the server's ``Date`` (budgets and periods are by date)."""
    try:
        req = urllib.request.Request(base_url, method="HEAD")
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                date = r.headers.get("Date")
        except urllib.error.HTTPError as e:
            date = e.headers.get("Date")
    except (OSError, ValueError) as e:
        return _row(provider, "clock", "warn", f"could not reach the server to compare clocks ({type(e).__name__})")
    if not date:
        return _row(provider, "clock", "warn", "the server sent no Date header")
    skew = (parsedate_to_datetime(date) - _dt.datetime.now(_dt.timezone.utc)).total_seconds()
    status = "warn" if abs(skew) > CLOCK_SKEW_SECONDS else "ok"
    return _row(provider, "clock", status, f"this machine is {abs(skew):.0f} s {'behind' if skew > 0 else 'ahead of'} the server")
