//! The Moz API (JSON-RPC): `POST https://api.moz.com/jsonrpc` with `x-moz-token`, every action
//! described by `catalog/moz.json` (Moz's own method schema plus the reference's facts). Fields
//! are validated against the method's schema, rows are priced by its quota rule and charged to
//! its quota pool (`data`, `beta`, `mozscape`), and a 4xx breaker keeps the account clear of
//! Moz's penalty (more than 50 4xx answers in 5 minutes throttle it to 50 requests per 5 minutes).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{is_date, JsonPage, Unwrap};
use crate::catalog::{moz as catalog, MozMethod};
use crate::error::{Error, Kind, Result};
use crate::http::{Call, Engine, Reply, Request};
use crate::ledger::{Budget, Ledger, Record};
use crate::limits::{Limits, Rate};
use crate::retry::RetryPolicy;

pub const PROVIDER: &str = "moz";
pub const DEFAULT_URL: &str = "https://api.moz.com/jsonrpc";
pub const POOLS: &[&str] = &["data", "beta", "mozscape"];

fn bad(msg: impl Into<String>) -> Error {
    Error::invalid(msg).provider(PROVIDER)
}

/// What a plain string stands for where Moz wants a query object.
#[derive(Debug, Clone)]
pub struct Defaults {
    pub scope: String,
    pub locale: String,
    pub device: String,
    pub engine: String,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults { scope: "domain".into(), locale: "en-US".into(), device: "desktop".into(), engine: "google".into() }
    }
}

/// A method by any of its names; an unknown one is refused with the closest name (Moz would
/// answer -32601 and count a 4xx against the account).
pub fn resolve(name: &str) -> Result<&'static MozMethod> {
    let c = catalog();
    c.find(name).ok_or_else(|| {
        let known = c.operations.iter().map(|m| m.method.as_str());
        let hint = super::closest(&name.replace('-', "."), known.clone()).map(|s| format!("; did you mean {s:?}?")).unwrap_or_default();
        bad(format!("unknown Moz API method {name:?}{hint} (seowire.catalog.endpoints(\"moz\") lists all {})", c.operations.len()))
    })
}

/// A validated request: the method, its `data`, and its worst-case rows.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub method: &'static MozMethod,
    pub data: Map<String, Value>,
    pub estimate: u64,
    /// May be served from the response cache.
    pub cache: bool,
}

impl Prepared {
    pub fn pool(&self) -> &'static str {
        pool_of(self.method)
    }

    /// The same request for another page: `offset.token`, or `page.n`, with `limit`.
    pub fn page(&self, token: Option<&str>, n: Option<u64>, limit: u64) -> Prepared {
        let mut data = self.data.clone();
        let key = if self.method.paging == "offset" { "offset" } else { "page" };
        let mut paging = Map::new();
        if self.method.paging == "offset" {
            paging.insert("token".into(), token.map_or(Value::Null, |t| Value::String(t.into())));
        } else {
            paging.insert("n".into(), Value::from(n.unwrap_or(0)));
        }
        paging.insert("limit".into(), Value::from(limit));
        data.insert(key.into(), Value::Object(paging));
        let estimate = estimate(self.method, &data);
        Prepared { method: self.method, data, estimate, cache: self.cache }
    }

    /// The page size this request asks for.
    pub fn limit(&self) -> u64 {
        limit_of(self.method, &self.data)
    }
}

pub fn pool_of(m: &MozMethod) -> &'static str {
    match m.pricing.pool.as_deref() {
        Some("beta") => "beta",
        Some("mozscape") => "mozscape",
        _ => "data",
    }
}

fn limit_of(m: &MozMethod, data: &Map<String, Value>) -> u64 {
    let key = if m.paging == "offset" { "offset" } else { "page" };
    data.get(key).and_then(|p| p.get("limit")).and_then(Value::as_u64).or(m.limit.as_ref().map(|l| l.default)).unwrap_or(25)
}

fn targets_of(data: &Map<String, Value>) -> u64 {
    ["is_linking_to", "not_linking_to"].iter().map(|k| data.get(*k).and_then(Value::as_array).map_or(0, |a| a.len() as u64)).sum()
}

const HISTORY_KEYS: [&str; 4] = ["get_daily_history_deltas_for", "get_daily_history_values_for", "get_monthly_history_deltas_for", "get_monthly_history_values_for"];

/// Worst-case rows of a request under its method's quota rule.
pub fn estimate(m: &MozMethod, data: &Map<String, Value>) -> u64 {
    let mult = m.pricing.multiplier.unwrap_or(1);
    let n = match m.pricing.rule.as_str() {
        "free" => 0,
        "per_call" => 1,
        "per_result" => match m.rows.as_deref() {
            Some("results_by_site") => data.get("site_queries").and_then(Value::as_array).map_or(0, |a| a.len() as u64),
            Some("results_by_query") => data.get("queries").and_then(Value::as_array).map_or(0, |a| a.len() as u64),
            _ => limit_of(m, data),
        },
        "per_value" => {
            let max = m.pricing.max_values.unwrap_or(u64::MAX);
            if m.method == "data.site.metrics.histories.fetch" {
                let asked: u64 = HISTORY_KEYS.iter().map(|k| data.get(*k).and_then(Value::as_array).map_or(0, |a| a.len() as u64)).sum();
                asked.min(max)
            } else {
                max
            }
        }
        // Link intersect: one row per result for each target in both lists.
        _ => limit_of(m, data).saturating_mul(targets_of(data).max(1)),
    };
    n.saturating_mul(mult)
}

/// What a result holds, as far as paging and pricing need: read without building it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Tally {
    /// Items of the rows list (1 for a one-object method).
    pub rows: u64,
    /// `offset.token` of the result (None: missing, null or empty).
    pub token: Option<String>,
    /// Non-null values of `keyword_metrics`.
    pub values: u64,
    /// Entries across the `site_metrics_histories` arrays.
    pub histories: u64,
    /// Items in `errors_by_site` / `errors_by_query` (never billed).
    pub errors: u64,
    pub has_rows_key: bool,
    /// Keys of the result object (to check the method's shape).
    pub keys: Vec<String>,
}

/// Rows charged for an answer under the method's rule (errors and per-item failures: 0).
pub fn units(m: &MozMethod, data: &Map<String, Value>, t: &Tally) -> u64 {
    let mult = m.pricing.multiplier.unwrap_or(1);
    let n = match m.pricing.rule.as_str() {
        "free" => 0,
        "per_call" => 1,
        "per_result" => t.rows,
        "per_value" => {
            let got = if m.method == "data.site.metrics.histories.fetch" { t.histories } else { t.values };
            got.min(m.pricing.max_values.unwrap_or(u64::MAX))
        }
        _ => t.rows.saturating_mul(targets_of(data).max(1)),
    };
    n.saturating_mul(mult)
}

// ---------------------------------------------------------------------------------------------
// Validation against the method's schema

struct Check<'a> {
    defaults: &'a Defaults,
    strict: bool,
    method: &'a MozMethod,
}

fn type_names(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a dict",
    }
}

fn fits(ty: &str, v: &Value) -> bool {
    match (ty, v) {
        ("null", Value::Null) | ("boolean", Value::Bool(_)) | ("string", Value::String(_)) | ("array", Value::Array(_)) | ("object", Value::Object(_)) => true,
        ("number", Value::Number(_)) => true,
        ("integer", Value::Number(n)) => n.is_u64() || n.is_i64(),
        _ => false,
    }
}

impl Check<'_> {
    fn value(&self, schema: &Value, v: Value, path: &str) -> Result<Value> {
        if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
            let mut last = None;
            for s in any {
                match self.value(s, v.clone(), path) {
                    Ok(v) => return Ok(v),
                    Err(e) => last = Some(e),
                }
            }
            return Err(last.unwrap_or_else(|| bad(format!("{path} matches none of its forms"))));
        }
        let types = type_names(schema);
        let props = schema.get("properties").and_then(Value::as_object);
        // A plain string where Moz wants a query object: the client's defaults fill the rest.
        let v = match (&v, props) {
            (Value::String(s), Some(p)) if p.contains_key("query") || p.contains_key("keyword") => self.expand(schema, p, s),
            _ => v,
        };
        if !types.is_empty() && !types.iter().any(|t| fits(t, &v)) {
            let want = types.iter().map(|t| if *t == "number" { "integer" } else { t }).collect::<Vec<_>>().join(" or ");
            return Err(bad(format!("{path} must be {want}, not {} ({})", kind_of(&v), short(&v))));
        }
        if let Some(c) = schema.get("const") {
            if &v != c {
                return Err(bad(format!("{path} must be {c} for {}, not {}", self.method.method, short(&v))));
            }
        }
        if let (Some(values), Value::String(s)) = (schema.get("enum").and_then(Value::as_array), &v) {
            if !values.iter().any(|e| e.as_str() == Some(s)) {
                let names: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
                let hint = super::closest(s, names.iter().copied()).map(|c| format!(" (did you mean {c:?}?)")).unwrap_or_default();
                return Err(bad(format!("{path} must be one of {}, not {s:?}{hint}", names.join(", "))));
            }
        }
        match v {
            Value::Object(obj) => self.object(schema, props, obj, path).map(Value::Object),
            Value::Array(items) => {
                let item = schema.get("items").cloned().unwrap_or(Value::Null);
                let mut out = Vec::with_capacity(items.len());
                for (i, x) in items.into_iter().enumerate() {
                    out.push(if item.is_object() { self.value(&item, x, &format!("{path}[{i}]"))? } else { x });
                }
                Ok(Value::Array(out))
            }
            Value::String(s) => self.string(path, s).map(Value::String),
            other => Ok(other),
        }
    }

    fn expand(&self, schema: &Value, props: &Map<String, Value>, s: &str) -> Value {
        let mut obj = Map::new();
        let key = if props.contains_key("keyword") { "keyword" } else { "query" };
        obj.insert(key.into(), Value::String(s.to_string()));
        let _ = schema;
        Value::Object(obj)
    }

    fn object(&self, schema: &Value, props: Option<&Map<String, Value>>, mut obj: Map<String, Value>, path: &str) -> Result<Map<String, Value>> {
        let required: Vec<&str> = schema.get("required").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        let Some(props) = props else { return Ok(obj) };
        // Fill what a query object needs from its schema (const, default) or the client's defaults.
        for (k, fallback) in [("scope", &self.defaults.scope), ("locale", &self.defaults.locale), ("device", &self.defaults.device), ("engine", &self.defaults.engine)] {
            let Some(p) = props.get(k) else { continue };
            if obj.get(k).is_some_and(|v| !v.is_null()) || !required.contains(&k) {
                continue;
            }
            let allowed = |s: &str| p.get("enum").and_then(Value::as_array).is_none_or(|e| e.iter().any(|x| x.as_str() == Some(s)));
            let fill = p.get("const").cloned().or_else(|| p.get("default").filter(|d| d.is_string()).cloned()).or_else(|| {
                allowed(fallback).then(|| Value::String(fallback.clone()))
            });
            if let Some(f) = fill {
                obj.insert(k.into(), f);
            }
        }
        let mut out = Map::new();
        for (k, v) in std::mem::take(&mut obj) {
            let at = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
            match props.get(&k) {
                Some(s) => {
                    if v.is_null() && !type_names(s).contains(&"null") && !required.contains(&k.as_str()) {
                        continue; // None means "not given"
                    }
                    let checked = self.value(s, v, &at)?;
                    out.insert(k, checked);
                }
                None if !self.strict => {
                    out.insert(k, v);
                }
                None => {
                    let what = if path.is_empty() { format!("Moz {}", self.method.method) } else { format!("Moz {} {path}", self.method.method) };
                    return Err(super::unknown_param(PROVIDER, &what, &k, props.keys().map(String::as_str)));
                }
            }
        }
        for r in &required {
            if !out.contains_key(*r) {
                let s = &props[*r];
                // An object whose fields all have defaults (global top lists' `page`): send them.
                let from_defaults = (s.get("type").and_then(Value::as_str) == Some("object") && s.get("required").is_none())
                    .then(|| {
                        s.get("properties").and_then(Value::as_object).map(|p| {
                            Value::Object(p.iter().filter_map(|(k, v)| v.get("default").filter(|d| !d.is_null()).map(|d| (k.clone(), d.clone()))).collect())
                        })
                    })
                    .flatten();
                match s.get("default").filter(|d| !d.is_null()).cloned().or(from_defaults) {
                    Some(d) => {
                        out.insert((*r).to_string(), d);
                    }
                    None => {
                        let at = if path.is_empty() { (*r).to_string() } else { format!("{path}.{r}") };
                        return Err(bad(format!("Moz {} needs {at}", self.method.method)));
                    }
                }
            }
        }
        Ok(out)
    }

    fn string(&self, path: &str, s: String) -> Result<String> {
        let leaf = path.rsplit('.').next().unwrap_or(path);
        let leaf = leaf.split('[').next().unwrap_or(leaf);
        match leaf {
            "keyword" => {
                let n = s.trim().chars().count();
                if n == 0 || s.chars().count() > 255 {
                    return Err(bad(format!("{path} must be 1..=255 characters, not {}", s.chars().count())));
                }
            }
            "query" => {
                super::moz::check_target(&s).map_err(|e| bad(format!("{path} {e}")))?;
                return Ok(s.trim().to_string());
            }
            "begin_date" | "end_date" if !is_date(&s) => return Err(bad(format!("{path} must be a date 'YYYY-MM-DD', not {s:?}"))),
            _ => {}
        }
        Ok(s)
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}...", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

/// Validate a method's `data` and price it. Nothing is reserved or sent on error.
pub fn prepare(name: &str, data: Map<String, Value>, defaults: &Defaults, strict: bool) -> Result<Prepared> {
    let m = resolve(name)?;
    if data.contains_key("limit") && m.paging != "none" {
        // Moz ignores a top-level limit and bills the full page [T MOZLIVE].
        let inner = if m.paging == "offset" { "offset.limit" } else { "page.limit" };
        return Err(bad(format!("Moz {} ignores a top-level limit and bills the full page: set {inner} (limit= on the named method)", m.method)));
    }
    let check = Check { defaults, strict, method: m };
    let data = check.object(&m.data, m.data.get("properties").and_then(Value::as_object), data, "")?;
    rules(m, &data)?;
    let estimate = estimate(m, &data);
    Ok(Prepared { method: m, data, estimate, cache: true })
}

/// What the reference states beyond the schema: bounds, the `external` rule, target counts.
fn rules(m: &MozMethod, data: &Map<String, Value>) -> Result<()> {
    let name = &m.method;
    if let Some(limit) = &m.limit {
        let key = if m.paging == "offset" { "offset" } else { "page" };
        if let Some(p) = data.get(key) {
            if let Some(l) = p.get("limit") {
                let [lo, hi] = limit.bounds;
                match l.as_u64() {
                    Some(n) if (lo..=hi).contains(&n) => {}
                    _ => return Err(bad(format!("{key}.limit of {name} must be an integer in {lo}..={hi}, not {l} [{}]", limit.tag))),
                }
            }
            if let Some(n) = p.get("n") {
                if n.as_u64().is_none() {
                    return Err(bad(format!("page.n of {name} must be an integer >= 0, not {n}")));
                }
            }
        }
    }
    if let Some(filters) = data.get("options").and_then(|o| o.get("filters")).and_then(Value::as_array) {
        if filters.len() > 1 && !filters.iter().any(|f| f.as_str() == Some("external")) {
            return Err(bad(format!("options.filters of {name}: when several filters are given, external must be one of them [C MOZSCHEMA]")));
        }
    }
    if name == "data.site.link.intersect.fetch" {
        let is = data.get("is_linking_to").and_then(Value::as_array).map_or(0, Vec::len);
        let total = targets_of(data);
        if is == 0 {
            return Err(bad("is_linking_to needs at least one site"));
        }
        let max = catalog().fact("max_intersect_targets").and_then(Value::as_u64).unwrap_or(6);
        if total > max {
            return Err(bad(format!("link intersect takes at most {max} targets across is_linking_to and not_linking_to, not {total}")));
        }
        if let Some(min) = data.get("options").and_then(|o| o.get("minimum_matching_targets")).filter(|v| !v.is_null()) {
            match min.as_u64() {
                Some(n) if n >= 1 && n <= is as u64 => {}
                _ => return Err(bad(format!("options.minimum_matching_targets must be an integer in 1..={is}, not {min}"))),
            }
        }
    }
    if name == "data.site.metrics.histories.fetch" && !HISTORY_KEYS.iter().any(|k| data.get(*k).and_then(Value::as_array).is_some_and(|a| !a.is_empty())) {
        return Err(bad(format!("{name} needs at least one of {}", HISTORY_KEYS.join(", "))));
    }
    for key in ["site_queries", "queries"] {
        if data.get(key).and_then(Value::as_array).is_some_and(Vec::is_empty) {
            return Err(bad(format!("{key} of {name} must not be empty")));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Replies

#[derive(Deserialize, Default)]
struct RpcErrorData {
    #[serde(default)]
    explanation: Option<String>,
    #[serde(default)]
    issue: Option<String>,
    #[serde(default)]
    key: Option<String>,
}

#[derive(Deserialize)]
struct RpcError {
    code: Option<i64>,
    status: Option<u16>,
    #[serde(rename = "httpStatus")]
    http_status: Option<u16>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    data: Option<RpcErrorData>,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: Option<RpcError>,
}

fn is_quota(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    ["quota", "row limit", "rows limit", "out of rows", "allowance", "overage"].iter().any(|w| t.contains(w))
}

/// The JSON-RPC error envelope (or a bare HTTP error) as the shared exceptions. A 4xx is never
/// retried: each one counts toward Moz's penalty.
pub fn classify(status: u16, body: &[u8]) -> Option<Error> {
    let envelope: Option<RpcError> = serde_json::from_slice::<ErrorEnvelope>(body).ok().and_then(|e| e.error);
    if envelope.is_none() && (200..300).contains(&status) {
        return None;
    }
    let (code, status, message, field, issue) = match envelope {
        Some(e) => {
            // -32600 puts the status in httpStatus, not status [T MOZEV].
            let st = e.status.or(e.http_status).unwrap_or(if (200..300).contains(&status) { 400 } else { status });
            let d = e.data.unwrap_or_default();
            let mut msg = e.message.unwrap_or_default();
            if let Some(x) = d.explanation.filter(|x| !x.is_empty() && !msg.contains(x.as_str())) {
                msg = format!("{msg}: {x}");
            }
            (e.code, st, msg, d.key, d.issue)
        }
        None => (None, status, super::error_text(body), None, None),
    };
    let text = format!("{message} {}", issue.as_deref().unwrap_or(""));
    let (kind, retryable) = match (code, status) {
        (_, _) if is_quota(&text) => (Kind::UnitsExhausted, false),
        (Some(-32651), _) | (_, 401) | (_, 403) => (Kind::Authentication, false),
        (_, 429) => (Kind::RateLimited, false),
        (_, 402) => (Kind::UnitsExhausted, false),
        (_, 404) => (Kind::Provider, false), // NotFoundError: no value for this keyword
        (_, 500..=599) => (Kind::Provider, true),
        (Some(-32652 | -32600 | -32601 | -32654 | -32602), _) | (_, 400..=499) => (Kind::InvalidRequest, false),
        _ => (Kind::Provider, false),
    };
    let mut what = format!("Moz API error{} (HTTP {status}): {message}", code.map(|c| format!(" {c}")).unwrap_or_default());
    if let Some(f) = &field {
        what.push_str(&format!(" (field: {f})"));
    }
    let mut e = Error::new(kind, what).provider(PROVIDER).status(status).retryable(retryable);
    e.code = code.map(|c| c.to_string());
    Some(e)
}

/// Reads `{"result": {...}}`: the size of the rows list, the offset token and the values the
/// quota rules count, skipping everything else.
struct ResultSeed<'a> {
    rows: Option<&'a str>,
}

struct EnvelopeSeed<'a>(ResultSeed<'a>);

impl<'de> DeserializeSeed<'de> for EnvelopeSeed<'_> {
    type Value = Option<Tally>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EnvelopeSeed<'_> {
    type Value = Option<Tally>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON-RPC response object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Self::Value, A::Error> {
        let mut tally = None;
        while let Some(k) = map.next_key::<Cow<'de, str>>()? {
            if k == "result" {
                tally = Some(map.next_value_seed(ResultSeed { rows: self.0.rows })?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(tally)
    }
}

impl<'de> DeserializeSeed<'de> for ResultSeed<'_> {
    type Value = Tally;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

struct Count;
impl<'de> Visitor<'de> for Count {
    type Value = u64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<u64, A::Error> {
        let mut n = 0u64;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            n += 1;
        }
        Ok(n)
    }
}
impl<'de> DeserializeSeed<'de> for Count {
    type Value = u64;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<u64, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ResultSeed<'_> {
    type Value = Tally;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a result object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Tally, A::Error> {
        let mut t = Tally::default();
        while let Some(k) = map.next_key::<Cow<'de, str>>()? {
            if Some(k.as_ref()) == self.rows {
                t.rows = map.next_value_seed(Count)?;
                t.has_rows_key = true;
            } else if k == "offset" {
                #[derive(Deserialize)]
                struct Offset {
                    #[serde(default)]
                    token: Option<String>,
                }
                let o: Option<Offset> = map.next_value()?;
                t.token = o.and_then(|o| o.token).filter(|s| !s.is_empty());
            } else if k == "keyword_metrics" {
                let m: Option<BTreeMap<String, Value>> = map.next_value()?;
                t.values = m.map_or(0, |m| m.values().filter(|v| !v.is_null()).count() as u64);
            } else if k == "site_metrics_histories" {
                let h: Option<BTreeMap<String, Value>> = map.next_value()?;
                t.histories = h.map_or(0, |h| h.values().filter_map(Value::as_array).map(|a| a.len() as u64).sum());
            } else if k == "errors_by_site" || k == "errors_by_query" {
                t.errors = map.next_value_seed(Count)?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
            t.keys.push(k.into_owned());
        }
        Ok(t)
    }
}

/// The tally of a success body, checked against the method's shape.
pub fn read(m: &MozMethod, body: &[u8]) -> Result<Tally> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let tally = EnvelopeSeed(ResultSeed { rows: m.rows.as_deref() })
        .deserialize(&mut de)
        .and_then(|t| de.end().map(|_| t))
        .map_err(|e| Error::format(format!("Moz {} answered with a body that is not the expected JSON-RPC result ({e})", m.method)).provider(PROVIDER))?;
    let Some(mut t) = tally else {
        return Err(Error::format(format!("Moz {} answered without a result or an error", m.method)).provider(PROVIDER));
    };
    match m.rows.as_deref() {
        Some(key) if !t.has_rows_key => {
            return Err(Error::format(format!("Moz {} result has no {key} list", m.method)).provider(PROVIDER));
        }
        Some(_) => {}
        None => {
            // One object: its main key (the first of the result keys that is not an echo) must be there.
            let main = m.result_keys.iter().find(|k| !k.ends_with("_query") && !k.ends_with("_queries"));
            if let Some(k) = main.filter(|k| !t.keys.contains(k)) {
                return Err(Error::format(format!("Moz {} result has no {k}", m.method)).provider(PROVIDER));
            }
            t.rows = 1;
        }
    }
    Ok(t)
}

// ---------------------------------------------------------------------------------------------
// The 4xx breaker, shared through the ledger's store

/// Counts 4xx answers per account in the ledger's store (memory, SQLite or Redis, so every
/// process sharing the ledger sees them). After `threshold` in 5 minutes, calls are refused for
/// 30 s; past Moz's own 50, the account is paced to 50 requests per 5 minutes until 30 s pass
/// without a 4xx [C MOZDOCS error-handling].
pub struct Breaker {
    pub threshold: u32,
    ledger: Arc<Ledger>,
    key: String,
    pace: Arc<Limits>,
}

#[derive(Debug, Default, serde::Serialize, Deserialize)]
struct BreakerState {
    /// Unix seconds of the 4xx answers of the last 5 minutes.
    t: Vec<f64>,
    /// Refuse calls until then.
    until: f64,
    /// Moz's own penalty applies until then (50 requests per 5 minutes).
    throttled: f64,
}

const WINDOW: f64 = 300.0;
const COOL: f64 = 30.0;
const MOZ_LIMIT: usize = 50;

fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

impl Breaker {
    pub fn new(ledger: Arc<Ledger>, account: &str, threshold: u32) -> Breaker {
        let pace = Limits::shared(PROVIDER, &format!("{account}|4xx-penalty"), Some(Rate { count: MOZ_LIMIT as u32, per: Duration::from_secs(300) }), None, &ledger);
        Breaker { threshold, key: format!("moz-4xx|{account}"), ledger, pace }
    }

    fn load(&self) -> BreakerState {
        self.ledger.backend().cache_get(&self.key).ok().flatten().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
    }

    fn store(&self, s: &BreakerState) {
        if let Ok(bytes) = serde_json::to_vec(s) {
            let _ = self.ledger.backend().cache_put(&self.key, &bytes, Duration::from_secs(WINDOW as u64));
        }
    }

    /// Refuse a call while the breaker is open; returns whether Moz's penalty pacing applies.
    pub fn admit(&self) -> Result<bool> {
        if self.threshold == 0 {
            return Ok(false);
        }
        let s = self.load();
        let t = now();
        if t < s.until {
            let wait = s.until - t;
            let mut e = Error::new(
                Kind::RateLimited,
                format!(
                    "refused for {wait:.0} s more: this Moz account had {} answers ending in 4xx within 5 minutes (breaker at {}). Moz cuts an account \
                     that sends more than 50 such requests in 5 minutes to 50 requests per 5 minutes until 30 s pass without a 4xx; nothing was sent",
                    s.t.iter().filter(|x| t - **x < WINDOW).count(),
                    self.threshold
                ),
            )
            .provider(PROVIDER);
            e.before_send = true;
            e.retry_after = Some(Duration::from_secs_f64(wait.max(0.0)));
            return Err(e);
        }
        Ok(t < s.throttled)
    }

    pub fn record_4xx(&self) {
        if self.threshold == 0 {
            return;
        }
        let mut s = self.load();
        let t = now();
        s.t.retain(|x| t - *x < WINDOW);
        s.t.push(t);
        if s.t.len() >= self.threshold as usize {
            s.until = t + COOL;
        }
        if s.t.len() > MOZ_LIMIT {
            s.throttled = t + COOL;
        }
        self.store(&s);
    }

    pub async fn paced(&self) -> Result<crate::limits::Slot> {
        self.pace.acquire().await
    }
}

// ---------------------------------------------------------------------------------------------
// Client

pub struct Settings {
    pub token: Option<String>,
    pub api_url: Option<String>,
    pub ledger: Arc<Ledger>,
    /// Budget per quota pool.
    pub budgets: BTreeMap<String, Budget>,
    pub retry: RetryPolicy,
    pub timeout: Duration,
    /// The account's concurrency limiter (shared with the Links v2 client of the same token).
    pub limits: Arc<Limits>,
    pub account: String,
    pub cache_ttl: Option<Duration>,
    pub defaults: Defaults,
    pub breaker_threshold: u32,
}

pub struct Client {
    engines: BTreeMap<&'static str, Engine>,
    token: Option<String>,
    pub api_url: String,
    pub defaults: Defaults,
    pub breaker: Breaker,
    pub account: String,
}

/// A fresh UUIDv4 (the request id; Moz wants at least 24 characters).
pub fn request_id() -> String {
    use rand::{Rng, SeedableRng};
    let mut b = [0u8; 16];
    rand::rngs::StdRng::from_os_rng().fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

impl Client {
    /// The call log's tag for every pool's engine.
    pub fn set_tag(&self, tag: Option<String>) {
        for e in self.engines.values() {
            e.set_tag(tag.clone());
        }
    }

    pub fn new(s: Settings) -> Result<Client> {
        let api_url = s.api_url.unwrap_or_else(|| DEFAULT_URL.to_string());
        let parsed = url::Url::parse(&api_url).map_err(|e| bad(format!("api_url is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(bad("api_url must be http(s)"));
        }
        let mut engines = BTreeMap::new();
        for pool in POOLS {
            // Links v2 rows are the mozscape pool: the same ledger scope as the v2 client.
            let account = if *pool == "mozscape" { s.account.clone() } else { format!("{}:{pool}", s.account) };
            let budget = s.budgets.get(*pool).cloned();
            engines.insert(*pool, Engine::new(PROVIDER, account, s.ledger.clone(), budget, s.retry.clone(), s.timeout, s.limits.clone(), s.cache_ttl));
        }
        let breaker = Breaker::new(s.ledger.clone(), &s.account, s.breaker_threshold);
        Ok(Client { engines, token: s.token, api_url, defaults: s.defaults, breaker, account: s.account })
    }

    pub fn engine(&self, pool: &str) -> &Engine {
        self.engines.get(pool).unwrap_or_else(|| &self.engines["data"])
    }

    pub fn engines(&self) -> impl Iterator<Item = (&'static str, &Engine)> {
        self.engines.iter().map(|(k, v)| (*k, v))
    }

    pub fn prepare(&self, name: &str, data: Map<String, Value>, strict: bool) -> Result<Prepared> {
        prepare(name, data, &self.defaults, strict)
    }

    fn request(&self, p: &Prepared) -> Result<(Request, Bytes)> {
        let token = self.token.as_deref().filter(|t| !t.is_empty()).ok_or_else(|| {
            Error::new(Kind::Authentication, "the Moz API takes a token (token= or MOZ_TOKEN); access ID/secret key pairs only work on Links API v2").provider(PROVIDER)
        })?;
        let params = serde_json::json!({"data": Value::Object(p.data.clone())});
        let basis = serde_json::to_vec(&serde_json::json!([p.method.method, params])).unwrap_or_default();
        let body = serde_json::json!({"jsonrpc": "2.0", "id": request_id(), "method": p.method.method, "params": params});
        let body = serde_json::to_vec(&body).map_err(|e| bad(format!("could not encode the request: {e}")))?;
        Ok((
            Request {
                method: reqwest::Method::POST,
                url: self.api_url.clone(),
                shown: format!("{} {}", self.api_url, p.method.method),
                headers: vec![("x-moz-token", token.to_string()), ("content-type", "application/json".into())],
                body: Some(Bytes::from(body)),
            },
            Bytes::from(basis),
        ))
    }

    /// One call: refuse while the 4xx breaker is open, reserve the worst case in the method's
    /// pool, send, commit the rows that came back. The page's value is the `result` object, or
    /// its rows list when `rows_view`.
    pub async fn fetch(&self, p: &Prepared, rows_view: bool) -> Result<(JsonPage, Tally)> {
        let m = p.method;
        let throttled = self.breaker.admit()?;
        let _pace = if throttled { Some(self.breaker.paced().await?) } else { None };
        let (request, basis) = self.request(p)?;
        let free = m.pricing.rule == "free";
        let engine = self.engine(p.pool());
        let call = Call { report: &m.method, estimate: p.estimate, metered: !free, cacheable: p.cache && !free, request, cache_basis: Some(basis) };
        let breaker = &self.breaker;
        let check = |reply: &Reply| -> Result<()> {
            // A 200 may still carry an error envelope; only then is the body read twice.
            let suspicious = !(200..300).contains(&reply.status) || reply.body.windows(8).take(64).any(|w| w == b"\"error\":");
            match suspicious.then(|| classify(reply.status, &reply.body)).flatten() {
                Some(e) => {
                    if (400..500).contains(&e.status.unwrap_or(0)) {
                        breaker.record_4xx();
                    }
                    Err(e)
                }
                None => Ok(()),
            }
        };
        let data = &p.data;
        let ((page, tally), committed) = engine
            .call(call, check, |reply| {
                let tally = read(m, &reply.body)?;
                let units = if reply.cached { 0 } else { units(m, data, &tally) };
                let unwrap = match (&m.rows, rows_view) {
                    (Some(k), true) => Unwrap::Path("result", k.as_str()),
                    _ => Unwrap::Key("result"),
                };
                let page = JsonPage {
                    provider: PROVIDER,
                    report: m.method.clone(),
                    body: reply.body,
                    unwrap,
                    rows: tally.rows,
                    units,
                    estimate: p.estimate,
                    next_token: tally.token.clone(),
                    cached: reply.cached,
                    spent: None,
                    budget: None,
                    alerts: Vec::new(),
                };
                Ok(((page, tally.clone()), Record { units, rows: tally.rows, ..Default::default() }))
            })
            .await?;
        Ok((page.settled(committed), tally))
    }
}

// ---------------------------------------------------------------------------------------------
// Bulk: the `*.multiple` methods for any number of items

/// Where one item's answer is in its chunk's page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// Index in the results list.
    Result(usize),
    /// Index in the errors list (a per-item failure: never billed).
    Error(usize),
    /// The answer has neither (Moz dropped it).
    Missing,
}

/// Turns a chunk's page and its placements into the caller's value (Python objects, in the
/// bindings). Runs on the blocking pool as each page lands, while other chunks are in flight.
pub type PlaceDecoder<T> = Arc<dyn Fn(&JsonPage, &[Placed]) -> Result<T> + Send + Sync>;

pub struct Multiple<T> {
    /// Answered chunks: (chunk index, page with its body dropped, the decoded value).
    pub pages: Vec<(usize, JsonPage, T)>,
    /// For each input position, its unique item (chunk = u / chunk_size, place = u % chunk_size).
    pub slots: Vec<usize>,
    pub chunk_size: usize,
    pub estimate: u64,
    /// Input positions whose chunk failed or was not sent after a failure.
    pub failed: Vec<usize>,
    pub error: Option<Error>,
    /// The results and errors lists of the method (`results_by_site`, `errors_by_site`).
    pub lists: (&'static str, &'static str),
}

/// How Moz echoes a site: scheme, trailing slash and case do not matter, and a domain scope
/// keeps only the host (Moz cuts `moz.com/foo` down to `moz.com` [C MOZSCHEMA SiteQuery]).
fn site_key(q: &Value) -> String {
    let scope = q.get("scope").and_then(Value::as_str).unwrap_or("");
    let mut s = q.get("query").and_then(Value::as_str).unwrap_or("").trim().to_ascii_lowercase();
    for scheme in ["https://", "http://"] {
        if let Some(rest) = s.strip_prefix(scheme) {
            s = rest.to_string();
        }
    }
    if matches!(scope, "domain" | "subdomain") {
        s = s.split(['/', '?', '#']).next().unwrap_or("").to_string();
    }
    if scope == "domain" {
        s = s.strip_prefix("www.").map(str::to_string).unwrap_or(s);
    }
    format!("{scope}|{}", s.trim_end_matches('/'))
}

fn echo_keys(q: &Value) -> Vec<String> {
    let mut keys = Vec::new();
    if let Some(o) = q.get("original_site_query") {
        keys.push(site_key(o));
    }
    keys.push(site_key(q));
    keys
}

/// The keys an item or an answer entry can be matched by.
fn entry_keys(pair: bool, entry: &Value, echoed: bool) -> Vec<String> {
    let one = |q: &Value| if echoed { echo_keys(q) } else { vec![site_key(q)] };
    if pair {
        let (t, s) = (entry.get("target_site_query").unwrap_or(&Value::Null), entry.get("source_site_query").unwrap_or(&Value::Null));
        let mut out = Vec::new();
        for a in one(t) {
            for b in one(s) {
                out.push(format!("{a} <- {b}"));
            }
        }
        out
    } else {
        one(if echoed { entry.get("site_query").unwrap_or(&Value::Null) } else { entry })
    }
}

impl Client {
    /// A `*.multiple` method for any number of items: validated first, duplicates fetched once,
    /// chunks of `chunk_size` at most `concurrency` at once, each answer matched back to its
    /// input (Moz does not keep order). After a failure no new chunk is sent; the ones in
    /// flight finish and are committed (their rows were charged).
    #[allow(clippy::too_many_arguments)]
    pub async fn multiple<T: Send + 'static>(
        &self,
        method: &str,
        items: Vec<Value>,
        extra: Map<String, Value>,
        chunk_size: usize,
        concurrency: usize,
        strict: bool,
        cache: bool,
        decode: PlaceDecoder<T>,
    ) -> Result<Multiple<T>> {
        use futures::StreamExt;
        let m = resolve(method)?;
        let (key, lists, pair) = multiple_shape(method)?;
        if chunk_size == 0 {
            return Err(bad("chunk_size must be at least 1"));
        }
        if items.is_empty() {
            return Ok(Multiple { pages: Vec::new(), slots: Vec::new(), chunk_size, estimate: 0, failed: Vec::new(), error: None, lists });
        }
        // Validate every item before anything is sent (one pass over the whole list).
        let mut all = extra.clone();
        all.insert(key.into(), Value::Array(items));
        let checked = self.prepare(&m.method, all, strict)?;
        let Some(Value::Array(items)) = checked.data.get(key).cloned() else { return Err(bad(format!("{key} must be a list"))) };
        let mut unique: Vec<Value> = Vec::new();
        let mut first_seen = Vec::new();
        let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        let mut slots = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let k = entry_keys(pair, &item, false).remove(0);
            let u = *index.entry(k).or_insert_with(|| {
                unique.push(item);
                first_seen.push(i);
                unique.len() - 1
            });
            slots.push(u);
        }
        // The shared fields once, without the (long) item list: each chunk adds its own.
        let mut shared = checked.data;
        shared.remove(key);
        let chunks: Vec<Prepared> = unique
            .chunks(chunk_size)
            .map(|c| {
                let mut data = shared.clone();
                data.insert(key.into(), Value::Array(c.to_vec()));
                let estimate = estimate(m, &data);
                Prepared { method: m, data, estimate, cache }
            })
            .collect();
        let total: u64 = chunks.iter().map(|c| c.estimate).sum();
        let stop = std::sync::atomic::AtomicBool::new(false);
        let (stop, unique, first_seen, decode) = (&stop, &unique, &first_seen, &decode);
        type Decoding<T> = tokio::task::JoinHandle<(JsonPage, Result<T>)>;
        let outcomes: Vec<(usize, std::result::Result<Decoding<T>, Option<Error>>)> =
            futures::stream::iter(chunks.into_iter().enumerate().map(|(c, p)| async move {
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    return (c, Err(None));
                }
                let lo = c * chunk_size;
                let hi = (lo + chunk_size).min(unique.len());
                let page = match self.fetch(&p, false).await {
                    Ok((page, _)) => page,
                    Err(mut e) => {
                        stop.store(true, std::sync::atomic::Ordering::SeqCst);
                        e.message = format!("{} chunk {c} (input positions from {}) failed: {}", m.method, first_seen[lo], e.message);
                        return (c, Err(Some(e)));
                    }
                };
                // Matching and decoding leave the request's slot to the next chunk at once.
                let (decode, items) = (decode.clone(), unique[lo..hi].to_vec());
                let decoding = tokio::task::spawn_blocking(move || {
                    let value = place(pair, &page.body, lists, &items).and_then(|placed| decode(&page, &placed));
                    (JsonPage { body: Bytes::new(), ..page }, value)
                });
                (c, Ok(decoding))
            }))
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        let chunks_n = unique.len().div_ceil(chunk_size);
        let mut failed_chunk = vec![false; chunks_n];
        let mut pages = Vec::new();
        let mut error = None;
        for (c, o) in outcomes {
            let outcome = match o {
                Ok(decoding) => match decoding.await {
                    Ok((page, Ok(value))) => Ok((page, value)),
                    Ok((_, Err(e))) => Err(Some(e)),
                    Err(e) => Err(Some(Error::format(format!("decoding a {} page failed: {e}", m.method)).provider(PROVIDER))),
                },
                Err(e) => Err(e),
            };
            match outcome {
                Ok((page, value)) => pages.push((c, page, value)),
                Err(e) => {
                    failed_chunk[c] = true;
                    if let Some(e) = e {
                        error.get_or_insert(e);
                    }
                }
            }
        }
        pages.sort_by_key(|p| p.0);
        let failed = slots.iter().enumerate().filter(|(_, u)| failed_chunk[**u / chunk_size]).map(|(i, _)| i).collect();
        Ok(Multiple { pages, slots, chunk_size, estimate: total, failed, error, lists })
    }
}

/// One call per item of a single-item method (brand authority, keyword metrics, search intent).
pub struct Each {
    /// Per input position: its page, its own failure (kept in place), or None if never sent.
    pub answers: Vec<Option<std::result::Result<JsonPage, Error>>>,
    pub estimate: u64,
    /// The failure that stopped the run (auth, budget, quota, transport), if any.
    pub error: Option<Error>,
}

impl Client {
    /// `method` once per item, the item as its subject field (`subject`), at most `concurrency`
    /// at once, answers in input order. Every item is validated first. An item's own failure
    /// (an invalid item, or a 404 for an unknown keyword) stays in its place; any other failure
    /// stops new sends (the calls in flight finish and are committed).
    #[allow(clippy::too_many_arguments)]
    pub async fn each(
        &self,
        method: &str,
        subject: &str,
        items: Vec<Value>,
        extra: Map<String, Value>,
        concurrency: usize,
        strict: bool,
        cache: bool,
        on_page: Arc<dyn Fn(&JsonPage) + Send + Sync>,
    ) -> Result<Each> {
        use futures::StreamExt;
        let mut prepared = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let mut data = extra.clone();
            data.insert(subject.to_string(), item);
            let mut p = self.prepare(method, data, strict).map_err(|mut e| {
                e.message = format!("item {i}: {}", e.message);
                e
            })?;
            p.cache = cache;
            prepared.push(p);
        }
        let estimate = prepared.iter().map(|p| p.estimate).sum();
        let stop = std::sync::atomic::AtomicBool::new(false);
        let (stop, on_page) = (&stop, &on_page);
        let mut outcomes: Vec<(usize, Option<std::result::Result<JsonPage, Error>>)> =
            futures::stream::iter(prepared.into_iter().enumerate().map(|(i, p)| async move {
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    return (i, None);
                }
                match self.fetch(&p, false).await {
                    Ok((page, _)) => {
                        on_page(&page);
                        (i, Some(Ok(page)))
                    }
                    Err(e) => {
                        let own = e.kind == Kind::InvalidRequest || (e.kind == Kind::Provider && e.status == Some(404));
                        if !own {
                            stop.store(true, std::sync::atomic::Ordering::SeqCst);
                        }
                        (i, Some(Err(e)))
                    }
                }
            }))
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        outcomes.sort_by_key(|o| o.0);
        let mut error = None;
        let answers = outcomes
            .into_iter()
            .map(|(_, o)| match o {
                Some(Err(e)) if !(e.kind == Kind::InvalidRequest || (e.kind == Kind::Provider && e.status == Some(404))) => {
                    error.get_or_insert(e);
                    None
                }
                other => other,
            })
            .collect();
        Ok(Each { answers, estimate, error })
    }
}

/// Only the echoes of a bulk answer (what matching needs): the metrics are skipped, not built.
#[derive(Deserialize)]
struct Echoes {
    result: Option<EchoLists>,
}

#[derive(Deserialize)]
struct EchoLists {
    #[serde(alias = "results_by_query")]
    results_by_site: Option<Vec<Echo>>,
    #[serde(alias = "errors_by_query")]
    errors_by_site: Option<Vec<Echo>>,
}

/// The `*site_query` members of one answer entry; every other member is skipped unread.
struct Echo {
    queries: Vec<(String, Value)>,
}

impl<'de> Deserialize<'de> for Echo {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Echo;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an answer entry")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Echo, A::Error> {
                let mut queries = Vec::new();
                while let Some(k) = map.next_key::<Cow<'de, str>>()? {
                    if k.ends_with("site_query") {
                        queries.push((k.into_owned(), map.next_value::<Value>()?));
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(Echo { queries })
            }
        }
        d.deserialize_map(V)
    }
}

/// Where each item of a chunk is in its answer.
fn place(pair: bool, body: &[u8], (results, errors): (&str, &str), items: &[Value]) -> Result<Vec<Placed>> {
    let _ = (results, errors);
    let doc: Echoes = serde_json::from_slice(body).map_err(|e| Error::format(format!("Moz answered a body that is not the expected JSON ({e})")).provider(PROVIDER))?;
    let lists = doc.result.ok_or_else(|| Error::format("Moz answered without a result").provider(PROVIDER))?;
    let as_value = |list: Vec<Echo>| -> Vec<Value> {
        list.into_iter()
            .map(|e| Value::Object(e.queries.into_iter().collect()))
            .collect()
    };
    let results_list = as_value(lists.results_by_site.ok_or_else(|| Error::format(format!("Moz result has no {results} list")).provider(PROVIDER))?);
    let errors_list = as_value(lists.errors_by_site.unwrap_or_default());
    // Items that Moz would echo alike (`moz.com` and `https://MOZ.com/`) share one answer.
    let mut want: std::collections::HashMap<String, Vec<usize>> = std::collections::HashMap::new();
    for (i, item) in items.iter().enumerate() {
        want.entry(entry_keys(pair, item, false).remove(0)).or_default().push(i);
    }
    let mut placed = vec![Placed::Missing; items.len()];
    for (entries, as_error) in [(&results_list, false), (&errors_list, true)] {
        for (j, entry) in entries.iter().enumerate() {
            if let Some(alike) = entry_keys(pair, entry, true).iter().find_map(|k| want.get(k)) {
                for &i in alike {
                    if placed[i] == Placed::Missing {
                        placed[i] = if as_error { Placed::Error(j) } else { Placed::Result(j) };
                    }
                }
            }
        }
    }
    Ok(placed)
}

/// What a `*.multiple` method sends its items as and where its answers are: (items key,
/// (results list, errors list), items are target/source pairs).
pub fn multiple_shape(method: &str) -> Result<(&'static str, (&'static str, &'static str), bool)> {
    match resolve(method)?.method.as_str() {
        "data.site.metrics.fetch.multiple" => Ok(("site_queries", ("results_by_site", "errors_by_site"), false)),
        "data.site.link.status.fetch.multiple" => Ok(("queries", ("results_by_query", "errors_by_query"), true)),
        other => Err(bad(format!("{other} is not a *.multiple method"))),
    }
}

/// Where each of a chunk's items is in the chunk's answer (`Missing` when Moz dropped it).
pub fn place_items(method: &str, body: &[u8], items: &[Value]) -> Result<Vec<Placed>> {
    let (_, lists, pair) = multiple_shape(method)?;
    place(pair, body, lists, items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn prep(name: &str, v: Value) -> Result<Prepared> {
        prepare(name, obj(v), &Defaults::default(), true)
    }

    #[test]
    fn names_resolve_and_strings_expand() {
        let p = prep("data.site.linking-domain.list", json!({"site_query": "moz.com"})).unwrap();
        assert_eq!(p.method.method, "data.site.linking.domain.list");
        assert_eq!(p.data["site_query"], json!({"query": "moz.com", "scope": "domain"}));
        assert_eq!(p.estimate, 25);
        let p = prep("data.keyword.search.intent.fetch", json!({"serp_query": "seo"})).unwrap();
        assert_eq!(p.data["serp_query"], json!({"keyword": "seo", "locale": "en-US", "device": "desktop", "engine": "google"}));
        assert!(resolve("data.site.ranking.keywords.list").unwrap_err().message.contains("did you mean"));
    }

    #[test]
    fn quota_rules_price_the_worst_case_and_commit_what_came_back() {
        let km = prep("data.keyword.metrics.fetch", json!({"serp_query": "seo"})).unwrap();
        assert_eq!(km.estimate, 4);
        let t = read(km.method, br#"{"id":"x","jsonrpc":"2.0","result":{"keyword_metrics":{"volume":10,"difficulty":null,"organic_ctr":0.5,"priority":null},"serp_query":{}}}"#).unwrap();
        assert_eq!(units(km.method, &km.data, &t), 2);
        let li = prep("data.site.link.intersect.fetch", json!({"is_linking_to": ["a.com", "b.com"], "not_linking_to": ["c.com"], "offset": {"limit": 10}})).unwrap();
        assert_eq!(li.estimate, 30);
        let t = read(li.method, br#"{"result":{"link_intersects":[{},{}],"offset":{"token":null}}}"#).unwrap();
        assert_eq!(units(li.method, &li.data, &t), 6);
        let multi = prep("data.site.metrics.fetch.multiple", json!({"site_queries": ["a.com", "b.com", "c.com"]})).unwrap();
        assert_eq!(multi.estimate, 3);
        let t = read(multi.method, br#"{"result":{"results_by_site":[{},{}],"errors_by_site":[{}]}}"#).unwrap();
        assert_eq!((units(multi.method, &multi.data, &t), t.errors), (2, 1));
        assert_eq!(prep("quota.lookup", json!({"path": "api.limits.data.rows"})).unwrap().estimate, 0);
        let h = prep("data.site.metrics.histories.fetch", json!({"site_query": "moz.com", "get_monthly_history_values_for": ["domain_authority", "page_authority"]})).unwrap();
        assert_eq!(h.estimate, 2);
    }

    #[test]
    fn the_schema_and_the_reference_refuse_bad_fields() {
        for (name, v) in [
            ("data.site.link.list", json!({"site_query": {"query": "moz.com", "scope": "root_domain"}})),
            ("data.site.link.list", json!({"site_query": "moz.com", "offset": {"limit": 51}})),
            ("data.site.link.list", json!({"site_query": "moz.com", "limit": 10})),
            ("data.site.link.list", json!({"site_query": "moz.com", "options": {"filters": ["follow", "nofollow"]}})),
            ("data.site.link.list", json!({"site_query": "moz.com", "colour": 1})),
            ("data.site.link.list", json!({})),
            ("data.keyword.metrics.fetch", json!({"serp_query": ""})),
            ("data.keyword.metrics.fetch", json!({"serp_query": "x".repeat(256)})),
            ("data.site.link.intersect.fetch", json!({"is_linking_to": ["a.com", "b.com", "c.com", "d.com"], "not_linking_to": ["e.com", "f.com", "g.com"]})),
            ("data.site.ranking.keyword.list", json!({"target_query": "moz.com", "page": {"limit": 501}})),
            ("data.site.metrics.brand.authority.fetch", json!({"site_query": {"query": "moz.com", "scope": "url"}})),
            ("data.site.metrics.histories.fetch", json!({"site_query": "moz.com"})),
            ("data.site.metrics.fetch.multiple", json!({"site_queries": []})),
        ] {
            let e = prep(name, v.clone()).unwrap_err();
            assert_eq!(e.kind, Kind::InvalidRequest, "{name} {v}");
        }
        // strict=False sends an unknown field as given, but never a top-level limit.
        assert!(prepare("data.site.link.list", obj(json!({"site_query": "moz.com", "colour": 1})), &Defaults::default(), false).is_ok());
        assert!(prepare("data.site.link.list", obj(json!({"site_query": "moz.com", "limit": 1})), &Defaults::default(), false).is_err());
    }

    #[test]
    fn multiple_answers_match_back_in_any_order() {
        let items = vec![json!({"query": "https://moz.com/", "scope": "domain"}), json!({"query": "moz.com/blog", "scope": "url"}), json!({"query": "gone.com", "scope": "domain"})];
        let body = br#"{"result":{"results_by_site":[
            {"site_query":{"query":"https://moz.com/blog","scope":"url","original_site_query":{"query":"moz.com/blog","scope":"url"}}},
            {"site_query":{"query":"https://moz.com","scope":"domain","original_site_query":{"query":"moz.com","scope":"domain"}}}],
            "errors_by_site":[{"site_query":{"query":"gone.com","scope":"domain"},"error":{"name":"UnhandledError"}}]}}"#;
        let placed = place(false, body, ("results_by_site", "errors_by_site"), &items).unwrap();
        assert_eq!(placed, vec![Placed::Result(1), Placed::Result(0), Placed::Error(0)]);
    }

    #[test]
    fn the_breaker_opens_at_its_threshold_and_paces_past_mozs_own_limit() {
        let ledger = Arc::new(Ledger::open("memory://").unwrap());
        let b = Breaker::new(ledger.clone(), "acct", 3);
        for _ in 0..2 {
            b.record_4xx();
        }
        assert_eq!(b.admit().unwrap(), false);
        b.record_4xx();
        let e = b.admit().unwrap_err();
        assert_eq!(e.kind, Kind::RateLimited);
        assert!(e.before_send && e.retry_after.is_some());
        // Shared through the store: another breaker on the same ledger and account sees it.
        assert!(Breaker::new(ledger.clone(), "acct", 3).admit().is_err());
        assert!(Breaker::new(ledger.clone(), "other", 3).admit().is_ok());
        // Above Moz's 50 (a breaker set higher, or other clients): paced, not refused.
        let lax = Breaker::new(ledger, "busy", 100);
        for _ in 0..51 {
            lax.record_4xx();
        }
        assert_eq!(lax.admit().unwrap(), true);
        assert!(Breaker::new(Arc::new(Ledger::open("memory://").unwrap()), "acct", 0).admit().is_ok());
    }

    #[test]
    fn a_throttled_account_is_paced_to_50_requests_per_5_minutes() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let b = Breaker::new(Arc::new(Ledger::open("memory://").unwrap()), "paced", 100);
        rt.block_on(async {
            for _ in 0..50 {
                drop(tokio::time::timeout(Duration::from_millis(200), b.paced()).await.expect("the first 50 go at once").unwrap());
            }
            assert!(tokio::time::timeout(Duration::from_millis(300), b.paced()).await.is_err(), "the 51st waits for the window");
        });
    }

    #[test]
    fn errors_map_to_the_shared_kinds() {
        let e = classify(401, br#"{"error":{"code":-32651,"status":401,"message":"Missing or invalid authentication"}}"#).unwrap();
        assert_eq!((e.kind, e.status), (Kind::Authentication, Some(401)));
        let e = classify(400, br#"{"error":{"code":-32652,"status":400,"message":"Please include a site_query","data":{"issue":"param-is-missing","key":"site_query"}}}"#).unwrap();
        assert_eq!(e.kind, Kind::InvalidRequest);
        assert!(e.message.contains("field: site_query"));
        let e = classify(200, br#"{"error":{"code":-32600,"httpStatus":400,"message":"jsonrpc must be \"2.0\""}}"#).unwrap();
        assert_eq!((e.kind, e.status), (Kind::InvalidRequest, Some(400)));
        let e = classify(500, br#"{"error":{"code":-32602,"status":500,"message":"An unexpected error occurred."}}"#).unwrap();
        assert!(e.retryable && e.kind == Kind::Provider);
        assert!(classify(200, br#"{"result":{}}"#).is_none());
        assert_eq!(request_id().len(), 36);
    }
}
