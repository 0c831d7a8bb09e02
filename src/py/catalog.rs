//! The catalogs, as JSON text for the Python side (`seowire.catalog`): the CLI's `endpoints`,
//! the generated reference pages and the tests read the same description the core validates with.

use pyo3::prelude::*;
use serde_json::{json, Value};

use crate::providers::{moz, semrush};

/// The catalog of one provider as JSON: `{"provider", "source", "operations": [...]}`.
#[pyfunction]
pub fn catalog(py: Python<'_>, provider: &str) -> PyResult<String> {
    match provider {
        "ahrefs" => Ok(crate::catalog::AHREFS_JSON.to_string()),
        "semrush" => Ok(semrush_catalog().to_string()),
        "moz" => Ok(moz_catalog().to_string()),
        other => Err(super::to_pyerr(py, super::invalid(format!("no catalog for {other:?}: one of ahrefs, moz, semrush")))),
    }
}

fn semrush_catalog() -> Value {
    let ops: Vec<Value> = semrush::REPORTS
        .iter()
        .map(|r| {
            json!({
                "name": r.name,
                "host": format!("{:?}", r.host),
                "target": format!("{:?}", r.target),
                "database": r.database,
                "columns": r.columns,
                "lines": format!("{:?}", r.lines),
                "pricing": {
                    "rule": if r.per_request { "per_request" } else { "per_line" },
                    "units": r.live,
                    "historical": r.hist,
                    "tag": "C SRDOC prices",
                },
                "paging": if format!("{:?}", r.lines) == "Limit" { "offset" } else { "none" },
            })
        })
        .collect();
    json!({"provider": "semrush", "source": "SEMrush Analytics API v3 (providers.md §3)", "operations": ops})
}

fn moz_catalog() -> Value {
    let ops: Vec<Value> = moz::ENDPOINTS
        .iter()
        .map(|e| {
            let pricing = match e.cost {
                moz::Cost::Free => json!({"rule": "free", "tag": "C MOZDOC"}),
                moz::Cost::PerResult(n) => json!({"rule": "per_result", "units": n, "tag": "C MOZDOC"}),
                moz::Cost::PerSource(n) => json!({"rule": "per_source", "units": n, "tag": "C MOZDOC"}),
                moz::Cost::UrlMetrics => json!({"rule": "per_target", "units": 1, "tag": "C MOZDOC"}),
            };
            json!({
                "name": e.name,
                "params": e.fields,
                "required": e.required,
                "list": e.rows,
                "pricing": pricing,
                "paging": if e.pageable { "next_token" } else { "none" },
                "api": "links_v2",
            })
        })
        .collect();
    // The Moz API's methods first (catalog/moz.json), then the Links v2 endpoints.
    let mut rpc: Value = serde_json::from_str(crate::catalog::MOZ_JSON).unwrap_or_else(|_| json!({"operations": []}));
    let mut all: Vec<Value> = rpc["operations"].as_array_mut().map(std::mem::take).unwrap_or_default();
    for op in &mut all {
        op["api"] = json!("jsonrpc");
    }
    all.extend(ops);
    json!({
        "provider": "moz",
        "source": format!("{}; and Moz Links API v2 (providers.md §1)", rpc["source"].as_str().unwrap_or("Moz API method schema")),
        "facts": rpc["facts"].take(),
        "operations": all,
    })
}
