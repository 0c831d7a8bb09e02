"""A real redis-server (Debian's package) on a free port, started and stopped by the tests."""

import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    def __init__(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            if os.environ.get("SEOWIRE_REQUIRE_REDIS") == "1":
                pytest.fail("redis-server is required (SEOWIRE_REQUIRE_REDIS=1) but not installed")
            pytest.skip("redis-server not installed (apt-get install redis-server); CI sets SEOWIRE_REQUIRE_REDIS=1")
        self.exe = exe
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="seowire-redis-")
        self.proc = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir, "--appendonly", "yes",
             "--appendfsync", "always", "--save", "", "--daemonize", "no", "--logfile", os.path.join(self.dir, "log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.cli("PING") == "PONG":
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def cli(self, *args: str) -> str:
        """One command over RESP, without a client library."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            payload = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
            s.sendall(payload.encode())
            data = s.recv(65536).decode()
        kind, rest = data[0], data[1:].split("\r\n")[0]
        if kind in "+:":
            return rest
        if kind == "$":
            return "" if rest == "-1" else data.split("\r\n")[1]
        if kind == "-":
            raise RuntimeError(rest)
        return data

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
