"""SEMrush Projects, Position Tracking and Site Audit (v3): unit rules that need counts, the
index-keyed positions as rows, {code, message} errors, against the emulator and the fixtures."""

import http.server
import json
import threading

import pytest

import seowire
from seowire.exceptions import InvalidRequest, UnitsExhausted

from conftest import SECRET


def test_projects_and_site_audit(semrush, emu):
    sr = semrush()
    projects = sr.list_projects()
    assert projects[0]["project_name"] == "myproject"
    info = sr.site_audit_info(projects[0]["project_id"])
    assert info["status"] == "FINISHED" and isinstance(info["last_audit"], int)
    snaps = sr.site_audit_snapshots(projects[0]["project_id"])
    issues = sr.site_audit_snapshot(projects[0]["project_id"], snaps[0]["snapshot_id"])
    assert {"errors", "warnings", "notices"} <= set(issues)
    assert emu.stats()["units_charged"] == 100 * 3 + 10_000
    assert sum(u["spent"] for u in sr.ledger.usage()) == 10_300


def test_positions_need_the_keyword_count_and_become_rows(semrush, emu):
    emu.configure(semrush_tracking_keywords=7)
    sr = semrush()
    with pytest.raises(InvalidRequest, match="keywords="):
        sr.projects("reports/v1/projects/1_2/tracking/", action="report", type="tracking_position_organic", url="*.example.com/*")
    assert emu.stats()["requests"] == 0
    rows = sr.tracking_position_organic("1_2", keywords=7, url=["*.example.com/*", "*.rival.com/*"])
    assert [r["Ph"] for r in rows] == [f"keyword {i}" for i in range(7)]
    assert isinstance(rows[0]["Cp"], float) and isinstance(rows[0]["Nq"], int) and isinstance(rows[0]["Pi"], str)
    assert rows.units == 700 and emu.stats()["units_charged"] == 700


def test_errors_under_400_map_to_the_shared_exceptions(semrush, emu):
    sr = semrush()
    with pytest.raises(InvalidRequest, match="512"):
        sr.site_audit_info(0)
    emu.set_balance(SECRET, 50)
    with pytest.raises(UnitsExhausted):
        sr.list_projects()
    with pytest.raises(InvalidRequest):
        sr.projects("../../users")


def test_the_position_tracking_fixture_decodes_to_typed_rows(fixtures):
    doc = json.loads((fixtures / "semrush_projects_tracking_position_organic_1.json").read_text())
    listed = json.loads((fixtures / "semrush_projects_list_1.json").read_text())

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(listed if "/management/" in self.path else doc).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sr = seowire.Semrush(SECRET, base_url=f"http://127.0.0.1:{server.server_address[1]}", ledger="memory://", cache=False, rate_limit=None)
        rows = sr.tracking_position_organic("1_2", keywords=2, url="*.apple.com/*:*.amazon.com/*", date_begin="20210521", date_end="20210527")
        projects = sr.list_projects()
    finally:
        server.shutdown()
    first = doc["data"]["0"]
    assert rows[0]["Ph"] == first["Ph"] and rows[0]["Cp"] == float(first["Cp"]) and rows[0]["Nq"] == int(first["Nq"])
    assert rows[0]["Dt"] == first["Dt"] and rows.requested == doc["total"]
    assert len(rows) == len(doc["data"])
    assert projects == [listed] and projects[0]["project_id"] == 643526670283248


def test_the_named_projects_methods_have_async_twins(semrush, emu):
    import asyncio

    sr = semrush()
    sync = sr.list_projects()
    emu.reset()
    asynced = asyncio.run(sr.list_projects_async())
    assert asynced == sync and len(sync) >= 1
    pid = sync[0]["project_id"]
    assert asyncio.run(sr.site_audit_info_async(pid)) == sr.site_audit_info(pid)
    assert asyncio.run(sr.site_audit_snapshots_async(pid)) == sr.site_audit_snapshots(pid)
