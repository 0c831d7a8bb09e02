"""A small typed use of seowire; `mypy --strict examples/typed.py` passes (checked by the tests)."""

from __future__ import annotations

import seowire


def keyword_volumes(sr: seowire.Semrush, domain: str) -> dict[str, int]:
    rows = sr.domain_organic(domain, database="us", display_limit=100)
    return {str(r["keyword"]): int(r["search_volume"]) for r in rows}


def authority(moz: seowire.Moz, urls: list[str]) -> list[tuple[str, int]]:
    return [(str(r["page"]), int(r["domain_authority"])) for r in moz.url_metrics(urls)]


def cost(ah: seowire.Ahrefs) -> int:
    return ah.estimate("all_backlinks", target="example.com", select=["url_from", "traffic"], limit=1000)


def spent(ledger: seowire.Ledger) -> int:
    return sum(int(u["spent"]) for u in ledger.usage())


def progress_lines(moz: seowire.Moz, urls: list[str]) -> list[str]:
    lines: list[str] = []

    def report(p: seowire.Progress) -> None:
        lines.append(f"{p.rows}/{p.total} rows, {p.units} units")

    moz.url_metrics(urls, progress=report)
    return lines


def frame_rows(sr: seowire.Semrush) -> int:
    # report() is overloaded: output="dicts" gives Rows, a frame output gives the frame.
    frame = sr.report("domain_organic", domain="example.com", database="us", display_limit=10, output="arrow")
    return int(frame.num_rows)
