"""An Airflow DAG: a SEMrush keyword report and Moz metrics of the ranking pages, joined into one
table, with every task's spend counted in one shared (Redis) ledger.

Connections (UI, CLI or environment), e.g. for the emulator::

    AIRFLOW_CONN_SEOWIRE_SEMRUSH_DEFAULT='{"conn_type": "seowire-semrush", "password": "<key>",
        "host": "http://127.0.0.1:8787/semrush", "extra": {"ledger": "redis://127.0.0.1:6379/0", "budget": 100000}}'
    AIRFLOW_CONN_SEOWIRE_MOZ_DEFAULT='{"conn_type": "seowire-moz", "password": "<token>",
        "host": "http://127.0.0.1:8787/moz/v2", "extra": {"ledger": "redis://127.0.0.1:6379/0", "plan": "medium"}}'

The table goes to the SQLite file in ``SEO_SNAPSHOT_DB`` (default ``seo_snapshot.sqlite3``).
"""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime
from typing import Any

from airflow.sdk import dag, task

from seowire.airflow import MozHook, SemrushHook

DOMAIN = os.environ.get("SEO_SNAPSHOT_DOMAIN", "example.com")


@dag(schedule="@daily", start_date=datetime(2026, 1, 1), catchup=False, tags=["seo", "seowire"])
def seo_snapshot() -> None:
    @task
    def keywords() -> list[dict[str, Any]]:
        semrush = SemrushHook().get_conn()
        rows = semrush.domain_organic(DOMAIN, database="us", display_limit=100,
                                      export_columns=["Ph", "Po", "Nq", "Cp", "Ur"])
        return [dict(r) for r in rows]  # XCom carries plain dicts

    @task
    def page_metrics(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        moz = MozHook().get_conn()
        pages = sorted({r["url"] for r in rows})
        metrics = moz.url_metrics(pages)
        return [{"url": p, "page_authority": m["page_authority"], "domain_authority": m["domain_authority"],
                 "spam_score": m.get("spam_score")} for p, m in zip(pages, metrics)]

    @task
    def write_table(rows: list[dict[str, Any]], metrics: list[dict[str, Any]]) -> int:
        import pandas as pd

        table = pd.DataFrame(rows).merge(pd.DataFrame(metrics), on="url", how="left")
        table.insert(0, "day", datetime.now().date().isoformat())
        with sqlite3.connect(os.environ.get("SEO_SNAPSHOT_DB", "seo_snapshot.sqlite3")) as db:
            table.to_sql("seo_snapshot", db, if_exists="append", index=False)
        return len(table)

    rows = keywords()
    write_table(rows, page_metrics(rows))


dag_object = seo_snapshot()

if __name__ == "__main__":
    dag_object.test()
