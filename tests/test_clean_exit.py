"""A clean exit, every time: scripts that use seowire (sync, async, bulk, paging, DEBUG logging,
progress callbacks, cancelled tasks, a forked child) against a plain ThreadingHTTPServer with
daemon threads must exit 0 on every run; no seowire thread may touch a finalizing interpreter."""

import os
import subprocess
import sys
import textwrap

import pytest

import seowire

ROUNDS = int(os.environ.get("SEOWIRE_EXIT_ROUNDS", "6"))

SERVER = r'''
import http.server, json, threading, time

class Moz(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        if body.get("slow"):
            time.sleep(2)
        targets = body.get("targets", [])
        out = json.dumps({"results": [{"page": t + "/", "domain_authority": 50} for t in targets]}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *a):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Moz)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()
BASE = f"http://127.0.0.1:{server.server_address[1]}"
'''

SCRIPTS = {
    "sync_then_async_bulk": r'''
import asyncio, logging, seowire
logging.basicConfig(level=logging.DEBUG)
m = seowire.Moz("tok-abcdef", base_url=BASE, ledger="memory://", concurrency=4, cache=False)
ticks = []
rows = m.url_metrics([f"s{i}.com" for i in range(300)], progress=lambda r, u: ticks.append(r))
async def main():
    return await m.url_metrics_async([f"t{i}.com" for i in range(300)], progress=lambda r, u: ticks.append(r))
more = asyncio.run(main())
print("done", len(rows), len(more), sum(ticks))
''',
    "cancelled_task": r'''
import asyncio, seowire
m = seowire.Moz("tok-abcdef", base_url=BASE, ledger="memory://", concurrency=2, cache=False)
async def main():
    task = asyncio.ensure_future(m.url_metrics_async([f"s{i}.com" for i in range(500)]))
    await asyncio.sleep(0.01)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    # Left running at exit: a call whose answer lands while Python finalizes.
    asyncio.ensure_future(m.url_metrics_async([f"u{i}.com" for i in range(2000)]))
    await asyncio.sleep(0.02)
asyncio.run(main())
print("done", 1, 1, 1)
''',
    "emulator_paging_logging": r'''
import logging, seowire
from seowire.testing import Emulator
logging.basicConfig(level=logging.DEBUG)
with Emulator() as emu:
    sr = seowire.Semrush("key-abcdef", base_url=emu.base_url("semrush"), ledger="memory://", cache=False)
    rows = list(sr.rows("domain_organic", domain="x.com", database="us", page_size=50, max_rows=300))
print("done", len(rows), 1, 1)
''',
    "forked_child": r'''
import os, seowire
m = seowire.Moz("tok-abcdef", base_url=BASE, ledger="memory://", concurrency=2, cache=False)
m.url_metrics(["a.com"])
pid = os.fork()
if pid == 0:
    m.url_metrics([f"c{i}.com" for i in range(120)])
    raise SystemExit(0)  # a normal interpreter exit in the child, finalization and all
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, status
print("done", 1, 1, 1)
''',
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_scripts_exit_cleanly_every_time(name, tmp_path):
    script = tmp_path / f"{name}.py"
    script.write_text(SERVER + textwrap.dedent(SCRIPTS[name]))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.dirname(os.path.dirname(seowire.__file__)), os.environ.get("PYTHONPATH", "")])}
    for round_ in range(ROUNDS):
        out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env)
        assert out.returncode == 0, f"round {round_}: exit {out.returncode}\n{out.stderr[-2000:]}"
        assert out.stdout.strip().splitlines()[-1].startswith("done"), out.stdout[-500:]
