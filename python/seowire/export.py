"""Streaming a paged or bulk call to a file with bounded memory.

``client.export(endpoint, ..., to="rows.parquet")`` (or ``.csv``, ``.jsonl``) pulls the call's
batches as Arrow tables (``pages()`` for a paged report, ``stream=True`` for a bulk method) and
appends each to the file as it arrives: a Parquet row group, CSV lines or JSON lines. Only one
batch is in memory at a time. The schema is the first batch's (the catalog's types); what the
call cost is written into the file (Parquet key-value metadata ``seowire``) and returned.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any, Iterable

from .exceptions import InvalidRequest, MissingExtra

__all__ = ["FORMATS", "write"]

FORMATS = ("parquet", "csv", "jsonl")
_SUM = ("units", "requests", "cached_requests")


def format_of(path: str | os.PathLike[str], format: str | None = None) -> str:
    """The file format from ``format=`` or the path's suffix; refused before anything is sent."""
    fmt = (format or pathlib.Path(path).suffix.lstrip(".")).lower()
    fmt = {"pq": "parquet", "ndjson": "jsonl"}.get(fmt, fmt)
    if fmt not in FORMATS:
        raise InvalidRequest(f"export writes {', '.join(FORMATS)} (from the file's suffix or format=), not {fmt or 'a file without a suffix'!r}")
    try:
        import pyarrow  # type: ignore[import-untyped, import-not-found, unused-ignore]  # noqa: F401
    except ImportError:
        raise MissingExtra("export needs pyarrow, which is not installed: pip install 'seowire[arrow]'") from None
    return fmt


def write(batches: Iterable[Any], to: str | os.PathLike[str], format: str | None = None) -> dict[str, Any]:
    """Append each Arrow table of ``batches`` to ``to`` and return what the call cost: ``rows``,
    ``units``, ``requests``, ``cached_requests``, ``batches``, ``path``, ``format``. The file is
    written to a temporary name beside ``to`` and renamed at the end, so a failed or interrupted
    export never leaves a half-written file that looks complete."""
    import pyarrow as pa  # type: ignore[import-untyped, import-not-found, unused-ignore]

    fmt = format_of(to, format)
    path = pathlib.Path(to)
    part = path.with_name(f".{path.name}.part")
    cost: dict[str, Any] = {"rows": 0, "batches": 0, **{k: 0 for k in _SUM}}
    first_meta: dict[str, Any] = {}
    schema = None
    writer: Any = None
    out: Any = None
    try:
        for batch in batches:
            table = pa.table(batch)
            meta = json.loads((table.schema.metadata or {}).get(b"seowire", b"{}"))
            first_meta = first_meta or meta
            for k in _SUM:
                cost[k] += int(meta.get(k) or 0)
            table = table.replace_schema_metadata(None)
            if fmt == "csv":
                table = _csv_cells(table)
            if schema is None:
                schema = table.schema
                writer, out = _open(fmt, part, schema)
            elif table.schema != schema:
                table = _conform(table, schema)
            cost["rows"] += table.num_rows
            cost["batches"] += 1
            _append(fmt, writer, out, table)
        if schema is None:  # no rows at all: an empty file of the right kind
            schema = pa.schema([])
            writer, out = _open(fmt, part, schema)
        info = {"provider": first_meta.get("provider"), "report": first_meta.get("report"), **cost,
                "columns": {f.name: str(f.type) for f in schema}}
        if fmt == "parquet":
            writer.add_key_value_metadata({"seowire": json.dumps(info)})
        _close(fmt, writer, out)
        writer = out = None
        os.replace(part, path)
    finally:
        if writer is not None or out is not None:
            try:
                _close(fmt, writer, out)
            except Exception:  # noqa: BLE001 - the first failure is the one to raise
                pass
        if part.exists():
            part.unlink()
    return {**cost, "path": str(path), "format": fmt, "provider": first_meta.get("provider"), "report": first_meta.get("report")}


def _csv_cells(table: Any) -> Any:
    """Lists and nested values as their JSON text: CSV cells hold text, not structure."""
    import pyarrow as pa  # type: ignore[import-untyped, import-not-found, unused-ignore]

    for i, field in enumerate(table.schema):
        if pa.types.is_nested(field.type):
            text = pa.array([None if v is None else json.dumps(v, default=str) for v in table.column(i).to_pylist()], pa.string())
            table = table.set_column(i, pa.field(field.name, pa.string()), text)
    return table


def _conform(table: Any, schema: Any) -> Any:
    """A later batch in the first batch's schema: a column that was all null there takes this
    batch's values only if they fit its type; a new column is an error, never dropped."""
    import pyarrow as pa  # type: ignore[import-untyped, import-not-found, unused-ignore]

    extra = [n for n in table.schema.names if n not in schema.names]
    if extra:
        raise InvalidRequest(f"a later batch has columns the file's schema lacks ({', '.join(extra)}); export to .jsonl keeps any shape")
    columns = [table.column(f.name).cast(f.type) if f.name in table.schema.names else pa.nulls(table.num_rows, f.type) for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def _open(fmt: str, part: pathlib.Path, schema: Any) -> tuple[Any, Any]:
    if fmt == "parquet":
        import pyarrow.parquet as pq  # type: ignore[import-untyped, import-not-found, unused-ignore]

        return pq.ParquetWriter(part, schema), None
    if fmt == "csv":
        import pyarrow.csv as pcsv  # type: ignore[import-untyped, import-not-found, unused-ignore]

        return pcsv.CSVWriter(part, schema), None
    return None, open(part, "w", encoding="utf-8")


def _append(fmt: str, writer: Any, out: Any, table: Any) -> None:
    if fmt in ("parquet", "csv"):
        writer.write_table(table)
        return
    for row in table.to_pylist():
        out.write(json.dumps(row, default=str, ensure_ascii=False))
        out.write("\n")


def _close(fmt: str, writer: Any, out: Any) -> None:
    if writer is not None:
        writer.close()
    if out is not None:
        out.close()
