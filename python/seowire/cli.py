"""The ``seowire`` command."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Sequence


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:,.2f}"
        if isinstance(v, int):
            return f"{v:,}"
        return "" if v is None else str(v)

    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    numeric = [all(isinstance(r.get(c), (int, float)) for r in rows) for c in columns]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric)).rstrip()

    out = [line(columns), line(["-" * w for w in widths])]
    out += [line(row) for row in cells]
    return "\n".join(out)


def demo(args: argparse.Namespace) -> int:
    """Keyword gap between two domains, on the embedded emulator: no key, no units spent."""
    import seowire
    from seowire.testing import Emulator

    ours, rival, db = args.domain, args.competitor, args.database
    with Emulator() as emu:
        sr = seowire.Semrush("demo-key", base_url=emu.base_url("semrush"), ledger="memory://", budget=args.budget)
        start = sr.balance()
        print(f"seowire {seowire.__version__} demo: keyword gap, {rival} vs {ours} ({db} database), on the offline emulator\n")
        estimate = sr.estimate("domain_organic", domain=ours, database=db, display_limit=args.rows) * 2
        print(f"Worst case for both reports: {estimate:,} units (reserved before sending, committed per line received)")
        mine = sr.domain_organic(ours, database=db, display_limit=args.rows)
        theirs = sr.domain_organic(rival, database=db, display_limit=args.rows)
        have = {r["keyword"] for r in mine}
        best: dict[str, dict[str, Any]] = {}
        for r in theirs:
            if r["keyword"] not in have and r["position"] <= 20:
                if r["keyword"] not in best or r["position"] < best[r["keyword"]]["position"]:
                    best[r["keyword"]] = r
        gap = sorted(best.values(), key=lambda r: r["search_volume"], reverse=True)
        print(f"{ours}: {len(mine)} keywords ({mine.units:,} units); {rival}: {len(theirs)} keywords ({theirs.units:,} units)\n")
        print(f"Top {min(args.top, len(gap))} of {len(gap)} keywords where {rival} ranks in the top 20 and {ours} does not:\n")
        print(_table(gap[: args.top], ["keyword", "position", "search_volume", "cpc", "competition"]))
        spent = mine.units + theirs.units
        left = sr.balance()
        usage = sr.ledger.usage()[0]
        print(f"\nUnits: {spent:,} spent (ledger: {usage['spent']:,} committed, {usage['reserved']} reserved); "
              f"balance {start:,} -> {left:,}; emulator charged {emu.stats()['units_charged']:,}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="seowire", description="seowire: SEMrush, Ahrefs and Moz from one client.")
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="an offline keyword-gap analysis on the embedded emulator")
    d.add_argument("--domain", default="ourshop.com")
    d.add_argument("--competitor", default="rival.com")
    d.add_argument("--database", default="us")
    d.add_argument("--rows", type=int, default=500, help="rows of each domain_organic report")
    d.add_argument("--top", type=int, default=15)
    d.add_argument("--budget", type=int, default=20_000, help="unit budget for the demo account")
    d.set_defaults(run=demo)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except Exception as e:  # errors on stderr, never a secret (messages are redacted)
        from seowire.exceptions import SeowireError

        if isinstance(e, SeowireError):
            print(f"seowire: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
