"""Load SEMrush, Moz and Ahrefs snapshots into DuckDB with dlt, once per month.

    python examples/dlt_pipeline.py [warehouse.duckdb]

Keys come from the environment (SEMRUSH_API_KEY, MOZ_TOKEN, AHREFS_API_KEY); without them the
example runs against seowire's embedded emulator, so it works offline. Run it twice: the second
run in the same month loads nothing new and spends nothing.
"""

from __future__ import annotations

import os
import sys

import dlt

import seowire
from seowire.dlt import ahrefs_source, moz_source, semrush_source


def main(path: str = "warehouse.duckdb") -> None:
    emulator = None
    if not os.environ.get("SEMRUSH_API_KEY"):
        from seowire.testing import Emulator

        emulator = Emulator().start()
        os.environ.update({"SEMRUSH_API_KEY": "example-key", "MOZ_TOKEN": "example-token", "AHREFS_API_KEY": "example-ahrefs",
                           "SEOWIRE_SEMRUSH_URL": emulator.base_url("semrush"), "SEOWIRE_MOZ_URL": emulator.base_url("moz"),
                           "SEOWIRE_AHREFS_URL": emulator.base_url("ahrefs")})
    try:
        ledger = seowire.Ledger()  # SEOWIRE_LEDGER, or the default SQLite file: budgets, cache, call log
        pipeline = dlt.pipeline("seo_snapshots", destination=dlt.destinations.duckdb(path), dataset_name="seo_data")
        domains = ["example.com", "example.org"]
        pipeline.run(semrush_source(seowire.Semrush(ledger=ledger, tag="dlt-example"), resources=["domain_organic", "backlinks_overview"],
                                    domains=domains, targets=domains, database="us", display_limit=100, budget=20_000))
        pipeline.run(moz_source(seowire.Moz(ledger=ledger, tag="dlt-example"), resources=["url_metrics"], targets=domains, budget=1_000))
        pipeline.run(ahrefs_source(seowire.Ahrefs(ledger=ledger, tag="dlt-example", rate_limit=None), resources=["refdomains"],
                                   targets=domains, select=["domain", "domain_rating", "first_seen"], limit=50, budget=5_000))
        spent = {r["provider"]: r["spent"] for r in ledger.usage(by="provider", since="1h")}
        print(f"loaded into {path}; spent in the last hour: {spent}")
    finally:
        if emulator is not None:
            emulator.stop()


if __name__ == "__main__":
    main(*sys.argv[1:])
