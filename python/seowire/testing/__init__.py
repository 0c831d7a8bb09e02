"""The seowire emulator: a real HTTP server on 127.0.0.1 speaking the providers' wire formats.

Use it to test notebooks, DAGs and pipelines without spending units::

    from seowire.testing import Emulator
    with Emulator() as emu:
        sr = seowire.Semrush("any-key", base_url=emu.base_url("semrush"), ledger="memory://")
        sr.domain_organic("example.com", database="us", display_limit=10)
        emu.stats()["units_charged"]

Or as its own process: ``python -m seowire.testing serve --port 8787``. A pytest fixture,
``seowire_emulator``, gives tests a fresh emulator: ``from seowire.testing import seowire_emulator``
in a ``conftest.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from typing import Any, Iterator

__all__ = ["Emulator", "seowire_emulator"]

# Where each provider lives on the emulator: the path the real base URL ends with.
PROVIDERS = {"semrush": "semrush", "moz": "moz/v2", "mozapi": "moz/jsonrpc", "ahrefs": "ahrefs/v3", "scim": "scim/v2"}


class Emulator:
    """An emulator in this process (``Emulator()``), or a handle on one elsewhere
    (``Emulator(url="http://127.0.0.1:8787")``). Keyword arguments are emulator settings:
    ``balance``, ``keys``, ``latency_ms``, ``rate_limit``, ``concurrency_limit``,
    ``error_status``, ``rows``, ``rows_per_target``, ``trailing_newline``,
    ``balance_thousands_separator``.
    """

    def __init__(self, *, port: int = 0, url: str | None = None, **config: Any) -> None:
        self._port = port
        self._config = config
        self._server: Any = None
        self._process: subprocess.Popen[bytes] | None = None
        self.url = url.rstrip("/") if url else None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> Emulator:
        if self.url is None:
            self._server = _emulator_server(self._port, self._config)
            self.url = f"http://127.0.0.1:{self._server.port}"
        elif self._config:
            self.configure(**self._config)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)
            self._process = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @classmethod
    def spawn(cls, *, port: int = 0, **config: Any) -> Emulator:
        """Start the emulator as its own process (``python -m seowire.testing serve``)."""
        args = [sys.executable, "-m", "seowire.testing", "serve", "--port", str(port)]
        if config:
            args += ["--config", json.dumps(config)]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE)
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().strip()
        if not line.startswith("http://"):
            proc.kill()
            raise RuntimeError(f"emulator process did not start: {line!r}")
        emu = cls(url=line)
        emu._process = proc
        return emu

    # -- addresses and control -------------------------------------------------------------------

    def base_url(self, provider: str = "semrush") -> str:
        if provider not in PROVIDERS:
            raise ValueError(f"the emulator serves {', '.join(PROVIDERS)}, not {provider!r}")
        if self.url is None:
            raise RuntimeError("the emulator is not running: use `with Emulator() as emu:` or .start()")
        return f"{self.url}/{PROVIDERS[provider]}"

    def _control(self, what: str, body: Any = None) -> Any:
        if self.url is None:
            raise RuntimeError("the emulator is not running")
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.url}/_emulator/{what}", data=data, method="POST" if data is not None else "GET")
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def stats(self) -> dict[str, Any]:
        """Counters: requests, units_charged, peak_in_flight, in_flight, rejected_rate, ..."""
        return self._control("stats")["counters"]

    def arrivals(self, provider: str = "semrush") -> list[float]:
        """Arrival times (seconds since start) of requests to one provider."""
        return self._control("arrivals").get(provider, [])

    def reset(self, **config: Any) -> None:
        """Forget counters, balances and faults; start again from default settings plus ``config``."""
        self._control("reset", config)

    def configure(self, **config: Any) -> dict[str, Any]:
        """Change settings, keeping state."""
        return self._control("config", config)

    def fault(self, kind: str, *, count: int = 1, provider: str | None = None, after: int = 0, **fields: Any) -> None:
        """Inject a fault into the next ``count`` requests (to ``provider``, after letting ``after``
        pass): ``status`` (``status=503``, ``retry_after="2"``, ``body=...``), ``error`` (provider
        error body, ``code=132``), ``reset``, ``truncate``, ``slow_body``, ``stall`` (a body that never
        ends), ``latency`` (``delay_ms``), ``html`` (a proxy page under 200), ``echo`` (an error
        quoting the credential sent), ``redirect`` (``location=``), or ``headers`` (the normal
        answer with ``headers={...}`` set, e.g. hostile ``Retry-After`` or cost values); any fault
        also sets its ``headers``."""
        self._control("faults", {"kind": kind, "count": count, "provider": provider, "after": after, **fields})

    def set_balance(self, key: str, units: int, provider: str = "semrush") -> None:
        """Set a key's balance: SEMrush units, Moz rows (``provider="moz"``, the token or access ID)
        or Ahrefs units (``provider="ahrefs"``; a call it cannot pay is refused with 403)."""
        self._control("balance", {"key": _account(provider, key), "units": units})

    def balance(self, key: str, provider: str = "semrush") -> int:
        return self._control("balance", {"key": _account(provider, key)})["units"]


def _account(provider: str, key: str) -> str:
    if provider not in PROVIDERS:
        raise ValueError(f"the emulator serves {', '.join(PROVIDERS)}, not {provider!r}")
    if provider == "scim":
        raise ValueError("SCIM calls cost no units: there is no balance to set")
    return key if provider == "semrush" else f"{provider}:{key}"


def _serve(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m seowire.testing", description="Run the seowire emulator.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve on 127.0.0.1 until interrupted")
    serve.add_argument("--port", type=int, default=8787, help="port (0: any free port)")
    serve.add_argument("--config", default=None, help="emulator settings as JSON")
    args = parser.parse_args(argv)
    config = json.loads(args.config) if args.config else {}
    emu = Emulator(port=args.port, **config).start()
    print(emu.url, flush=True)
    where = ", ".join(f"{p} at {emu.base_url(p)}" for p in PROVIDERS)
    print(f"seowire emulator on {emu.url} ({where}); Ctrl-C to stop", file=sys.stderr, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
    return 0


def _emulator_server(port: int, config: dict[str, Any]) -> Any:
    from .. import _seowire

    return _seowire.EmulatorServer(port, json.dumps(config) if config else None)


def _emulator_fixture() -> Iterator[Emulator]:
    """A fresh in-process emulator for one test."""
    with Emulator() as emu:
        yield emu


try:  # a pytest fixture where pytest is installed; the plain generator elsewhere
    import pytest  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # pragma: no cover
    seowire_emulator = _emulator_fixture
else:
    seowire_emulator = pytest.fixture(_emulator_fixture, name="seowire_emulator")
