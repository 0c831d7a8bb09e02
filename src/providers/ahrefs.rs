//! Ahrefs API v3: GET + Bearer, JSON with one top-level key, units = max(50, per-row field cost
//! x rows), `x-api-*` cost headers, 60 requests/minute. Facts from providers.md §2.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::{Map, Value};

use super::{error_text, is_date, JsonPage, Unwrap};
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

#[derive(Debug)]
pub struct EndpointDef {
    pub path: &'static str,
    /// The single top-level key of the answer.
    pub key: &'static str,
    /// Whether the key holds a list (else one object).
    pub list: bool,
    /// `name[:cost]` for every field the endpoint can return or filter on; cost defaults to 1.
    pub fields: &'static str,
    /// Query parameters this endpoint takes besides select/where/order_by/limit.
    pub params: &'static [&'static str],
    pub required: &'static [&'static str],
    /// `date` is required and defaults to today.
    pub needs_date: bool,
    pub pricing: Pricing,
    pub target: Target,
}

const SITE_DATED: &[&str] = &["target", "mode", "protocol", "date", "output", "timeout"];
const BACKLINK_FIELDS: &str = "ahrefs_rank_source anchor broken_at class_c:5 discovered_status domain_rating_source domain_rating_target \
    drs first_seen first_seen_link http_code http_crawl ip_source is_alternate is_canonical is_content is_dofollow is_form is_frame \
    is_image is_lost is_nofollow is_redirect is_root_source is_root_target is_rss is_spam is_sponsored is_text is_ugc js_crawl \
    lang_source last_seen last_visited link_group_count link_type linked_domains_source_domain linked_domains_source_page \
    links_external links_internal lost_reason name_source name_target noindex page_size positions powered_by redirect_code \
    refdomains_source:5 refdomains_source_domain:5 refdomains_target_domain:5 root_name_source root_name_target snippet_left \
    snippet_right title tld_class_source tld_class_target traffic:10 traffic_domain:10 url_from url_rating_source \
    url_rating_target url_to";
const KE_FIELDS: &str = "keyword volume:10 volume_monthly:10 global_volume:10 difficulty:10 traffic_potential:10 intents:10 \
    parent_volume:10 parent_topic cpc cps clicks serp_features first_seen serp_last_update";

macro_rules! ep {
    ($path:literal, $key:literal, $list:expr, $fields:expr, $params:expr, $req:expr, $date:expr, $pricing:expr, $target:expr) => {
        EndpointDef { path: $path, key: $key, list: $list, fields: $fields, params: $params, required: $req, needs_date: $date, pricing: $pricing, target: $target }
    };
}

pub static ENDPOINTS: &[EndpointDef] = &[
    ep!("site-explorer/domain-rating", "domain_rating", false, "domain_rating ahrefs_rank", SITE_DATED, &["target"], true, Pricing::Fields, Target::Site),
    ep!("site-explorer/backlinks-stats", "metrics", false, "live all_time live_refdomains:5 all_time_refdomains:5", SITE_DATED, &["target"], true, Pricing::Fields, Target::Site),
    ep!(
        "site-explorer/metrics", "metrics", false,
        "org_keywords org_keywords_1_3 org_traffic:10 org_cost:10 paid_keywords paid_pages paid_traffic:10 paid_cost:10",
        &["target", "mode", "protocol", "date", "country", "volume_mode", "output", "timeout"], &["target"], true, Pricing::Fields, Target::Site
    ),
    ep!("site-explorer/all-backlinks", "backlinks", true, BACKLINK_FIELDS, &["target", "mode", "protocol", "history", "aggregation", "output", "timeout"], &["target", "select"], false, Pricing::Fields, Target::Site),
    ep!("site-explorer/broken-backlinks", "backlinks", true, BACKLINK_FIELDS, &["target", "mode", "protocol", "aggregation", "output", "timeout"], &["target", "select"], false, Pricing::Fields, Target::Site),
    ep!(
        "site-explorer/refdomains", "refdomains", true,
        "domain domain_rating dofollow_refdomains:5 dofollow_linked_domains dofollow_links first_seen ip_source is_root_domain last_seen \
         links_to_target lost_links new_links positions_source_domain traffic_domain:10",
        &["target", "mode", "protocol", "history", "output", "timeout"], &["target", "select"], false, Pricing::Fields, Target::Site
    ),
    ep!(
        "site-explorer/anchors", "anchors", true,
        "anchor dofollow_links first_seen last_seen links_to_target lost_links new_links refdomains:5 refpages top_domain_rating",
        &["target", "mode", "protocol", "history", "output", "timeout"], &["target", "select"], false, Pricing::Fields, Target::Site
    ),
    ep!(
        "site-explorer/linkeddomains", "linkeddomains", true,
        "domain domain_rating dofollow_links dofollow_refdomains:5 first_seen is_root_domain linked_pages links_from_target traffic_domain:10",
        &["target", "mode", "protocol", "output", "timeout"], &["target", "select"], false, Pricing::Fields, Target::Site
    ),
    ep!(
        "site-explorer/organic-keywords", "keywords", true,
        "keyword keyword_country best_position best_position_url best_position_kind best_position_diff volume:10 keyword_difficulty:10 \
         sum_traffic:10 sum_paid_traffic:10 all_positions:5 cpc is_branded is_informational is_commercial is_transactional \
         is_navigational serp_features last_update language",
        &["target", "mode", "protocol", "date", "date_compared", "country", "volume_mode", "output", "timeout"], &["target", "select"], true, Pricing::Fields, Target::Site
    ),
    ep!(
        "site-explorer/organic-competitors", "competitors", true,
        "competitor_domain competitor_url domain_rating keywords_common keywords_competitor keywords_target pages share traffic:10 value:10",
        &["target", "mode", "protocol", "date", "country", "volume_mode", "output", "timeout"], &["target", "select"], true, Pricing::Fields, Target::Site
    ),
    ep!(
        "site-explorer/top-pages", "pages", true,
        "url raw_url sum_traffic:10 value:10 top_keyword top_keyword_volume:10 top_keyword_best_position keywords referring_domains:5 ur \
         ai_responses_count:10",
        &["target", "mode", "protocol", "date", "date_compared", "country", "volume_mode", "output", "timeout"], &["target", "select"], true, Pricing::Fields, Target::Site
    ),
    ep!("site-explorer/domain-rating-history", "domain_ratings", true, "date domain_rating", &["target", "date_from", "date_to", "history_grouping", "output", "timeout"], &["target", "date_from"], false, Pricing::Fields, Target::Site),
    ep!(
        "site-explorer/metrics-history", "metrics", true, "date org_traffic:10 org_cost:10 paid_traffic:10 paid_cost:10",
        &["target", "mode", "protocol", "date_from", "date_to", "history_grouping", "country", "volume_mode", "output", "timeout"], &["target", "date_from"], false, Pricing::Fields, Target::Site
    ),
    ep!("keywords-explorer/overview", "keywords", true, KE_FIELDS, &["keywords", "country", "volume_mode", "keyword_list_id", "output", "timeout"], &["country", "select"], false, Pricing::Fields, Target::Keywords),
    ep!("keywords-explorer/matching-terms", "keywords", true, KE_FIELDS, &["keywords", "country", "terms", "match_mode", "volume_mode", "keyword_list_id", "output", "timeout"], &["country", "select"], false, Pricing::Fields, Target::Keywords),
    ep!("keywords-explorer/related-terms", "keywords", true, KE_FIELDS, &["keywords", "country", "terms", "view_for", "volume_mode", "keyword_list_id", "output", "timeout"], &["country", "select"], false, Pricing::Fields, Target::Keywords),
    ep!("keywords-explorer/search-suggestions", "keywords", true, KE_FIELDS, &["keywords", "country", "volume_mode", "keyword_list_id", "output", "timeout"], &["country", "select"], false, Pricing::Fields, Target::Keywords),
    ep!("keywords-explorer/volume-history", "metrics", true, "date volume", &["keyword", "country", "date_from", "date_to", "output", "timeout"], &["keyword", "country"], false, Pricing::Fields, Target::Keywords),
    ep!(
        "serp-overview/serp-overview", "positions", true,
        "position url title type domain_rating url_rating backlinks refdomains:5 traffic:10 value:10 top_keyword top_keyword_volume:10 keywords",
        &["keyword", "country", "date", "top_positions", "output", "timeout"], &["keyword", "country", "select"], false, Pricing::Fields, Target::Keywords
    ),
    ep!("site-audit/issues", "issues", true, "issue_id name importance category crawled change new removed", &["project_id", "date", "date_compared", "output", "timeout"], &["project_id"], false, Pricing::Fixed(50), Target::None),
    ep!(
        "site-audit/page-explorer", "pages", true, "url http_code title depth content_type is_indexable issues",
        &["project_id", "date", "date_compared", "offset", "output", "timeout"], &["project_id", "select"], false, Pricing::Fixed(50), Target::None
    ),
    ep!("rank-tracker/overview", "overviews", true, "keyword position url volume traffic location tags", &["project_id", "date", "date_compared", "device", "volume_mode", "output", "timeout"], &["project_id", "date"], false, Pricing::Free, Target::None),
    ep!(
        "subscription-info/limits-and-usage", "limits_and_usage", false,
        "subscription usage_reset_date units_limit_workspace units_usage_workspace units_limit_api_key units_usage_api_key api_key_expiration_date",
        &[], &[], false, Pricing::Free, Target::None
    ),
    ep!(
        "batch-analysis/batch-analysis", "targets", true,
        "url mode protocol index domain_rating url_rating ahrefs_rank backlinks refdomains org_keywords org_traffic:10 org_cost:10 \
         paid_keywords paid_traffic:10 paid_cost:10",
        &[], &["targets", "select"], false, Pricing::Fields, Target::None
    ),
];

/// Path families that cost nothing. [C AHOAS]
const FREE_FAMILIES: &[&str] = &["rank-tracker/", "management/", "public/", "gsc/", "web-analytics/", "social-media/", "subscription-info/"];

pub fn endpoint(path: &str) -> Option<&'static EndpointDef> {
    let path = path.trim_matches('/');
    ENDPOINTS.iter().find(|e| e.path == path)
}

impl EndpointDef {
    pub fn field_cost(&self, name: &str) -> Option<u64> {
        self.fields.split_whitespace().find_map(|f| match f.split_once(':') {
            Some((n, c)) if n == name => c.parse().ok(),
            None if f == name => Some(1),
            _ => None,
        })
    }
    pub fn all_fields(&self) -> impl Iterator<Item = (&'static str, u64)> {
        self.fields.split_whitespace().map(|f| match f.split_once(':') {
            Some((n, c)) => (n, c.parse().unwrap_or(1)),
            None => (f, 1),
        })
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

/// The free-test settings of a client.
#[derive(Debug, Clone)]
pub struct FreeTests {
    pub targets: Vec<String>,
    pub keywords: Vec<String>,
}

impl Default for FreeTests {
    fn default() -> Self {
        FreeTests { targets: FREE_TARGETS.iter().map(|s| s.to_string()).collect(), keywords: FREE_KEYWORDS.iter().map(|s| s.to_string()).collect() }
    }
}

impl FreeTests {
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

/// Validate a GET report call and price it. `strict` (named methods) rejects unknown fields.
pub fn prepare(path: &str, params: Map<String, Value>, strict: bool, free: &FreeTests) -> Result<Prepared> {
    let path = path.trim_matches('/').to_string();
    if path.is_empty() || path.contains("..") || path.contains('?') || path.split('/').count() < 2 {
        return Err(bad(format!("{path:?} is not an Ahrefs v3 path like 'site-explorer/domain-rating'")));
    }
    let def = endpoint(&path);
    if strict && def.is_none() {
        return Err(bad(format!("unknown Ahrefs endpoint {path:?}; use get() for paths without a named method")));
    }
    let mut query: Vec<(String, String)> = Vec::new();
    let mut used: Vec<String> = Vec::new();
    let mut limit: Option<u64> = None;
    let mut has_select = false;
    let mut json_body: Option<Value> = None;
    let mut batch: Option<Value> = None;
    for (k, v) in params {
        if v.is_null() {
            continue;
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
                Some(l) if l >= 1 => {
                    limit = Some(l);
                    query.push((k, l.to_string()));
                }
                _ => return Err(bad(format!("limit must be a positive integer, not {v}"))),
            },
            "offset" => match v.as_u64() {
                Some(o) => query.push((k, o.to_string())),
                None => return Err(bad(format!("offset must be a non-negative integer, not {v}"))),
            },
            "date" | "date_from" | "date_to" | "date_compared" => {
                let s = scalar(&k, &v)?;
                if !is_date(&s) {
                    return Err(bad(format!("{k} must be 'YYYY-MM-DD', not {s:?}")));
                }
                query.push((k, s));
            }
            "mode" => {
                let s = scalar(&k, &v)?;
                if !matches!(s.as_str(), "exact" | "prefix" | "domain" | "subdomains") {
                    return Err(bad(format!("mode must be exact, prefix, domain or subdomains, not {s:?}")));
                }
                query.push((k, s));
            }
            "protocol" => {
                let s = scalar(&k, &v)?;
                if !matches!(s.as_str(), "both" | "http" | "https") {
                    return Err(bad(format!("protocol must be both, http or https, not {s:?}")));
                }
                query.push((k, s));
            }
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
                _ => return Err(bad("json must be a dict (the POST body)")),
            },
            "api_key" | "token" | "key" => return Err(bad("pass the API key to the client, not as a parameter")),
            _ => {
                if let Some(d) = def {
                    if strict && !d.params.contains(&k.as_str()) {
                        let known = d.params.iter().copied().chain(["select", "where", "order_by", "limit", "offset", "date", "date_from", "date_to", "mode", "protocol", "country"]);
                        return Err(crate::providers::unknown_param(PROVIDER, &format!("Ahrefs {}", d.path), &k, known));
                    }
                }
                if matches!(k.as_str(), "target" | "keyword") && !v.is_string() {
                    return Err(bad(format!("{k} must be a str, not {}", json_type(&v))));
                }
                let s = scalar(&k, &v)?;
                if matches!(k.as_str(), "target" | "keywords" | "keyword") && s.trim().is_empty() {
                    return Err(bad(format!("{k} must not be empty")));
                }
                query.push((k, s));
            }
        }
    }
    if def.is_some_and(|d| d.needs_date) && !query.iter().any(|(k, _)| k == "date") {
        query.push(("date".into(), today()));
    }
    let lookup = query.clone();
    let get = |name: &str| lookup.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    if let Some(Value::Object(body)) = &json_body {
        // A raw POST body: price it from its own select and targets.
        if let Some(Value::Array(sel)) = body.get("select") {
            used.extend(sel.iter().filter_map(|f| f.as_str().map(str::to_string)));
            has_select = true;
        }
        if let Some(Value::Array(t)) = body.get("targets") {
            limit = Some(t.len() as u64);
        }
    }
    if let Some(d) = def.filter(|_| json_body.is_none()) {
        for r in d.required {
            let present = get(r).is_some() || (*r == "targets" && batch.is_some()) || (*r == "select" && !d.list);
            if !present {
                return Err(bad(format!("Ahrefs {} needs {r}", d.path)));
            }
        }
        if d.target == Target::Keywords && get("keywords").is_none() && get("keyword").is_none() && get("keyword_list_id").is_none() {
            return Err(bad(format!("Ahrefs {} needs keywords", d.path)));
        }
        if strict {
            let mut unknown: Vec<&str> = used.iter().map(String::as_str).filter(|f| d.field_cost(f).is_none()).collect();
            unknown.dedup();
            if !unknown.is_empty() {
                return Err(bad(format!("Ahrefs {} has no field(s) {}", d.path, unknown.join(", "))));
            }
        }
    }
    // Price: distinct fields in select, where and order_by; single-row reports return all fields.
    used.sort();
    used.dedup();
    let per_row: u64 = match def {
        Some(d) if !has_select && !d.list => d.all_fields().map(|(_, c)| c).sum(),
        Some(d) => used.iter().map(|f| d.field_cost(f).unwrap_or(1)).fold(0u64, u64::saturating_add),
        None => used.len() as u64,
    };
    let family_free = FREE_FAMILIES.iter().any(|f| path.starts_with(f)) || path == "site-audit/projects";
    let test_free = get("target").is_some_and(|t| free.is_free_target(&t))
        || (get("keyword_list_id").is_none() && get("keywords").or_else(|| get("keyword")).is_some_and(|k| free.are_free_keywords(&k)));
    let is_free = family_free || def.is_some_and(|d| d.pricing == Pricing::Free) || test_free;
    let list = def.is_none_or(|d| d.list);
    let mut rows = if list { limit.unwrap_or(DEFAULT_LIMIT) } else { 1 };
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
    let estimate = {
        match def.map(|d| d.pricing) {
            Some(Pricing::Free) => BASE_COST,
            Some(Pricing::Fixed(n)) => n,
            _ => BASE_COST.max(crate::units::mul(per_row, rows, &format!("Ahrefs {path} with limit {rows}")).map_err(|e| e.provider(PROVIDER))?),
        }
    };
    Ok(Prepared { path, def, query, json: json_body, estimate, per_row, free: is_free, rows, cache: true })
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
    pub free: FreeTests,
    pub cache_ttl: Option<Duration>,
}

pub struct Client {
    pub engine: Engine,
    key: String,
    pub base_url: String,
    pub free: FreeTests,
}

impl Client {
    pub fn new(s: Settings) -> Result<Client> {
        if s.key.trim().is_empty() {
            return Err(Error::new(Kind::Authentication, "no Ahrefs API key: pass api_key= or set AHREFS_API_KEY").provider(PROVIDER));
        }
        crate::secrets::credential(PROVIDER, "Ahrefs API key", &s.key)?;
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
            free: s.free,
        })
    }

    pub fn url(&self, p: &Prepared) -> String {
        let mut url = format!("{}/{}", self.base_url, p.path);
        for (i, (k, v)) in p.query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&crate::http::encode(k).to_string());
            url.push('=');
            url.push_str(&crate::http::encode(v).to_string());
        }
        url
    }

    fn request(&self, p: &Prepared) -> Request {
        let url = self.url(p);
        let mut headers = vec![("authorization", format!("Bearer {}", self.key)), ("accept", "application/json".into())];
        let (method, body) = match &p.json {
            Some(b) => {
                headers.push(("content-type", "application/json".into()));
                (reqwest::Method::POST, Some(Bytes::from(b.to_string())))
            }
            None => (reqwest::Method::GET, None),
        };
        Request { method, shown: url.clone(), url, headers, body }
    }

    pub async fn fetch(&self, p: &Prepared) -> Result<JsonPage> {
        // Free families (subscription info, rank tracker, ...) report live state: never reuse them.
        let cacheable = p.cache && !p.def.is_some_and(|d| d.pricing == Pricing::Free) && !p.path.starts_with("subscription-info/");
        let call = Call { report: &p.path, estimate: p.estimate, metered: true, cacheable, request: self.request(p) };
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
        prepare(path, v.as_object().unwrap().clone(), true, &FreeTests::default())
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
        assert!(prepare("management/projects", Map::new(), false, &FreeTests::default()).is_ok());
        assert!(prepare("nope", Map::new(), false, &FreeTests::default()).is_err());
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
