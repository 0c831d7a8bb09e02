//! The catalogs, as JSON text for the Python side (`seowire.catalog`): the CLI's `endpoints`,
//! the generated reference pages and the tests read the same description the core validates with.

use pyo3::prelude::*;
use serde_json::{json, Value};

use crate::providers::{moz, semrush, semrush_trends, semrush_v4};

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
                "api": "analytics_v3",
            })
        })
        .collect();
    let mut ops = ops;
    // API v4 (the v4 key), named operations; any other v4 path goes through `v4()` with a price given.
    for o in semrush_v4::OPS {
        let (rule, units) = match o.price {
            semrush_v4::Price::PerRequest(n) => ("per_request", n),
            semrush_v4::Price::PerLine(n) => ("per_line", n),
        };
        let types: serde_json::Map<String, Value> = o
            .params
            .iter()
            .map(|p| (p.to_string(), json!(semrush_v4::PARAM_TYPES.iter().find(|(n, _)| n == p).map_or("string", |(_, t)| *t))))
            .collect();
        let defaults: serde_json::Map<String, Value> =
            semrush_v4::DEFAULTS.iter().filter(|(n, _)| o.params.contains(n)).map(|(n, v)| (n.to_string(), json!(v))).collect();
        ops.push(json!({
            "name": o.name, "path": o.path, "api": "v4", "about": o.about, "params": o.params, "required": o.required,
            "param_types": types, "defaults": defaults, "scopes": semrush_v4::SCOPES,
            "pricing": {"rule": rule, "units": units, "tag": o.tag, "overridable": "v4_prices="},
            "paging": if o.paged { "limit_offset" } else { "none" },
        }));
    }
    // Trends API v3 (traffic analytics), its own allowance.
    for r in semrush_trends::REPORTS {
        let pricing = match r.price {
            semrush_trends::Price::PerLine(n) => json!({"rule": "per_line", "units": n, "tag": "C SRDOC trends", "note": "only targets with data are billed"}),
            semrush_trends::Price::PerRequest { units, empty_billed } => {
                json!({"rule": "per_request", "units": units, "tag": "C SRDOC trends", "note": if empty_billed { "billed even when empty" } else { "not billed when empty" }})
            }
        };
        ops.push(json!({
            "name": format!("trends_{}", r.name), "report": r.name, "about": r.about, "api": "trends", "params": r.params, "required": r.required,
            "pricing": pricing, "paging": if r.params.contains(&"display_offset") { "offset" } else { "none" },
        }));
    }
    // Projects APIs (Position Tracking, Site Audit): the counts a call covers are asked for.
    for (name, path, rule, units, needs) in [
        ("list_projects", "management/v1/projects", "per_request", 100u64, ""),
        ("tracking_position_organic", "reports/v1/projects/{id}/tracking/?type=tracking_position_organic", "per_keyword", 100, "keywords="),
        ("site_audit_info", "reports/v1/projects/{id}/siteaudit/info", "per_request", 100, ""),
        ("site_audit_snapshots", "reports/v1/projects/{id}/siteaudit/snapshots", "per_request", 100, ""),
        ("site_audit_snapshot", "reports/v1/projects/{id}/siteaudit/snapshot/{snapshot_id}", "per_snapshot", 10_000, ""),
        ("projects:tracking_competitors_discovery", "reports/v1/projects/{id}/tracking/", "per_competitor", 1000, "competitors="),
        ("projects:siteaudit_history", "reports/v1/projects/{id}/siteaudit/history", "per_snapshot", 10_000, "snapshots="),
    ] {
        ops.push(json!({
            "name": name, "path": path, "api": "projects", "params": [], "required": if needs.is_empty() { json!([]) } else { json!([needs.trim_end_matches('=')]) },
            "pricing": {"rule": rule, "units": units, "tag": "C SRMIR projects", "asks": needs},
            "paging": "none",
        }));
    }
    json!({"provider": "semrush", "source": "SEMrush Analytics API v3 (providers.md §3); API v4, Trends API v3 and the Projects APIs (providers-next.md §2)", "operations": ops})
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
            let types: serde_json::Map<String, Value> = e
                .fields
                .iter()
                .map(|f| {
                    let ty = moz::PARAM_TYPES.iter().find(|(n, _)| n == f).map_or("string", |(_, t)| *t);
                    (f.to_string(), json!(ty))
                })
                .collect();
            // In the answer's order: [name, type] pairs (a JSON object would sort them).
            let fields: Vec<Value> = e.answer.fields().into_iter().map(|(n, t)| json!([n, t])).collect();
            json!({
                "name": e.name,
                "about": e.about,
                "params": e.fields,
                "param_types": types,
                "scopes": moz::SCOPES,
                "required": e.required,
                "list": e.rows,
                "fields": fields,
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
