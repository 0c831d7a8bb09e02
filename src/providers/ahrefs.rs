//! Ahrefs API v3: GET + Bearer, JSON with one top-level key, units = max(50, per-row field cost
//! x rows), `x-api-*` cost headers, 60 requests/minute. Facts from providers.md §2.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::{Map, Value};

use super::{error_text, is_date, JsonPage, Unwrap};
use std::sync::OnceLock;

use crate::catalog::{self, Operation};
use crate::error::{Error, Kind, Result};
use crate::http::{account_hash, retry_after, Call, Engine, Reply, Request};
use crate::ledger::{civil_from_days, Budget, Ledger, Record};
use crate::limits::{Limits, Rate};
use crate::retry::RetryPolicy;

pub const PROVIDER: &str = "ahrefs";
pub const DEFAULT_BASE: &str = "https://api.ahrefs.com/v3";
pub const BASE_COST: u64 = 50;
/// Rows a list report returns when `limit` is not given (spec default). [C]
pub const DEFAULT_LIMIT: u64 = 1000;
/// Free test queries return at most this many rows. [C via AHEV]
pub const FREE_LIMIT: u64 = 100;
/// Targets per batch-analysis request. [C]
pub const MAX_BATCH: usize = 100;
/// Free test targets and keywords (configurable: the reference lists two versions).
pub const FREE_TARGETS: &[&str] = &["ahrefs.com", "yep.com", "firehose.com"];
pub const FREE_KEYWORDS: &[&str] = &["ahrefs", "yep", "firehose"];
/// Money fields: USD cents, as the API sends them. [T AHEV]
pub const MONEY_FIELDS: &[&str] = &["org_cost", "paid_cost", "value", "traffic_value", "cpc", "sum_value"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pricing {
    /// max(50, per-row cost x rows).
    Fields,
    /// A fixed price per request (site-audit issues/page-explorer: 50).
    Fixed(u64),
    Free,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `target` (a domain or URL): site explorer.
    Site,
    /// `keywords`/`keyword`: keywords explorer and SERP overview.
    Keywords,
    None,
}

/// An Ahrefs operation: the catalog's entry (every fact of the spec) and what follows from it.
/// The spec's facts live once, in `catalog/ahrefs.json`; this adds only what the spec lacks.
#[derive(Debug)]
pub struct EndpointDef {
    pub op: &'static Operation,
    pub method: &'static str,
    pub path: &'static str,
    /// The single top-level key of the answer ("" where the spec names none).
    pub key: &'static str,
    /// Whether the key holds a list (else one object).
    pub list: bool,
    /// `date` is required and the client fills in today (dated site-explorer reports).
    pub needs_date: bool,
    pub pricing: Pricing,
    pub target: Target,
}

/// Path families that cost nothing, for paths the catalog does not have (strict=False).
fn free_family(path: &str) -> bool {
    let families = catalog::ahrefs().fact("free_families").and_then(Value::as_array);
    families.into_iter().flatten().filter_map(Value::as_str).any(|f| path.starts_with(f))
}

fn pricing_of(op: Option<&Operation>, path: &str) -> Pricing {
    match op.map(|o| (o.pricing.rule.as_str(), o.pricing.units)) {
        Some(("fixed", Some(n))) => Pricing::Fixed(n),
        Some(("free", _)) => Pricing::Free,
        Some(_) => Pricing::Fields,
        None if free_family(path) => Pricing::Free,
        None => Pricing::Fields,
    }
}

static DEFS: OnceLock<Vec<EndpointDef>> = OnceLock::new();

/// Every operation of the catalog, in the spec's order.
pub fn endpoints() -> &'static [EndpointDef] {
    DEFS.get_or_init(|| {
        catalog::ahrefs()
            .operations
            .iter()
            .map(|op| {
                let has = |n: &str| op.params.contains_key(n);
                EndpointDef {
                    op,
                    method: op.method.as_str(),
                    path: op.path.as_str(),
                    key: op.key.as_deref().unwrap_or(""),
                    list: op.list,
                    needs_date: op.path.starts_with("site-explorer/") && op.params.get("date").is_some_and(|d| d.required),
                    pricing: pricing_of(Some(op), &op.path),
                    target: if has("keywords") || has("keyword") {
                        Target::Keywords
                    } else if has("target") {
                        Target::Site
                    } else {
                        Target::None
                    },
                }
            })
            .collect()
    })
}

/// The operation at `path` with `method`.
pub fn endpoint_for(method: &str, path: &str) -> Option<&'static EndpointDef> {
    let path = path.trim_matches('/');
    endpoints().iter().find(|e| e.path == path && e.method.eq_ignore_ascii_case(method))
}

/// The GET operation at `path`, or the path's only operation (batch-analysis is a POST).
pub fn endpoint(path: &str) -> Option<&'static EndpointDef> {
    let path = path.trim_matches('/');
    endpoint_for("GET", path).or_else(|| {
        let mut all = endpoints().iter().filter(|e| e.path == path);
        match (all.next(), all.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        }
    })
}

impl EndpointDef {
    /// Units per row of a field the answer has (select/order_by) or a filter may name (where).
    pub fn field_cost(&self, name: &str) -> Option<u64> {
        self.op.field_units(name).or_else(|| self.where_fields().any(|f| f == name).then_some(1))
    }
    fn where_fields(&self) -> impl Iterator<Item = &'static str> {
        self.op.params.get("where").and_then(|w| w.fields.as_ref()).into_iter().flatten().map(String::as_str)
    }
    /// Every answer field with its units per row.
    pub fn all_fields(&self) -> impl Iterator<Item = (&'static str, u64)> {
        self.op.fields.iter().map(|(n, f)| (n.as_str(), f.units.unwrap_or(1)))
    }
    /// Parameters the spec marks required.
    pub fn required(&self) -> impl Iterator<Item = &'static str> {
        self.op.params.iter().filter(|(_, p)| p.required).map(|(n, _)| n.as_str())
    }
    /// The spec's parameter names.
    pub fn params(&self) -> impl Iterator<Item = &'static str> + Clone {
        self.op.params.keys().map(String::as_str)
    }
}

fn bad(msg: impl Into<String>) -> Error {
    Error::invalid(msg).provider(PROVIDER)
}

/// Today's date, UTC, as the API's `YYYY-MM-DD`.
pub fn today() -> String {
    let days = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() / 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Field names in a `where` filter (the AHSDK grammar: and/or/not around `{field, is|list_is}`).
pub fn where_fields(v: &Value, out: &mut Vec<String>) -> Result<()> {
    match v {
        Value::Object(m) => {
            if let Some(list) = m.get("and").or_else(|| m.get("or")) {
                let Value::Array(items) = list else { return Err(bad("where: 'and'/'or' take a list of conditions")) };
                for item in items {
                    where_fields(item, out)?;
                }
            } else if let Some(inner) = m.get("not") {
                where_fields(inner, out)?;
            } else if let Some(field) = m.get("field") {
                let Value::String(f) = field else { return Err(bad("where: 'field' must be a string")) };
                if !m.contains_key("is") && !m.contains_key("list_is") {
                    return Err(bad(format!("where: condition on {f:?} needs 'is' or 'list_is'")));
                }
                // Nested fields use dot paths; their cost is the top field's.
                out.push(f.split('.').next().unwrap_or(f).to_string());
            } else {
                return Err(bad(format!("where: expected and/or/not or {{field, is}}, got {v}")));
            }
            Ok(())
        }
        _ => Err(bad(format!("where: expected an object, got {v}"))),
    }
}

/// `{"domain_rating": ["gte", 50]}` shorthand (several fields are and-ed) to the filter grammar.
pub fn normalise_where(v: Value) -> Result<Value> {
    let Value::Object(m) = &v else { return Err(bad("where must be a dict")) };
    if m.keys().any(|k| matches!(k.as_str(), "and" | "or" | "not" | "field")) {
        return Ok(v);
    }
    let leaves: Vec<Value> = m
        .iter()
        .map(|(field, cond)| {
            let cond = match cond {
                Value::Array(_) | Value::String(_) => cond.clone(),
                other => Value::Array(vec![Value::String("eq".into()), other.clone()]),
            };
            serde_json::json!({"field": field, "is": cond})
        })
        .collect();
    Ok(if leaves.len() == 1 { leaves.into_iter().next().expect("one") } else { serde_json::json!({"and": leaves}) })
}

fn field_list(name: &str, v: &Value) -> Result<Vec<String>> {
    let items: Vec<String> = match v {
        Value::String(s) => s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect(),
        Value::Array(a) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => Ok(s.trim().to_string()),
                Value::Array(pair) if pair.len() == 2 => Ok(format!("{}:{}", pair[0].as_str().unwrap_or(""), pair[1].as_str().unwrap_or(""))),
                _ => Err(bad(format!("{name} entries must be strings"))),
            })
            .collect::<Result<_>>()?,
        _ => return Err(bad(format!("{name} must be a list of field names or a comma-separated string"))),
    };
    if items.is_empty() {
        return Err(bad(format!("{name} is empty")));
    }
    Ok(items)
}

#[derive(Debug, Clone)]
pub struct Prepared {
    pub method: String,
    pub path: String,
    pub def: Option<&'static EndpointDef>,
    pub query: Vec<(String, String)>,
    /// POST body (batch-analysis).
    pub json: Option<Value>,
    pub estimate: u64,
    pub per_row: u64,
    pub free: bool,
    pub rows: u64,
    /// May be served from the response cache.
    pub cache: bool,
}

/// A client's rules beyond the spec: free test targets and keywords, and the plan's row cap.
#[derive(Debug, Clone)]
pub struct Rules {
    pub targets: Vec<String>,
    pub keywords: Vec<String>,
    /// Rows per request the plan allows (Lite 100, Standard 250, Advanced 500 [T]); None: no cap.
    pub plan_rows: Option<u64>,
}

/// Rows per request of a plan by name (the catalog's `plan_rows` fact, [T AHEV plans]); `Ok(None)`: no cap.
pub fn plan_rows(plan: &str) -> Result<Option<u64>> {
    let plans = catalog::ahrefs().fact("plan_rows").and_then(Value::as_object);
    let name = plan.trim().to_ascii_lowercase();
    match plans.and_then(|p| p.get(&name)) {
        Some(rows) => Ok(rows.as_u64()),
        None => {
            let names: Vec<&str> = plans.into_iter().flat_map(|p| p.keys().map(String::as_str)).collect();
            Err(bad(format!("plan must be one of {}, not {plan:?}", names.join(", "))))
        }
    }
}

impl Default for Rules {
    fn default() -> Self {
        Rules { targets: FREE_TARGETS.iter().map(|s| s.to_string()).collect(), keywords: FREE_KEYWORDS.iter().map(|s| s.to_string()).collect(), plan_rows: None }
    }
}

impl Rules {
    pub fn is_free_target(&self, target: &str) -> bool {
        let rest = target.split_once("://").map_or(target, |(_, r)| r);
        let host = rest.split(['/', '?', '#', ':']).next().unwrap_or("").to_ascii_lowercase();
        let host = host.strip_prefix("www.").unwrap_or(&host);
        // Exact hosts only: a subdomain of a free target is not free unless configured.
        self.targets.iter().any(|t| host == t.as_str())
    }
    pub fn are_free_keywords(&self, keywords: &str) -> bool {
        let list: Vec<&str> = keywords.split(',').map(str::trim).filter(|k| !k.is_empty()).collect();
        !list.is_empty() && list.iter().all(|k| self.keywords.iter().any(|f| f.eq_ignore_ascii_case(k)))
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "None",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

fn scalar(name: &str, v: &Value) -> Result<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Array(a) => a.iter().map(|x| scalar(name, x)).collect::<Result<Vec<_>>>().map(|v| v.join(",")),
        _ => Err(bad(format!("{name} must be a string, number, bool or list"))),
    }
}

/// Check a value against the catalog's type of a parameter; `Ok(text)` is what goes on the wire.
fn typed(path: &str, name: &str, spec: &catalog::Param, v: &Value) -> Result<String> {
    let wrong = |want: &str| bad(format!("Ahrefs {path}: {name} must be {want}, not {} {v}", json_type(v)));
    match (spec.ty.as_deref(), v) {
        (Some("integer"), Value::Number(n)) => match n.as_u64() {
            Some(i) if i <= crate::units::MAX_UNITS => Ok(i.to_string()),
            _ => Err(wrong("a non-negative integer up to 2^53-1")),
        },
        (Some("integer"), _) => Err(wrong("an int")),
        (Some("boolean"), Value::Bool(b)) => Ok(b.to_string()),
        (Some("boolean"), _) => Err(wrong("a bool")),
        (_, Value::Bool(_)) if spec.ty.as_deref() == Some("string") => Err(wrong("a str")),
        _ => {
            let s = scalar(name, v)?;
            if spec.format.as_deref() == Some("date") && !is_date(&s) {
                return Err(bad(format!("Ahrefs {path}: {name} must be 'YYYY-MM-DD', not {s:?}")));
            }
            Ok(s)
        }
    }
}

/// A request body against the spec's: known fields, required fields, enum values.
fn check_body(d: &EndpointDef, body: &Map<String, Value>) -> Result<()> {
    let Some(spec) = d.op.body.as_ref() else {
        return Err(bad(format!("Ahrefs {} {} takes no request body", d.method, d.path)));
    };
    for (k, v) in body {
        let Some(field) = spec.get(k) else {
            return Err(crate::providers::unknown_param(PROVIDER, &format!("the body of Ahrefs {} {}", d.method, d.path), k, spec.keys().map(String::as_str)));
        };
        let ty = field.get("type").and_then(Value::as_str);
        let fits = match (ty, v) {
            (_, Value::Null) => true,
            (Some("array"), v) => v.is_array(),
            (Some("object"), v) => v.is_object(),
            (Some("integer"), v) => v.as_u64().is_some_and(|n| n <= crate::units::MAX_UNITS) || v.as_i64().is_some(),
            (Some("number"), v) => v.is_number(),
            (Some("boolean"), v) => v.is_boolean(),
            (Some("string"), v) => v.is_string(),
            _ => true,
        };
        if !fits {
            return Err(bad(format!("the body of Ahrefs {} {}: {k} must be {} (the spec's type), not {}", d.method, d.path, ty.unwrap_or("?"), json_type(v))));
        }
        let allowed: Option<Vec<&str>> = match field.get("enum") {
            Some(Value::String(name)) => catalog::ahrefs().enums.get(name).map(|v| v.iter().map(String::as_str).collect()),
            Some(Value::Array(items)) => Some(items.iter().filter_map(Value::as_str).collect()),
            _ => None,
        };
        if let (Some(allowed), Value::String(s)) = (allowed, v) {
            if !allowed.contains(&s.as_str()) {
                let hint = crate::providers::closest(s, allowed.iter().copied()).map(|a| format!("; did you mean '{a}'?")).unwrap_or_default();
                return Err(bad(format!("Ahrefs {} body: {k} must be one of the spec's values, not {s:?}{hint}", d.path)));
            }
        }
    }
    if let Some(missing) = d.op.body_required.iter().find(|r| !body.contains_key(*r)) {
        return Err(bad(format!("the body of Ahrefs {} {} needs {missing}", d.method, d.path)));
    }
    Ok(())
}

/// Validate a call and price it. Every operation of the catalog is checked against the spec
/// (parameter names, types, enums, required parameters, field names); `strict=false` sends
/// what the catalog does not know (an operation or a parameter newer than the catalog).
pub fn prepare(method: &str, path: &str, params: Map<String, Value>, strict: bool, rules: &Rules) -> Result<Prepared> {
    let path = path.trim_matches('/').to_string();
    if path.is_empty() || path.contains("..") || path.contains('?') || path.split('/').count() < 2 {
        return Err(bad(format!("{path:?} is not an Ahrefs v3 path like 'site-explorer/domain-rating'")));
    }
    let method = method.to_ascii_uppercase();
    if !matches!(method.as_str(), "GET" | "POST" | "PUT" | "PATCH" | "DELETE") {
        return Err(bad(format!("{method:?} is not an HTTP method of the Ahrefs API")));
    }
    let mut params = params;
    let strict = match params.remove("strict") {
        Some(Value::Bool(b)) => b,
        None | Some(Value::Null) => strict,
        Some(other) => return Err(bad(format!("strict must be a bool, not {other}"))),
    };
    let def = endpoint_for(&method, &path);
    if strict && def.is_none() {
        let known: Vec<&str> = endpoints().iter().filter(|e| e.method == method).map(|e| e.path).collect();
        let hint = crate::providers::closest(&path, known.iter().copied()).map(|p| format!("; did you mean '{p}'?")).unwrap_or_default();
        let other: Vec<&str> = endpoints().iter().filter(|e| e.path == path).map(|e| e.method).collect();
        let also = if other.is_empty() { String::new() } else { format!(" (it has {})", other.join(", ")) };
        return Err(bad(format!("Ahrefs API v3 has no {method} operation {path:?}{hint}{also}; pass strict=False to send it anyway")));
    }
    let checked = def.filter(|_| strict);
    let mut query: Vec<(String, String)> = Vec::new();
    let mut used: Vec<String> = Vec::new();
    let mut limit: Option<u64> = None;
    let mut has_select = false;
    let mut json_body: Option<Value> = None;
    let mut batch: Option<Value> = None;
    let mut body_fields = Map::new();
    for (k, v) in params {
        if v.is_null() {
            continue;
        }
        if matches!(k.as_str(), "api_key" | "token" | "key") {
            return Err(bad("pass the API key to the client, not as a parameter"));
        }
        let spec = checked.and_then(|d| d.op.params.get(&k));
        let is_batch = path == "batch-analysis/batch-analysis";
        if let Some(d) = checked {
            let in_body = d.op.body.as_ref().is_some_and(|b| b.contains_key(&k));
            if spec.is_none() && in_body && !is_batch {
                // A field of the request body given as a keyword: it goes in the body as is.
                body_fields.insert(k, v);
                continue;
            }
            if spec.is_none() && !in_body && k != "json" {
                let names = d.params().chain(d.op.body.iter().flat_map(|b| b.keys().map(String::as_str)));
                return Err(crate::providers::unknown_param(PROVIDER, &format!("Ahrefs {method} {path}"), &k, names));
            }
        }
        if let (Some(spec), Value::String(s)) = (spec, &v) {
            if let Some(allowed) = catalog::ahrefs().allowed(spec) {
                let s = if k == "country" { s.to_ascii_lowercase() } else { s.clone() };
                if !allowed.iter().any(|a| *a == s) {
                    let hint = crate::providers::closest(&s, allowed.iter().copied()).map(|a| format!("; did you mean '{a}'?")).unwrap_or_default();
                    return Err(bad(format!("Ahrefs {path}: {k} must be one of the spec's values, not {s:?}{hint}")));
                }
            }
        }
        match k.as_str() {
            "select" => {
                let fields = field_list("select", &v)?;
                used.extend(fields.iter().cloned());
                has_select = true;
                query.push((k, fields.join(",")));
            }
            "order_by" => {
                let items = field_list("order_by", &v)?;
                for item in &items {
                    let (field, dir) = item.split_once(':').unwrap_or((item, "asc"));
                    if !matches!(dir, "asc" | "desc") {
                        return Err(bad(format!("order_by direction must be asc or desc, not {dir:?}")));
                    }
                    used.push(field.to_string());
                }
                query.push((k, items.join(",")));
            }
            "where" => {
                let v = normalise_where(v)?;
                where_fields(&v, &mut used)?;
                query.push((k, v.to_string()));
            }
            "limit" => match v.as_u64() {
                Some(l) if (1..=crate::units::MAX_UNITS).contains(&l) => {
                    if let Some(cap) = rules.plan_rows.filter(|cap| l > *cap) {
                        return Err(bad(format!("limit={l} is over your plan's {cap} rows per request (plan= on the client); page with smaller limits")));
                    }
                    limit = Some(l);
                    query.push((k, l.to_string()));
                }
                _ => return Err(bad(format!("limit must be a positive integer no more than 2^53-1, not {v}"))),
            },
            "offset" => match v.as_u64() {
                Some(o) if o <= crate::units::MAX_UNITS => query.push((k, o.to_string())),
                _ => return Err(bad(format!("offset must be a non-negative integer, not {v}"))),
            },
            "country" => {
                let s = scalar(&k, &v)?.to_ascii_lowercase();
                if s.len() != 2 || !s.bytes().all(|b| b.is_ascii_lowercase()) {
                    return Err(bad(format!("country must be a two-letter ISO code such as 'us', not {s:?}")));
                }
                query.push((k, s));
            }
            "targets" if path == "batch-analysis/batch-analysis" => batch = Some(v),
            "json" => match v {
                Value::Object(_) => json_body = Some(v),
                _ => return Err(bad("json must be a dict (the request body)")),
            },
            _ => {
                if matches!(k.as_str(), "target" | "keyword") && !v.is_string() {
                    return Err(bad(format!("{k} must be a str, not {}", json_type(&v))));
                }
                let s = match spec {
                    Some(spec) => typed(&path, &k, spec, &v)?,
                    None if k.starts_with("date") => {
                        let s = scalar(&k, &v)?;
                        if !is_date(&s) {
                            return Err(bad(format!("{k} must be 'YYYY-MM-DD', not {s:?}")));
                        }
                        s
                    }
                    None => scalar(&k, &v)?,
                };
                if matches!(k.as_str(), "target" | "keywords" | "keyword") && s.trim().is_empty() {
                    return Err(bad(format!("{k} must not be empty")));
                }
                query.push((k, s));
            }
        }
    }
    if !body_fields.is_empty() {
        match &mut json_body {
            Some(Value::Object(m)) => m.extend(body_fields),
            _ => json_body = Some(Value::Object(body_fields)),
        }
    }
    if json_body.is_none() && batch.is_none() && def.is_some_and(|d| d.op.body.is_some() && d.path != "batch-analysis/batch-analysis") {
        // An operation with a request body always sends one (JSON), even with no fields given.
        json_body = Some(Value::Object(Map::new()));
    }
    if let (Some(d), Some(Value::Object(body))) = (checked, &json_body) {
        check_body(d, body)?;
    }
    if def.is_some_and(|d| d.needs_date) && !query.iter().any(|(k, _)| k == "date") {
        query.push(("date".into(), today()));
    }
    let lookup = query.clone();
    let get = |name: &str| lookup.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    if let Some(Value::Object(body)) = &json_body {
        // A raw body: price it from its own select and targets.
        if let Some(Value::Array(sel)) = body.get("select") {
            used.extend(sel.iter().filter_map(|f| f.as_str().map(str::to_string)));
            has_select = true;
        }
        if let Some(Value::Array(t)) = body.get("targets") {
            limit = Some(t.len() as u64);
        }
    }
    if let Some(d) = checked {
        for r in d.required() {
            // Single-object reports answer every field when select is left out.
            let present = get(r).is_some() || (r == "targets" && batch.is_some()) || (r == "select" && !d.list);
            if !present {
                return Err(bad(format!("Ahrefs {path} needs {r}")));
            }
        }
        if d.op.params.contains_key("keywords") && d.op.params.contains_key("keyword_list_id") {
            // Keywords explorer: the keywords come inline, from a list, or (overview) from a target.
            let sources: Vec<&str> = ["keywords", "keyword_list_id", "target"].into_iter().filter(|k| d.op.params.contains_key(*k)).collect();
            if sources.iter().all(|k| get(k).is_none()) {
                return Err(bad(format!("Ahrefs {path} needs {}", sources.join(" or "))));
            }
        }
        let mut unknown: Vec<&str> = used.iter().map(String::as_str).filter(|f| d.field_cost(f).is_none()).collect();
        unknown.sort();
        unknown.dedup();
        if let Some(first) = unknown.first() {
            let hint = crate::providers::closest(first, d.op.fields.keys().map(String::as_str)).map(|a| format!("; did you mean '{a}'?")).unwrap_or_default();
            return Err(bad(format!("Ahrefs {path} has no field(s) {}{hint}", unknown.join(", "))));
        }
    }
    // Price: distinct fields in select, where and order_by; single-row reports return all fields.
    used.sort();
    used.dedup();
    let costs: Vec<u64> = match def {
        Some(d) if !has_select && !d.list => d.all_fields().map(|(_, c)| c).collect(),
        Some(d) => used.iter().map(|f| d.field_cost(f).unwrap_or(1)).collect(),
        None => vec![1; used.len()],
    };
    let per_row = costs.iter().try_fold(0u64, |a, c| a.checked_add(*c)).ok_or_else(|| bad("the field costs overflow"))?;
    let pricing = def.map_or_else(|| pricing_of(None, &path), |d| d.pricing);
    let test_free = get("target").is_some_and(|t| rules.is_free_target(&t))
        || (get("keyword_list_id").is_none() && get("keywords").or_else(|| get("keyword")).is_some_and(|k| rules.are_free_keywords(&k)));
    let is_free = pricing == Pricing::Free || test_free;
    let list = def.is_none_or(|d| d.list);
    let mut rows = if list { limit.unwrap_or(DEFAULT_LIMIT) } else { 1 };
    if let Some(cap) = rules.plan_rows.filter(|cap| list && limit.is_none() && DEFAULT_LIMIT > *cap && def.is_some_and(|d| d.op.params.contains_key("limit"))) {
        // The spec's default (1000) is over the plan: ask for the plan's rows, not an error.
        query.push(("limit".into(), cap.to_string()));
        rows = cap;
    }
    if let Some(list) = batch {
        // batch-analysis: the body carries targets, select and the rest.
        let targets = list.as_array().cloned().unwrap_or_default();
        if targets.is_empty() || targets.len() > MAX_BATCH {
            return Err(bad(format!("one batch-analysis request takes 1..={MAX_BATCH} targets, not {}", targets.len())));
        }
        rows = targets.len() as u64;
        let mut m = Map::new();
        m.insert("targets".into(), Value::Array(targets));
        for (k, v) in query.drain(..) {
            let v = if k == "select" || k == "order_by" { Value::from(v.split(',').map(str::to_string).collect::<Vec<_>>()) } else { Value::String(v) };
            m.insert(k, v);
        }
        m.entry("output").or_insert_with(|| Value::String("json".into()));
        json_body = Some(Value::Object(m));
    }
    // "Free" is unconfirmed (the free lists are an open question in the reference): a free
    // call reserves its model cost like any other and commits what the cost headers say.
    let estimate = match pricing {
        Pricing::Free => BASE_COST,
        Pricing::Fixed(n) => n,
        _ => BASE_COST.max(crate::units::mul(per_row.max(1), rows, &format!("Ahrefs {path} with limit {rows}")).map_err(|e| e.provider(PROVIDER))?),
    };
    Ok(Prepared { method, path, def, query, json: json_body, estimate, per_row, free: is_free, rows, cache: true })
}

// ---------------------------------------------------------------------------------------------
// Replies

/// A count header: absent is `None`; present but not a plain count is `ResponseFormatError`.
fn header_u64(reply: &Reply, name: &str) -> Result<Option<u64>> {
    match reply.headers.get(name) {
        None => Ok(None),
        Some(v) => {
            let text = v.to_str().map_err(|_| Error::format(format!("the server sent a {name} header that is not text")).provider(PROVIDER))?;
            crate::units::parse_count(text, name).map(Some).map_err(|e| e.provider(PROVIDER))
        }
    }
}

fn exhausted(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    ["units", "limit", "quota", "insufficient", "exhausted", "exceeded"].iter().any(|w| t.contains(w)) && !t.contains("rate")
}

pub fn check(reply: &Reply) -> Result<()> {
    let status = reply.status;
    if (200..300).contains(&status) {
        return Ok(());
    }
    let text = error_text(&reply.body);
    let (kind, retryable, hint) = match status {
        400 | 422 => (Kind::InvalidRequest, false, String::new()),
        401 => (Kind::Authentication, false, " (missing, invalid or expired API key)".into()),
        403 if exhausted(&text) => (Kind::UnitsExhausted, false, " (API units or the key's cap are used up; not retried)".into()),
        403 => (Kind::Authentication, false, " (the endpoint may not be in your plan)".into()),
        404 => (Kind::Provider, false, " (the data may not exist for that date, or the target is not in the index)".into()),
        429 => (Kind::RateLimited, true, String::new()),
        500..=599 => (Kind::Provider, true, String::new()),
        _ => (Kind::Provider, false, String::new()),
    };
    let mut e = Error::new(kind, format!("Ahrefs HTTP {status}: {text}{hint}")).provider(PROVIDER).status(status).retryable(retryable);
    e.retry_after = retry_after(&reply.headers);
    Err(e)
}

/// Rows in a reply: `x-api-rows` when sent, else the length of the single top-level list.
pub fn count_rows(reply: &Reply) -> Result<u64> {
    if let Some(n) = header_u64(reply, "x-api-rows")? {
        // The header counts the rows; the body must still be a JSON object, not a proxy page.
        if reply.body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(Error::format("Ahrefs answered HTTP 200 with a body that is not a JSON object").provider(PROVIDER));
        }
        return Ok(n);
    }
    let v: Map<String, Value> = serde_json::from_slice(&reply.body)
        .map_err(|e| Error::format(format!("Ahrefs answered with a body that is not a JSON object ({e})")).provider(PROVIDER))?;
    // Every Ahrefs answer has a single top-level key (the report's); anything else is not one.
    if v.len() != 1 {
        let keys: Vec<&str> = v.keys().map(String::as_str).take(5).collect();
        return Err(Error::format(format!("Ahrefs answered with top-level keys {keys:?}; a report answer has exactly one")).provider(PROVIDER));
    }
    Ok(match v.values().next() {
        Some(Value::Array(a)) => a.len() as u64,
        Some(_) => 1,
        None => 0,
    })
}

/// What a reply cost: the `x-api-units-cost-total-actual` header, else the model; 0 on a cache
/// hit or a free call.
pub fn units_of(reply: &Reply, p: &Prepared, rows: u64) -> Result<(u64, bool)> {
    if reply.cached {
        return Ok((0, true)); // our own response cache
    }
    let cached = reply.headers.get("x-api-cache").and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("hit"));
    if let Some(actual) = header_u64(reply, "x-api-units-cost-total-actual")? {
        return Ok((actual, cached));
    }
    if cached || p.free {
        // No cost header to say otherwise: a free family or test query costs nothing.
        return Ok((0, cached));
    }
    let units = match p.def.map(|d| d.pricing) {
        Some(Pricing::Fixed(n)) => n,
        _ => {
            let per_row = header_u64(reply, "x-api-units-cost-row")?.unwrap_or(p.per_row);
            BASE_COST.max(crate::units::mul(per_row, rows, "the answer's rows").map_err(|e| Error::format(e.message).provider(PROVIDER))?)
        }
    };
    Ok((units, cached))
}

// ---------------------------------------------------------------------------------------------
// Client

pub struct Settings {
    pub key: String,
    pub base_url: Option<String>,
    pub ledger: Arc<Ledger>,
    pub budget: Option<Budget>,
    pub retry: RetryPolicy,
    pub timeout: Duration,
    pub rate: Option<Rate>,
    pub rules: Rules,
    pub cache_ttl: Option<Duration>,
}

pub struct Client {
    pub engine: Engine,
    key: String,
    pub base_url: String,
    pub rules: Rules,
}

impl Client {
    pub fn new(s: Settings) -> Result<Client> {
        if s.key.trim().is_empty() {
            return Err(Error::new(Kind::Authentication, "no Ahrefs API key: pass api_key= or set AHREFS_API_KEY").provider(PROVIDER));
        }
        crate::providers::credential(PROVIDER, "Ahrefs API key", &s.key)?;
        let base = s.base_url.unwrap_or_else(|| DEFAULT_BASE.to_string());
        let parsed = url::Url::parse(&base).map_err(|e| bad(format!("base_url is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(bad("base_url must be http(s)"));
        }
        let account = account_hash(PROVIDER, &s.key);
        let limits = Limits::shared(PROVIDER, &account, s.rate, None, &s.ledger);
        Ok(Client {
            engine: Engine::new(PROVIDER, account, s.ledger, s.budget, s.retry, s.timeout, limits, s.cache_ttl),
            key: s.key,
            base_url: base.trim_end_matches('/').to_string(),
            rules: s.rules,
        })
    }

    pub fn url(&self, p: &Prepared) -> String {
        let mut url = format!("{}/{}", self.base_url, p.path);
        for (i, (k, v)) in p.query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&crate::secrets::encode(k).to_string());
            url.push('=');
            url.push_str(&crate::secrets::encode(v).to_string());
        }
        url
    }

    fn request(&self, p: &Prepared) -> Request {
        let url = self.url(p);
        let mut headers = vec![("authorization", format!("Bearer {}", self.key)), ("accept", "application/json".into())];
        let method = reqwest::Method::from_bytes(p.method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let body = p.json.as_ref().map(|b| {
            headers.push(("content-type", "application/json".into()));
            Bytes::from(b.to_string())
        });
        Request { method, shown: url.clone(), url, headers, body }
    }

    pub async fn fetch(&self, p: &Prepared) -> Result<JsonPage> {
        // Free families (subscription info, rank tracker, ...) report live state: never reuse them.
        let cacheable = p.cache && !p.def.is_some_and(|d| d.pricing == Pricing::Free) && !p.path.starts_with("subscription-info/");
        let call = Call { report: &p.path, estimate: p.estimate, metered: true, cacheable, request: self.request(p), cache_basis: None };
        let (page, committed) = self
            .engine
            .call(call, check, |reply| {
                let rows = count_rows(&reply).map_err(|mut e| {
                    // Unusable, but a cost header says what it was charged: that is booked.
                    e.charged = header_u64(&reply, "x-api-units-cost-total-actual").ok().flatten();
                    e
                })?;
                let (units, cached) = units_of(&reply, p, rows)?;
                let page = JsonPage {
                    provider: PROVIDER,
                    report: p.path.clone(),
                    body: reply.body,
                    unwrap: Unwrap::Single,
                    rows,
                    units,
                    estimate: p.estimate,
                    next_token: None,
                    cached,
                    spent: None,
                    budget: None,
                    alerts: Vec::new(),
                };
                Ok((page, Record { units, rows, cached, ..Default::default() }))
            })
            .await?;
        Ok(page.settled(committed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn prep(path: &str, v: Value) -> Result<Prepared> {
        prepare("GET", path, v.as_object().unwrap().clone(), true, &Rules::default())
    }

    #[test]
    fn field_cost_model() {
        // The docs' worked example: domain-rating, 1 row of 2 fields -> max(50, 2) = 50.
        let p = prep("site-explorer/domain-rating", json!({"target": "example.com"})).unwrap();
        assert_eq!((p.per_row, p.estimate), (2, 50));
        assert!(p.query.iter().any(|(k, v)| k == "date" && is_date(v)));
        // Distinct fields across select, where and order_by; traffic costs 10, refdomains_source 5.
        let p = prep(
            "site-explorer/all-backlinks",
            json!({"target": "example.com", "select": ["url_from", "traffic", "anchor"], "where": {"refdomains_source": ["gte", 10], "traffic": ["gt", 0]}, "order_by": "traffic:desc", "limit": 200}),
        )
        .unwrap();
        assert_eq!(p.per_row, 1 + 10 + 1 + 5);
        assert_eq!(p.estimate, 17 * 200);
        let p = prep("site-explorer/refdomains", json!({"target": "example.com", "select": "domain", "limit": 10})).unwrap();
        assert_eq!(p.estimate, 50);
        // Free test target and free family: "free" is unconfirmed, so the model cost is reserved.
        let p = prep("site-explorer/all-backlinks", json!({"target": "https://ahrefs.com/blog", "select": ["url_from"], "limit": 1000})).unwrap();
        assert!(p.free);
        assert_eq!((p.estimate, p.rows), (1000, 1000));
        assert_eq!(prep("subscription-info/limits-and-usage", json!({})).unwrap().estimate, 50);
        assert_eq!(prep("site-audit/issues", json!({"project_id": 1})).unwrap().estimate, 50);
        let p = prep("keywords-explorer/overview", json!({"keywords": "ahrefs,seo", "country": "us", "select": ["keyword", "volume"], "limit": 10})).unwrap();
        assert_eq!(p.estimate, 110);
    }

    #[test]
    fn validation() {
        for (path, v) in [
            ("site-explorer/all-backlinks", json!({"target": "x.com", "select": ["url_fromm"]})),
            ("site-explorer/all-backlinks", json!({"target": "x.com"})),
            ("site-explorer/all-backlinks", json!({"select": ["url_from"]})),
            ("site-explorer/all-backlinks", json!({"target": "x.com", "select": ["url_from"], "where": {"nope": ["eq", 1]}})),
            ("site-explorer/all-backlinks", json!({"target": "x.com", "select": ["url_from"], "order_by": "url_from:sideways"})),
            ("site-explorer/metrics", json!({"target": "x.com", "date": "2024-02-30x"})),
            ("site-explorer/metrics", json!({"target": "x.com", "mode": "everything"})),
            ("keywords-explorer/overview", json!({"country": "us", "select": ["keyword"]})),
            ("site-explorer/metrics", json!({"target": "x.com", "colour": "red"})),
        ] {
            assert_eq!(prep(path, v.clone()).unwrap_err().kind, Kind::InvalidRequest, "{path} {v}");
        }
        // The generic path takes anything well-formed.
        assert!(prepare("GET", "management/projects", Map::new(), false, &Rules::default()).is_ok());
        assert!(prepare("GET", "nope", Map::new(), false, &Rules::default()).is_err());
    }

    #[test]
    fn where_shorthand_and_grammar() {
        let w = normalise_where(json!({"domain_rating": ["gte", 50], "is_dofollow": true})).unwrap();
        let mut fields = Vec::new();
        where_fields(&w, &mut fields).unwrap();
        fields.sort();
        assert_eq!(fields, ["domain_rating", "is_dofollow"]);
        let g = json!({"or": [{"field": "anchor", "is": ["substring", "seo"]}, {"not": {"field": "title", "is": "empty"}}]});
        assert_eq!(normalise_where(g.clone()).unwrap(), g);
    }
}
