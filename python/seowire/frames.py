"""Report rows as Arrow tables, pandas or polars DataFrames.

The table is built in Rust with a typed schema (SEMrush columns from the column table; Ahrefs
columns from the catalog's field types, so an empty page or a page of nulls has the same schema
as a full one; Moz columns from the JSON values: ints, floats, dates, strings, lists) and handed over through
the Arrow C stream interface, so no Python loop touches the rows. What the call cost travels
with the frame: ``table.schema.metadata[b"seowire"]`` (JSON) for Arrow, ``df.attrs["seowire"]``
for pandas.
"""

from __future__ import annotations

import importlib.util
import json
from typing import Any, Literal, TypeAlias, Union

from . import _seowire
from .exceptions import InvalidRequest, MissingExtra

__all__ = ["Output", "OUTPUTS", "check", "convert"]

Output: TypeAlias = Union[Literal["dicts"], Literal["arrow"], Literal["pandas"], Literal["polars"]]
OUTPUTS: tuple[str, ...] = ("dicts", "arrow", "pandas", "polars")

# What each output imports, and the extra that installs it.
_NEEDS = {"arrow": ("pyarrow",), "pandas": ("pandas", "pyarrow"), "polars": ("polars",)}
_COST = ("provider", "report", "units", "estimate", "partial", "lines", "requested", "offset", "cached", "next_token", "requests",
         "first", "cached_requests")


def check(output: str) -> bool:
    """Validate ``output=`` before anything is sent; True when a frame is wanted."""
    if output not in OUTPUTS:
        raise InvalidRequest(f"output must be one of {', '.join(map(repr, OUTPUTS))}, not {output!r}")
    for module in _NEEDS.get(output, ()):
        if importlib.util.find_spec(module) is None:
            raise MissingExtra(f"output={output!r} needs {module}, which is not installed: pip install 'seowire[{output}]'")
    return output != "dicts"


def convert(data: Any, output: str, meta: dict[str, Any] | None = None, names: list[str] | None = None,
            types: dict[str, str] | None = None) -> Any:
    """Rows (a list of dicts, a dict, or an Arrow table from the core) as the asked-for frame.
    ``types`` (field -> catalog type) fixes the columns the catalog describes."""
    table = data if hasattr(data, "__arrow_c_stream__") else _seowire.rows_table(data, names, types)
    cost = {k: meta.get(k) for k in _COST if k in meta} if meta else {}
    if output == "polars":
        import polars

        return polars.DataFrame(table)
    import pyarrow  # type: ignore[import-untyped, import-not-found, unused-ignore]

    # Not pyarrow.table(): it asks pandas first whether this is a DataFrame, importing it
    # (half a second) for an answer that is an Arrow stream.
    result = table if isinstance(table, pyarrow.Table) else pyarrow.RecordBatchReader.from_stream(table).read_all()
    if cost:
        result = result.replace_schema_metadata({"seowire": json.dumps(cost)})
    if output == "arrow":
        return result
    # Lists (trends) stay Arrow-backed (pd.ArrowDtype): no Python object per cell.
    frame = result.to_pandas(date_as_object=False, types_mapper=_lists_as_arrow)
    frame.attrs["seowire"] = cost
    return frame


def _lists_as_arrow(arrow_type: Any) -> Any:
    import pandas  # type: ignore[import-untyped, import-not-found, unused-ignore]
    import pyarrow  # type: ignore[import-untyped, import-not-found, unused-ignore]

    return pandas.ArrowDtype(arrow_type) if pyarrow.types.is_list(arrow_type) else None
