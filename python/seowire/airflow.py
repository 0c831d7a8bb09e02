"""Airflow hooks: one per provider, each reading an Airflow connection.

The key or token goes in the connection's **password** (Moz Basic auth: access ID in **login**,
secret key in **password**). The **host** optionally replaces the provider's base URL (point it
at the emulator in tests). Extras, all optional::

    {"budget": 50000, "budget_period": "month", "ledger": "redis://redis:6379/0",
     "plan": "medium", "concurrency": 5, "rate_limit": 60, "cache": false, "timeout": 60}

Give every connection of a team the same ``ledger`` URL (Redis across workers) and their spend is
counted in one place. Connection types (``seowire-semrush``, ``seowire-moz``, ``seowire-ahrefs``)
are registered through the ``apache_airflow_provider`` entry point. Install with
``pip install 'seowire[airflow]'``.
"""

from __future__ import annotations

from typing import Any

from ._common import Budget
from .exceptions import InvalidRequest, MissingExtra


class _NoAirflowHook:
    """Stands in for BaseHook without Airflow: the module imports (type checkers, docs), but a
    hook cannot be built."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise MissingExtra("seowire.airflow needs Apache Airflow: pip install 'seowire[airflow]'")


try:
    from airflow.sdk import BaseHook  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # Airflow 2.x
    try:
        from airflow.hooks.base import BaseHook  # type: ignore[no-redef, attr-defined, import-not-found, unused-ignore]
    except ImportError:
        BaseHook = _NoAirflowHook  # type: ignore[misc, assignment, unused-ignore]

__all__ = ["SeowireHook", "SemrushHook", "MozHook", "AhrefsHook", "get_provider_info"]

# Extras each client understands, with the type they must have.
_COMMON = {"budget": int, "budget_period": str, "ledger": str, "cache": (bool, int, float), "timeout": (int, float)}
_EXTRAS: dict[str, dict[str, Any]] = {
    "semrush": {**_COMMON, "rate_limit": (int, float), "max_in_flight": int},
    "moz": {**_COMMON, "plan": str, "concurrency": int, "api_url": str, "scope": str, "locale": str, "breaker": int},
    "ahrefs": {**_COMMON, "rate_limit": (int, float)},
}


class SeowireHook(BaseHook):  # type: ignore[misc]
    """Builds a seowire client from an Airflow connection; ``get_conn()`` returns it (cached)."""

    conn_name_attr = "seowire_conn_id"
    provider = ""
    default_conn_name = ""
    conn_type = ""
    hook_name = ""

    def __init__(self, seowire_conn_id: str | None = None, **client_options: Any) -> None:
        super().__init__()
        self.seowire_conn_id = seowire_conn_id or self.default_conn_name
        self._options = client_options
        self._client: Any = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(seowire_conn_id={self.seowire_conn_id!r})"

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden-fields": ["schema", "port"] + ([] if cls.provider == "moz" else ["login"]),
            "relabeling": {"password": "API token" if cls.provider == "moz" else "API key", "host": "Base URL (optional)",
                           **({"login": "Access ID (Basic auth only)"} if cls.provider == "moz" else {})},
            "placeholders": {"extra": '{"budget": 50000, "ledger": "redis://redis:6379/0"}'},
        }

    def options(self) -> dict[str, Any]:
        """The client's keyword arguments from the connection (secrets included: never log it)."""
        conn = self.get_connection(self.seowire_conn_id)
        extra = dict(conn.extra_dejson or {})
        allowed = _EXTRAS[self.provider]
        for name, value in extra.items():
            if name not in allowed:
                raise InvalidRequest(f"connection {self.seowire_conn_id!r}: unknown extra {name!r}; known: {', '.join(sorted(allowed))}")
            if not isinstance(value, allowed[name]) or (allowed[name] is int and isinstance(value, bool)):
                raise InvalidRequest(f"connection {self.seowire_conn_id!r}: extra {name!r} has the wrong type")
        opts: dict[str, Any] = {}
        if "budget" in extra:
            opts["budget"] = Budget(extra.pop("budget"), period=extra.pop("budget_period", "month"))
        elif "budget_period" in extra:
            raise InvalidRequest(f"connection {self.seowire_conn_id!r}: budget_period without budget")
        opts.update(extra)
        if conn.host:
            host = conn.host if "://" in conn.host else f"https://{conn.host}"
            opts["base_url"] = host.rstrip("/")
        if self.provider == "moz" and conn.login:
            opts["access_id"], opts["secret_key"] = conn.login, conn.password
        elif self.provider == "moz":
            opts["token"] = conn.password
        else:
            opts["api_key"] = conn.password
        opts.update(self._options)
        return opts

    def _make(self, options: dict[str, Any]) -> Any:
        raise NotImplementedError

    def get_conn(self) -> Any:
        if self._client is None:
            self._client = self._make(self.options())
        return self._client


class SemrushHook(SeowireHook):
    """A :class:`seowire.Semrush` client from a ``seowire-semrush`` connection."""

    provider = "semrush"
    default_conn_name = "seowire_semrush_default"
    conn_type = "seowire-semrush"
    hook_name = "SEMrush (seowire)"

    def _make(self, options: dict[str, Any]) -> Any:
        from .semrush import Semrush

        return Semrush(options.pop("api_key"), **options)


class MozHook(SeowireHook):
    """A :class:`seowire.Moz` client from a ``seowire-moz`` connection."""

    provider = "moz"
    default_conn_name = "seowire_moz_default"
    conn_type = "seowire-moz"
    hook_name = "Moz Links API (seowire)"

    def _make(self, options: dict[str, Any]) -> Any:
        from .moz import Moz

        return Moz(options.pop("token", None), **options)


class AhrefsHook(SeowireHook):
    """A :class:`seowire.Ahrefs` client from a ``seowire-ahrefs`` connection."""

    provider = "ahrefs"
    default_conn_name = "seowire_ahrefs_default"
    conn_type = "seowire-ahrefs"
    hook_name = "Ahrefs API v3 (seowire)"

    def _make(self, options: dict[str, Any]) -> Any:
        from .ahrefs import Ahrefs

        return Ahrefs(options.pop("api_key"), **options)


def get_provider_info() -> dict[str, Any]:
    """The ``apache_airflow_provider`` entry point: registers the connection types."""
    from . import __version__

    return {
        "package-name": "seowire",
        "name": "seowire",
        "description": "SEMrush, Moz and Ahrefs clients with a shared unit ledger.",
        "versions": [__version__],
        "connection-types": [
            {"hook-class-name": f"seowire.airflow.{h.__name__}", "connection-type": h.conn_type, "hook-name": h.hook_name,
             "ui-field-behaviour": h.get_ui_field_behaviour()}
            for h in (SemrushHook, MozHook, AhrefsHook)
        ],
    }
