//! SEMrush Analytics API v3: reports, prices, column codes, CSV replies and `ERROR nn :: MSG`.
//! Facts from the reference (providers.md §3); inferred ones are marked [I].

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::csv::{count_records, Records};
use crate::error::{Error, Kind, Result};
use crate::http::{account_hash, retry_after, Call, Engine, Reply, Request};
use crate::secrets::{encode, scrub as redact};
use crate::ledger::{Budget, Ledger, Record};
use crate::limits::{Limits, Rate};
use crate::retry::RetryPolicy;

pub const PROVIDER: &str = "semrush";
pub const DEFAULT_BASE: &str = "https://api.semrush.com";
const REAL_BALANCE: &str = "https://www.semrush.com/users/countapiunits.html";
/// Reports priced per database line return at most one line per regional database. [I]
const MAX_DATABASES: u64 = 160;
/// domain_rank_history: one line per month; 20 years is a safe ceiling. [I]
const MAX_HISTORY_LINES: u64 = 240;
/// Default (and `0`) display_limit. [C for domain_organic; I elsewhere]
const DEFAULT_LIMIT: u64 = 10_000;
/// Most rows one Analytics call may ask for (domain_organic [C]; the other Analytics lists
/// assumed alike [I]); more is SEMrush `ERROR 613`.
const MAX_ANALYTICS_LIMIT: u64 = 100_000;
/// Backlinks lists: `display_limit` 0..1,000,000 [C].
const MAX_BACKLINKS_LIMIT: u64 = 1_000_000;

// ---------------------------------------------------------------------------------------------
// Columns

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Int,
    Float,
    Str,
    /// Comma-separated floats (Trends).
    Floats,
    /// Unknown column: int, else float, else string.
    Auto,
}

/// A column: request code, stable snake_case name, default header text, type.
pub struct ColumnDef {
    pub code: &'static str,
    pub name: &'static str,
    pub header: &'static str,
    pub ty: Ty,
}

macro_rules! cols {
    ($($code:literal $name:literal $header:literal $ty:ident),* $(,)?) => {
        &[$(ColumnDef { code: $code, name: $name, header: $header, ty: Ty::$ty }),*]
    };
}

pub static COLUMNS: &[ColumnDef] = cols![
    "Ph" "keyword" "Keyword" Str, "Po" "position" "Position" Int, "Pp" "previous_position" "Previous Position" Int,
    "Pd" "position_difference" "Position Difference" Int, "Nq" "search_volume" "Search Volume" Int,
    "Cp" "cpc" "CPC" Float, "Co" "competition" "Competition" Float, "Nr" "number_of_results" "Number of Results" Int,
    "Td" "trends" "Trends" Floats, "Kd" "keyword_difficulty" "Keyword Difficulty Index" Float,
    "In" "intents" "Intents" Str, "Ur" "url" "Url" Str, "Tr" "traffic_percent" "Traffic (%)" Float,
    "Tc" "traffic_cost_percent" "Traffic Cost (%)" Float, "Tg" "traffic" "Traffic" Int, "Ts" "timestamp" "Timestamp" Int,
    "Fk" "keyword_serp_features" "Keywords SERP Features" Str, "Fp" "serp_features" "SERP Features" Str,
    "Pt" "position_type" "Position type" Str, "Rr" "related_relevance" "Related Relevance" Float,
    "Db" "database" "Database" Str, "Dn" "domain" "Domain" Str, "Rk" "rank" "Rank" Int,
    "Or" "organic_keywords" "Organic Keywords" Int, "Ot" "organic_traffic" "Organic Traffic" Int,
    "Oc" "organic_cost" "Organic Cost" Int, "Ad" "adwords_keywords" "Adwords Keywords" Int,
    "At" "adwords_traffic" "Adwords Traffic" Int, "Ac" "adwords_cost" "Adwords Cost" Int,
    "Sh" "pla_keywords" "PLA keywords" Int, "Sv" "pla_uniques" "PLA uniques" Int, "Dt" "date" "Date" Str,
    "Tt" "title" "Title" Str, "Ds" "description" "Description" Str, "Vu" "visible_url" "Visible Url" Str,
    "Ab" "adwords_block" "Adwords Block" Str, "Un" "ad_id" "Ad id" Int, "Pc" "number_of_keywords" "Number of Keywords" Int,
    "Np" "common_keywords" "Common Keywords" Int, "Cr" "competitor_relevance" "Competitor Relevance" Float,
    "P0" "position_0" "P0" Int, "P1" "position_1" "P1" Int, "P2" "position_2" "P2" Int, "P3" "position_3" "P3" Int,
    "P4" "position_4" "P4" Int,
    // Backlinks reports: the header is the raw lowercase code.
    "ascore" "ascore" "ascore" Int, "total" "total" "total" Int, "domains_num" "domains_num" "domains_num" Int,
    "urls_num" "urls_num" "urls_num" Int, "ips_num" "ips_num" "ips_num" Int, "ipclassc_num" "ipclassc_num" "ipclassc_num" Int,
    "follows_num" "follows_num" "follows_num" Int, "nofollows_num" "nofollows_num" "nofollows_num" Int,
    "sponsored_num" "sponsored_num" "sponsored_num" Int, "ugc_num" "ugc_num" "ugc_num" Int,
    "texts_num" "texts_num" "texts_num" Int, "images_num" "images_num" "images_num" Int,
    "forms_num" "forms_num" "forms_num" Int, "frames_num" "frames_num" "frames_num" Int,
    "page_ascore" "page_ascore" "page_ascore" Int, "source_title" "source_title" "source_title" Str,
    "source_url" "source_url" "source_url" Str, "target_url" "target_url" "target_url" Str,
    "anchor" "anchor" "anchor" Str, "external_num" "external_num" "external_num" Int,
    "internal_num" "internal_num" "internal_num" Int, "first_seen" "first_seen" "first_seen" Int,
    "last_seen" "last_seen" "last_seen" Int, "domain_ascore" "domain_ascore" "domain_ascore" Int,
    "domain" "domain" "domain" Str, "backlinks_num" "backlinks_num" "backlinks_num" Int,
    "ip" "ip" "ip" Str, "country" "country" "country" Str,
];

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub code: String,
    pub name: String,
    pub ty: Ty,
}

pub fn column_def(code: &str) -> Option<&'static ColumnDef> {
    COLUMNS.iter().find(|c| c.code == code)
}

/// Resolve a request code to its stable name and type. `FK12` -> `serp_feature_keywords_12`.
pub fn column(code: &str) -> Column {
    if let Some(d) = column_def(code) {
        return Column { code: code.into(), name: d.name.into(), ty: d.ty };
    }
    for (prefix, stem) in [("FK", "serp_feature_keywords_"), ("FP", "serp_feature_positions_")] {
        if let Some(n) = code.strip_prefix(prefix).filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) {
            return Column { code: code.into(), name: format!("{stem}{n}"), ty: Ty::Int };
        }
    }
    Column { code: code.into(), name: snake(code), ty: Ty::Auto }
}

/// Header names SEMrush has been seen to write for a column besides its usual one [C SILK].
const HEADER_VARIANTS: &[(&str, &[&str])] = &[("Po", &["Pos"]), ("Nq", &["Average vol."]), ("Ac", &["Adwords Cost"]), ("Or", &["Organic Keywords"])];

/// Whether a header cell names `col`: its code, its usual header or a seen variant.
/// `None` when the column has no known header (P0..P4 carry domain names; unknown codes).
fn header_names(col: &Column, cell: &str) -> Option<bool> {
    let cell = cell.trim();
    let def = column_def(&col.code).filter(|d| !d.code.starts_with('P') || d.code.len() != 2 || !d.code[1..].bytes().all(|b| b.is_ascii_digit()))?;
    let variants = HEADER_VARIANTS.iter().find(|(c, _)| *c == def.code).map_or(&[][..], |(_, v)| *v);
    Some(cell.eq_ignore_ascii_case(def.code) || cell.eq_ignore_ascii_case(def.header) || variants.iter().any(|v| cell.eq_ignore_ascii_case(v)))
}

/// How a body's header lines up with the requested columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// The body's columns in header order.
    pub columns: Vec<Column>,
    /// Requested columns the body does not have (names).
    pub missing: Vec<String>,
}

/// Line the header up with the requested columns: in order (by code or known header name), or
/// reordered/short where every header cell names exactly one requested column. Anything else
/// is not the requested report (a proxy page, another report): an error, never rows.
pub fn match_header(header: &[std::borrow::Cow<'_, str>], requested: &[Column]) -> std::result::Result<Layout, String> {
    let shown = || {
        let h: String = header.iter().map(|c| c.as_ref()).collect::<Vec<_>>().join(";").chars().filter(|c| !c.is_control()).take(120).collect();
        format!("SEMrush answered with header {h:?}, which is not the requested columns ({})", requested.iter().map(|c| c.code.as_str()).collect::<Vec<_>>().join(","))
    };
    if header.len() == requested.len() && header.iter().zip(requested).all(|(h, c)| header_names(c, h) != Some(false)) {
        return Ok(Layout { columns: requested.to_vec(), missing: Vec::new() });
    }
    if header.len() > requested.len() || requested.iter().any(|c| header_names(c, "").is_none()) {
        return Err(shown());
    }
    let mut used = vec![false; requested.len()];
    let mut columns = Vec::with_capacity(header.len());
    for cell in header {
        let hits: Vec<usize> = (0..requested.len()).filter(|&i| !used[i] && header_names(&requested[i], cell) == Some(true)).collect();
        let [i] = hits[..] else { return Err(shown()) };
        used[i] = true;
        columns.push(requested[i].clone());
    }
    let missing = requested.iter().zip(&used).filter(|(_, u)| !**u).map(|(c, _)| c.name.clone()).collect();
    Ok(Layout { columns, missing })
}

/// The columns of a CSV body: the requested ones lined up with the header (`match_header`),
/// else resolved from the header itself (codes, or header text made snake_case).
pub fn header_columns(header: &[std::borrow::Cow<'_, str>], requested: Option<&[Column]>) -> std::result::Result<Vec<Column>, String> {
    let Some(requested) = requested else {
        return Ok(header
            .iter()
            .map(|h| {
                let mut c = column(h);
                if !h.bytes().all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit()) {
                    c.name = snake(h);
                }
                // Header text of a known column ("Trends") still tells its type.
                if let Some(d) = COLUMNS.iter().find(|d| d.header == h.as_ref()).filter(|_| c.ty == Ty::Auto) {
                    c.ty = d.ty;
                }
                c
            })
            .collect());
    };
    match_header(header, requested).map(|l| l.columns)
}

/// "Traffic (%)" -> "traffic"; "Average vol." -> "average_vol"; "domains_num" stays.
pub fn snake(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if ch.is_alphanumeric() {
            out.extend(ch.to_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Reports and prices (reference §3.6)

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    Analytics,
    Backlinks,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Domain,
    Domains,
    Phrase,
    Url,
    Backlinks,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// Up to display_limit lines (pageable with display_offset).
    Limit,
    One,
    /// One line per regional database.
    Databases,
    /// One line per phrase in `phrase` (`;`-separated).
    Phrases,
    History,
}

#[derive(Debug)]
pub struct ReportDef {
    pub name: &'static str,
    pub host: Host,
    pub target: Target,
    pub database: bool,
    /// Units per line (or per request when `per_request`).
    pub live: u64,
    /// Units with a historical `display_date`; `None`: no historical price published (x5 assumed).
    pub hist: Option<u64>,
    pub per_request: bool,
    pub lines: Lines,
    /// Default export_columns; empty when unknown (then names come from the header).
    pub columns: &'static str,
}

macro_rules! reports {
    ($($name:literal $host:ident $target:ident $db:literal $live:literal $hist:expr, $per:literal $lines:ident $cols:literal;)*) => {
        &[$(ReportDef { name: $name, host: Host::$host, target: Target::$target, database: $db, live: $live,
                        hist: $hist, per_request: $per, lines: Lines::$lines, columns: $cols }),*]
    };
}

pub static REPORTS: &[ReportDef] = reports![
    "domain_ranks" Analytics Domain false 10 Some(50), false Databases "Db,Dn,Rk,Or,Ot,Oc,Ad,At,Ac,Sh,Sv";
    "domain_rank" Analytics Domain true 10 Some(50), false One "Dn,Rk,Or,Ot,Oc,Ad,At,Ac,Sh,Sv";
    "domain_rank_history" Analytics Domain true 10 None, false History "Rk,Or,Ot,Oc,Ad,At,Ac,Dt";
    "rank_difference" Analytics None true 20 Some(100), false Limit "Dn,Rk,Or,Ot,Oc,Ad,At,Ac";
    "rank" Analytics None true 10 Some(50), false Limit "Dn,Rk,Or,Ot,Oc,Ad,At,Ac";
    "domain_organic" Analytics Domain true 10 Some(50), false Limit "Ph,Po,Pp,Pd,Nq,Cp,Ur,Tr,Tc,Co,Nr,Td";
    "domain_adwords" Analytics Domain true 20 Some(100), false Limit "Ph,Po,Pp,Pd,Ab,Nq,Cp,Tr,Tc,Co,Nr,Td,Tt,Ds,Vu,Ur";
    "domain_adwords_unique" Analytics Domain true 40 None, false Limit "Ph,Po,Tt,Ds,Vu,Ur,Pc";
    "domain_adwords_historical" Analytics Domain true 100 None, false Limit "Ph,Dt,Po,Ur,Tt,Ds,Vu,At,Ac,Ad";
    "domain_organic_organic" Analytics Domain true 40 Some(200), false Limit "Dn,Cr,Np,Or,Ot,Oc,Ad";
    "domain_adwords_adwords" Analytics Domain true 40 Some(200), false Limit "Dn,Cr,Np,Ad,At,Ac,Or";
    "domain_shopping" Analytics Domain true 30 Some(150), false Limit "Ph,Po,Pp,Pd,Nq,Cp,Ur,Tt,Tr,Tc,Co,Nr,Td";
    "domain_organic_unique" Analytics Domain true 10 Some(50), false Limit "Ur,Pc,Tg,Tr";
    "domain_organic_subdomains" Analytics Domain true 10 Some(50), false Limit "Ur,Pc,Tg,Tr";
    "domain_domains" Analytics Domains true 80 Some(400), false Limit "Ph,P0,P1,P2,P3,P4,Nr,Cp,Co,Nq";
    "phrase_this" Analytics Phrase true 10 Some(50), false One "Ph,Nq,Cp,Co,Nr,Td";
    "phrase_all" Analytics Phrase false 10 None, false Databases "Db,Ph,Nq,Cp,Co";
    "phrase_these" Analytics Phrase true 10 Some(50), false Phrases "Ph,Nq,Cp,Co,Nr,Td";
    "phrase_kdi" Analytics Phrase true 50 None, false Phrases "Ph,Kd";
    "phrase_related" Analytics Phrase true 40 None, false Limit "Ph,Nq,Cp,Co,Nr,Td,Rr";
    "phrase_fullsearch" Analytics Phrase true 20 None, false Limit "Ph,Nq,Cp,Co,Nr,Td";
    "phrase_questions" Analytics Phrase true 40 None, false Limit "Ph,Nq,Cp,Co,Nr,Td";
    "phrase_organic" Analytics Phrase true 10 Some(50), false Limit "Dn,Ur";
    "phrase_adwords" Analytics Phrase true 20 Some(100), false Limit "Dn,Ur,Vu";
    "url_organic" Analytics Url true 10 Some(50), false Limit "Ph,Po,Nq,Cp,Co,Tr,Tc,Nr,Td";
    "url_adwords" Analytics Url true 20 Some(100), false Limit "Ph,Po,Nq,Cp,Co,Tr,Tc,Nr,Td,Tt,Ds,Vu";
    "backlinks_overview" Backlinks Backlinks false 40 None, true One "ascore,total,domains_num,urls_num,ips_num,ipclassc_num,follows_num,nofollows_num,sponsored_num,ugc_num,texts_num,images_num,forms_num,frames_num";
    "backlinks" Backlinks Backlinks false 40 None, false Limit "page_ascore,source_title,source_url,target_url,anchor,external_num,internal_num,first_seen,last_seen";
    "backlinks_refdomains" Backlinks Backlinks false 40 None, false Limit "domain_ascore,domain,backlinks_num,ip,country,first_seen,last_seen";
    "backlinks_refips" Backlinks Backlinks false 40 None, false Limit "";
    "backlinks_tld" Backlinks Backlinks false 40 None, false Limit "";
    "backlinks_geo" Backlinks Backlinks false 40 None, false Limit "";
    "backlinks_anchors" Backlinks Backlinks false 40 None, false Limit "anchor,domains_num,backlinks_num,first_seen,last_seen";
    "backlinks_pages" Backlinks Backlinks false 40 None, false Limit "";
    "backlinks_competitors" Backlinks Backlinks false 40 None, false Limit "";
    "backlinks_comparison" Backlinks Backlinks false 40 None, false Limit "";
    "backlinks_matrix" Backlinks Backlinks false 40 None, false Limit "";
    "backlinks_historical" Backlinks Backlinks false 40 None, false Limit "";
    "backlinks_categories_profile" Backlinks Backlinks false 40 None, false Limit "";
    "backlinks_categories" Backlinks Backlinks false 50 None, true One "";
    "backlinks_ascore_profile" Backlinks Backlinks false 100 None, true One "";
];

pub fn report_def(name: &str) -> Result<&'static ReportDef> {
    REPORTS.iter().find(|r| r.name == name).ok_or_else(|| {
        Error::invalid(format!(
            "unknown SEMrush report type {name:?}; known types: {}",
            REPORTS.iter().map(|r| r.name).collect::<Vec<_>>().join(", ")
        ))
        .provider(PROVIDER)
    })
}

impl ReportDef {
    fn target_param(&self) -> Option<&'static str> {
        match self.target {
            Target::Domain => Some("domain"),
            Target::Domains => Some("domains"),
            Target::Phrase => Some("phrase"),
            Target::Url => Some("url"),
            Target::Backlinks => Some("target"),
            Target::None => None,
        }
    }

    /// Units per line (or per request) for live or historical data. A report with no
    /// historical price ("–" in the table) charges its live price whatever the date.
    pub fn price(&self, historical: bool) -> u64 {
        match self.hist {
            Some(h) if historical => h,
            _ => self.live,
        }
    }

    /// Most rows one call may ask for.
    pub fn max_limit(&self) -> u64 {
        match self.host {
            Host::Analytics => MAX_ANALYTICS_LIMIT,
            Host::Backlinks => MAX_BACKLINKS_LIMIT,
        }
    }

    pub fn pageable(&self) -> bool {
        self.lines == Lines::Limit && !self.per_request
    }
}

// ---------------------------------------------------------------------------------------------
// Requests

/// A parameter value from the caller, before SEMrush serialisation.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    List(Vec<String>),
}

impl Param {
    pub fn render(&self, list_sep: &str) -> String {
        match self {
            Param::Str(s) => s.clone(),
            Param::Int(i) => i.to_string(),
            Param::Float(f) => f.to_string(),
            Param::Bool(b) => (if *b { "1" } else { "0" }).to_string(),
            Param::List(v) => v.join(list_sep),
        }
    }
}

/// As the user wrote it, for error messages: `-5`, `'abc'`, `True`, `['a', 'b']`.
impl std::fmt::Display for Param {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Param::Str(s) => write!(f, "'{s}'"),
            Param::Int(i) => write!(f, "{i}"),
            Param::Float(x) => write!(f, "{x}"),
            Param::Bool(b) => write!(f, "{}", if *b { "True" } else { "False" }),
            Param::List(v) => write!(f, "[{}]", v.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ")),
        }
    }
}

/// A validated, priced request for one report page.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub report: &'static ReportDef,
    pub query: Vec<(String, String)>,
    /// Known columns in request order; `None` when names must come from the header.
    pub columns: Option<Arc<Vec<Column>>>,
    pub historical: bool,
    pub offset: u64,
    /// Most lines this request can return (the worst case that is reserved).
    pub max_lines: u64,
    pub estimate: u64,
    /// May be served from the response cache (the client's setting, or `cache=False` per call).
    pub cache: bool,
}

fn int_param(name: &str, p: &Param) -> Result<u64> {
    let v = match p {
        Param::Int(i) if *i >= 0 => Some(*i as u64),
        Param::Str(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    v.ok_or_else(|| Error::invalid(format!("{name} must be a non-negative integer, not {p}")).provider(PROVIDER))
}

/// Every parameter of the Analytics and Backlinks APIs (reference §3.3); anything else is a
/// typo unless the caller passes `strict=False`.
pub const KNOWN_PARAMS: &[&str] = &[
    "domain", "domains", "phrase", "url", "target", "target_type", "database", "display_limit", "display_offset",
    "export_columns", "display_sort", "display_filter", "display_date", "display_daily", "display_positions",
    "display_positions_type", "export_escape", "export_decode", "timespan",
];

/// Validate and price a report request. Nothing is sent and nothing reserved here.
pub fn prepare(report: &str, mut params: Vec<(String, Param)>) -> Result<Prepared> {
    let def = report_def(report)?;
    let strict = !params.iter().any(|(k, v)| k == "strict" && *v == Param::Bool(false));
    params.retain(|(k, _)| k != "strict");
    if strict {
        if let Some((k, _)) = params.iter().find(|(k, _)| !KNOWN_PARAMS.contains(&k.as_str()) && k != "key" && k != "type") {
            return Err(crate::providers::unknown_param(PROVIDER, &format!("SEMrush {}", def.name), k, KNOWN_PARAMS.iter().copied()));
        }
    }
    let bad = |m: String| Error::invalid(m).provider(PROVIDER);
    let mut query: Vec<(String, String)> = Vec::with_capacity(params.len() + 3);
    let mut limit = None;
    let mut offset = 0u64;
    let mut historical = false;
    let mut columns: Option<Vec<String>> = None;
    let mut phrases = 1u64;
    for (name, value) in params {
        match name.as_str() {
            "key" | "type" => return Err(bad(format!("{name} is set by the client, not passed as a parameter"))),
            "display_limit" => {
                let n = int_param(&name, &value)?;
                limit = Some(if n == 0 { DEFAULT_LIMIT } else { n });
            }
            "display_offset" => offset = int_param(&name, &value)?,
            "display_date" => {
                let s = value.render("");
                let month = (s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| (s[..4].parse::<i64>().unwrap_or(0), s[4..6].parse::<u32>().unwrap_or(0)))
                    .filter(|(_, m)| (1..=12).contains(m));
                let Some(month) = month else {
                    return Err(bad(format!("display_date must be YYYYMMDD (YYYYMM15 for a month), not {s:?}")));
                };
                // Only a past month is historical data; the current month is live.
                historical = month < crate::providers::current_month();
            }
            "database" => {
                let s = value.render("");
                if s.is_empty() || !s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
                    return Err(bad(format!("database must be a regional database code such as 'us' or 'mobile-uk', not {s:?}")));
                }
            }
            "export_columns" => {
                let list = match &value {
                    Param::List(v) => v.clone(),
                    other => other.render("").split(',').map(|s| s.trim().to_string()).collect(),
                };
                if list.is_empty() || list.iter().any(|c| c.is_empty() || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')) {
                    return Err(bad(format!("export_columns must be column codes such as ['Ph', 'Po'], not {list:?}")));
                }
                columns = Some(list);
                continue;
            }
            _ => {}
        }
        // Targets and codes are text; a number or a list there is a mistake, not a value.
        let text_only = matches!(name.as_str(), "domain" | "url" | "target" | "target_type" | "database" | "display_sort")
            || (name == "phrase" && def.lines != Lines::Phrases);
        if text_only && !matches!(value, Param::Str(_)) {
            let ty = match &value {
                Param::Int(_) => "int",
                Param::Float(_) => "float",
                Param::Bool(_) => "bool",
                Param::List(_) => "list",
                Param::Str(_) => "str",
            };
            return Err(bad(format!("{name} must be a str, not {ty} ({value})")));
        }
        let sep = if name == "phrase" && def.lines == Lines::Phrases { ";" } else { "," };
        let rendered = value.render(sep);
        if rendered.contains(['\n', '\r']) {
            return Err(bad(format!("parameter {name} contains a line break")));
        }
        if name == "phrase" && def.lines == Lines::Phrases {
            phrases = rendered.split(';').filter(|p| !p.trim().is_empty()).count() as u64;
            if phrases > 100 {
                return Err(bad(format!("{} takes at most 100 phrases, got {phrases}", def.name)));
            }
        }
        query.push((name, rendered));
    }
    let has = |q: &[(String, String)], n: &str| q.iter().any(|(k, v)| k == n && !v.trim().is_empty());
    if let Some(t) = def.target_param() {
        if !has(&query, t) {
            return Err(bad(format!("{} needs a non-empty {t}", def.name)));
        }
    }
    if def.target == Target::Backlinks && !has(&query, "target_type") {
        query.push(("target_type".into(), "root_domain".into()));
    }
    if def.database && !has(&query, "database") {
        return Err(bad(format!("{} needs database (e.g. database='us')", def.name)));
    }
    if let Some(l) = limit {
        if def.lines == Lines::Limit && l > def.max_limit() {
            return Err(bad(format!(
                "display_limit {l} is above the {} rows one {} call may return (SEMrush ERROR 613); page with pages() or rows() instead",
                def.max_limit(),
                def.name
            )));
        }
        if offset >= l {
            return Err(bad(format!(
                "display_offset ({offset}) must be below display_limit ({l}): display_limit is the index of the last row, \
                 so for rows {offset}..{} pass display_limit={}", offset + 100, offset + 100
            )));
        }
    }
    let max_lines = match def.lines {
        Lines::One => 1,
        Lines::Databases => limit.unwrap_or(MAX_DATABASES).min(MAX_DATABASES),
        Lines::Phrases => phrases,
        Lines::History => limit.unwrap_or(MAX_HISTORY_LINES).min(MAX_HISTORY_LINES),
        Lines::Limit => limit.unwrap_or(DEFAULT_LIMIT).saturating_sub(offset),
    };
    let price = def.price(historical);
    let estimate = if def.per_request { price } else { crate::units::mul(price, max_lines, def.name).map_err(|e| e.provider(PROVIDER))? };
    let codes: Option<Vec<String>> =
        columns.or_else(|| (!def.columns.is_empty()).then(|| def.columns.split(',').map(String::from).collect()));
    if let Some(c) = &codes {
        query.push(("export_columns".into(), c.join(",")));
    }
    if def.host == Host::Analytics && !query.iter().any(|(k, _)| k == "export_escape") {
        // Quote every value so a `;` inside one cannot shift columns.
        query.push(("export_escape".into(), "1".into()));
    }
    Ok(Prepared {
        report: def,
        query,
        columns: codes.map(|c| Arc::new(c.iter().map(|code| column(code)).collect())),
        historical,
        offset,
        max_lines,
        estimate,
        cache: true,
    })
}

impl Prepared {
    /// The same request for rows `offset .. offset + rows`.
    pub fn page(&self, offset: u64, rows: u64) -> Prepared {
        let mut p = self.clone();
        p.query.retain(|(k, _)| k != "display_offset" && k != "display_limit");
        p.query.push(("display_limit".into(), (offset + rows).to_string()));
        if offset > 0 {
            p.query.push(("display_offset".into(), offset.to_string()));
        }
        p.offset = offset;
        p.max_lines = rows;
        p.estimate = self.report.price(self.historical) * rows;
        p
    }
}

/// Where the three SEMrush endpoints live.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub analytics: String,
    pub backlinks: String,
    pub balance: String,
}

impl Endpoints {
    /// `base` replaces scheme and host (and may add a path prefix) of all three endpoints.
    pub fn new(base: Option<&str>) -> Result<Endpoints> {
        match base {
            None => Ok(Endpoints {
                analytics: format!("{DEFAULT_BASE}/"),
                backlinks: format!("{DEFAULT_BASE}/analytics/v1/"),
                balance: REAL_BALANCE.into(),
            }),
            Some(b) => {
                let parsed = url::Url::parse(b).map_err(|e| Error::invalid(format!("base_url {:?} is not a URL: {e}", redact(b))))?;
                if !matches!(parsed.scheme(), "http" | "https") || parsed.query().is_some() {
                    return Err(Error::invalid(format!("base_url must be an http(s) URL without a query, not {:?}", redact(b))));
                }
                let b = b.trim_end_matches('/');
                Ok(Endpoints {
                    analytics: format!("{b}/"),
                    backlinks: format!("{b}/analytics/v1/"),
                    balance: format!("{b}/users/countapiunits.html"),
                })
            }
        }
    }
}



// ---------------------------------------------------------------------------------------------
// Replies

/// `ERROR 132 :: API UNITS BALANCE IS ZERO` -> (132, "API UNITS BALANCE IS ZERO").
pub fn parse_error_body(body: &[u8]) -> Option<(u32, String)> {
    let text = std::str::from_utf8(body).ok()?.trim();
    let rest = text.strip_prefix("ERROR ")?;
    let (code, msg) = rest.split_once("::")?;
    Some((code.trim().parse().ok()?, msg.trim().to_string()))
}

/// Map a SEMrush error code to the shared exceptions (reference §3.8).
pub fn error_for(code: u32, message: &str, status: u16) -> Error {
    let text = format!("SEMrush ERROR {code} :: {message}");
    let (kind, retryable) = match code {
        40..=49 | 605 | 613 | 10000..=10999 => (Kind::InvalidRequest, false),
        70 | 110 | 120 | 121 | 122 | 402 | 404 => (Kind::Authentication, false),
        132 | 134 => (Kind::UnitsExhausted, false),
        429 => (Kind::RateLimited, true),
        500 | 136 => (Kind::Provider, true),
        _ => (Kind::Provider, status >= 500),
    };
    let hint = match code {
        130 => " (the plan has no API access)",
        133 => " (no access to this database)",
        135 => " (report type unavailable or subscription ended)",
        30 | 131 => " (a report or account limit was reached)",
        _ => "",
    };
    Error::new(kind, format!("{text}{hint}")).provider(PROVIDER).status(status).code(code.to_string()).retryable(retryable)
}

/// Errors from a reply to a report or balance call. `ERROR 50` (nothing found) is not one.
pub fn check(reply: &Reply) -> Result<()> {
    if let Some((code, msg)) = parse_error_body(&reply.body) {
        if code == 50 {
            return Ok(());
        }
        let mut e = error_for(code, &msg, reply.status);
        e.retry_after = retry_after(&reply.headers);
        return Err(e);
    }
    let status = reply.status;
    let snippet = || String::from_utf8_lossy(&reply.body[..reply.body.len().min(200)]).trim().to_string();
    let e = match status {
        200..=299 => return Ok(()),
        429 => Error::new(Kind::RateLimited, format!("SEMrush rate limit (HTTP 429): {}", redact(&snippet()))).retryable(true),
        401 | 403 => Error::new(Kind::Authentication, format!("SEMrush refused the key (HTTP {status})")),
        500..=599 => Error::new(Kind::Provider, format!("SEMrush server error (HTTP {status})")).retryable(true),
        _ => Error::new(Kind::Provider, format!("SEMrush HTTP {status}: {}", redact(&snippet()))),
    };
    let mut e = e.provider(PROVIDER).status(status);
    e.retry_after = retry_after(&reply.headers);
    Err(e)
}

/// One page of a report as received: the CSV body and what it cost.
#[derive(Debug, Clone)]
pub struct Page {
    pub report: &'static str,
    pub body: Bytes,
    pub columns: Option<Arc<Vec<Column>>>,
    pub lines: u64,
    pub requested: u64,
    pub offset: u64,
    pub estimate: u64,
    pub units: u64,
    pub partial: bool,
    /// Requested columns the answer lacked (mapped by header name; flagged, not failed).
    pub missing: Vec<String>,
    pub cached: bool,
    pub spent: Option<u64>,
    pub budget: Option<u64>,
    pub alerts: Vec<f64>,
}

/// SEMrush's terms forbid keeping its data longer than a month.
pub const MAX_CACHE_TTL: Duration = Duration::from_secs(30 * 86_400);

impl Page {
    pub fn is_empty_result(&self) -> bool {
        parse_error_body(&self.body).is_some()
    }
}

/// What a report body holds: its lines and the requested columns it lacks.
#[derive(Debug, Clone, Default)]
pub struct BodyShape {
    pub lines: u64,
    pub missing: Vec<String>,
}

/// Check that a 200 body is the requested report (CSV whose header lines up with the requested
/// columns; not HTML, not JSON) and count its lines (0 for `ERROR 50`).
pub fn count_lines(body: &[u8], content_type: Option<&str>, columns: Option<&[Column]>) -> Result<BodyShape> {
    if parse_error_body(body).is_some() {
        return Ok(BodyShape::default());
    }
    let bad = |m: String| Error::format(m).provider(PROVIDER);
    let first = body.iter().find(|b| !b.is_ascii_whitespace()).copied();
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    if matches!(first, Some(b'<' | b'{' | b'[')) || ct.contains("json") || ct.contains("xml") {
        let what = if first == Some(b'<') { "an HTML page (a proxy or CDN page?)" } else { "JSON or XML" };
        let snippet: String = String::from_utf8_lossy(&body[..body.len().min(80)]).chars().filter(|c| !c.is_control()).collect();
        return Err(bad(format!("SEMrush answered HTTP 200 with {what}, not report CSV: {snippet:?}")));
    }
    let mut missing = Vec::new();
    if let Some(cols) = columns {
        let mut r = Records::new(body, b';');
        let mut header = Vec::new();
        if r.next_into(&mut header).map_err(bad)? {
            missing = match_header(&header, cols).map_err(bad)?.missing;
        }
    }
    let lines = count_records(body, b';').map(|n| n as u64).map_err(bad)?;
    Ok(BodyShape { lines, missing })
}

/// `1,000` or `1000` -> 1000. A JSON body is the bad-key answer.
pub fn parse_balance(body: &[u8]) -> Result<u64> {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.starts_with('{') {
        return Err(Error::new(Kind::Authentication, "SEMrush balance check refused the key").provider(PROVIDER));
    }
    if let Some((code, msg)) = parse_error_body(body) {
        return Err(error_for(code, &msg, 200));
    }
    let digits: String = text.chars().filter(|c| !matches!(c, ',' | ' ' | '_')).collect();
    digits
        .parse::<u64>()
        .or_else(|_| digits.parse::<f64>().map(|f| f as u64))
        .map_err(|_| Error::format(format!("SEMrush balance is not a number: {:?}", &text[..text.len().min(60)])).provider(PROVIDER))
}

// ---------------------------------------------------------------------------------------------
// Client

pub struct Client {
    pub engine: Engine,
    key: String,
    pub endpoints: Endpoints,
    /// After a short page, read the balance to tell "no more data" from "units ran out".
    pub check_partial: bool,
}

pub struct Settings {
    pub key: String,
    pub base_url: Option<String>,
    pub ledger: Arc<Ledger>,
    pub budget: Option<Budget>,
    pub retry: RetryPolicy,
    pub timeout: Duration,
    pub rate: Option<Rate>,
    pub concurrency: Option<usize>,
    pub cache_ttl: Option<Duration>,
    /// The ledger account (default: a hash of the key); one account can hold a v3 and a v4 key.
    pub account: Option<String>,
}

impl Client {
    pub fn new(s: Settings) -> Result<Client> {
        if s.key.trim().is_empty() {
            return Err(Error::new(Kind::Authentication, "no SEMrush API key: pass api_key= or set SEMRUSH_API_KEY").provider(PROVIDER));
        }
        crate::providers::credential(PROVIDER, "SEMrush API key", &s.key)?;
        if s.cache_ttl.is_some_and(|t| t > MAX_CACHE_TTL) {
            return Err(Error::invalid("SEMrush's terms forbid keeping its data longer than a month: cache at most 30 days").provider(PROVIDER));
        }
        let account = s.account.unwrap_or_else(|| account_hash(PROVIDER, &s.key));
        let limits = Limits::shared(PROVIDER, &account, s.rate, s.concurrency, &s.ledger);
        Ok(Client {
            engine: Engine::new(PROVIDER, account, s.ledger, s.budget, s.retry, s.timeout, limits, s.cache_ttl),
            key: s.key,
            endpoints: Endpoints::new(s.base_url.as_deref())?,
            check_partial: true,
        })
    }

    fn request(&self, p: &Prepared) -> Request {
        let base = match p.report.host {
            Host::Analytics => &self.endpoints.analytics,
            Host::Backlinks => &self.endpoints.backlinks,
        };
        let mut url = format!("{base}?type={}", p.report.name);
        let mut shown = url.clone();
        url.push_str("&key=");
        url.push_str(&encode(&self.key).to_string());
        shown.push_str("&key=***");
        for (k, v) in &p.query {
            let pair = format!("&{}={}", encode(k), encode(v));
            url.push_str(&pair);
            shown.push_str(&pair);
        }
        Request { method: reqwest::Method::GET, url, shown, headers: Vec::new(), body: None }
    }

    /// The key, for the other v3 APIs of the same account (Trends). Never displayed.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// The URL a report call would use, with the key shown as `***`.
    pub fn shown_url(&self, p: &Prepared) -> String {
        self.request(p).shown
    }

    /// Fetch one report page: reserve its worst case, send, commit the lines received.
    pub async fn fetch(&self, p: &Prepared) -> Result<Page> {
        let request = self.request(p);
        let price = p.report.price(p.historical);
        let columns = p.columns.clone();
        let per_request = p.report.per_request;
        let call = Call { report: p.report.name, estimate: p.estimate, metered: true, cacheable: p.cache, request, cache_basis: None };
        let (mut page, committed) = self
            .engine
            .call(call, check, |reply| {
                let content_type = reply.headers.get("content-type").and_then(|v| v.to_str().ok());
                let shape = count_lines(&reply.body, content_type, columns.as_deref().map(|c| c.as_slice()))?;
                let lines = shape.lines;
                if !shape.missing.is_empty() {
                    log::warn!(target: "seowire", "semrush {}: the answer lacks the requested column(s) {}", p.report.name, shape.missing.join(", "));
                }
                let units = if lines == 0 || reply.cached { 0 } else if per_request { price } else { crate::units::mul(price, lines, p.report.name)? };
                let page = Page {
                    report: p.report.name,
                    body: reply.body,
                    columns: columns.clone(),
                    lines,
                    requested: p.max_lines,
                    offset: p.offset,
                    estimate: p.estimate,
                    units,
                    partial: false,
                    missing: shape.missing,
                    cached: reply.cached,
                    spent: None,
                    budget: None,
                    alerts: Vec::new(),
                };
                Ok((page, Record { units, rows: lines, ..Default::default() }))
            })
            .await?;
        if let Some(c) = committed {
            page.spent = Some(c.spent);
            page.budget = c.budget;
            page.alerts = c.alerts;
        }
        if self.check_partial && !page.cached && !per_request && page.lines > 0 && page.lines < page.requested {
            // A short answer is either the end of the data or the balance running out; only
            // the balance can tell them apart (the API sends no marker).
            if let Ok(left) = self.balance().await {
                if left < price {
                    page.partial = true;
                    log::warn!(
                        target: "seowire",
                        "semrush {}: partial answer, {} of {} lines before the unit balance ran out",
                        page.report, page.lines, page.requested
                    );
                }
            }
        }
        Ok(page)
    }

    /// Remaining units (free call).
    pub async fn balance(&self) -> Result<u64> {
        let url = format!("{}?key={}", self.endpoints.balance, encode(&self.key));
        let shown = format!("{}?key=***", self.endpoints.balance);
        let request = Request { method: reqwest::Method::GET, url, shown, headers: Vec::new(), body: None };
        let call = Call { report: "countapiunits", estimate: 0, metered: false, cacheable: false, request, cache_basis: None };
        let (units, _) = self.engine.call(call, check, |reply| Ok((parse_balance(&reply.body)?, Record::default()))).await?;
        Ok(units)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(v: &[(&str, Param)]) -> Vec<(String, Param)> {
        v.iter().map(|(k, p)| (k.to_string(), p.clone())).collect()
    }

    #[test]
    fn prices_per_line_historical_and_per_request() {
        let p = prepare("domain_organic", params(&[("domain", Param::Str("x.com".into())), ("database", Param::Str("us".into())), ("display_limit", Param::Int(100))])).unwrap();
        assert_eq!((p.max_lines, p.estimate), (100, 1000));
        let p = prepare("domain_organic", params(&[("domain", Param::Str("x.com".into())), ("database", Param::Str("us".into())), ("display_limit", Param::Int(100)), ("display_date", Param::Str("20240115".into()))])).unwrap();
        assert_eq!(p.estimate, 5000);
        let p = prepare("backlinks_overview", params(&[("target", Param::Str("x.com".into()))])).unwrap();
        assert_eq!(p.estimate, 40);
        assert!(p.query.contains(&("target_type".to_string(), "root_domain".to_string())));
        let p = prepare("phrase_these", params(&[("phrase", Param::List(vec!["a".into(), "b".into(), "c".into()])), ("database", Param::Str("us".into()))])).unwrap();
        assert_eq!(p.estimate, 30);
        assert!(p.query.contains(&("phrase".to_string(), "a;b;c".to_string())));
        // Paging: display_limit is the end index.
        let page = p.page(200, 100);
        assert!(page.query.contains(&("display_limit".to_string(), "300".to_string())));
    }

    #[test]
    fn validation_happens_before_anything_is_sent() {
        let e = prepare("domain_organic", params(&[("domain", Param::Str("x.com".into()))])).unwrap_err();
        assert_eq!(e.kind, Kind::InvalidRequest);
        assert!(prepare("no_such_report", vec![]).is_err());
        let e = prepare("domain_organic", params(&[("domain", Param::Str("x".into())), ("database", Param::Str("us".into())), ("display_limit", Param::Int(10)), ("display_offset", Param::Int(10))])).unwrap_err();
        assert!(e.message.contains("display_offset"));
        assert!(prepare("domain_organic", params(&[("domain", Param::Str("x".into())), ("database", Param::Str("us".into())), ("key", Param::Str("k".into()))])).is_err());
    }

    #[test]
    fn error_bodies_map_to_kinds() {
        assert_eq!(parse_error_body(b"ERROR 50 :: NOTHING FOUND\n"), Some((50, "NOTHING FOUND".into())));
        assert_eq!(error_for(132, "API UNITS BALANCE IS ZERO", 200).kind, Kind::UnitsExhausted);
        assert_eq!(error_for(120, "WRONG KEY - ID PAIR", 403).kind, Kind::Authentication);
        assert!(error_for(429, "x", 429).retryable);
        assert!(!error_for(605, "x", 200).retryable);
        assert_eq!(parse_balance(b"1,000").unwrap(), 1000);
        assert_eq!(parse_balance(b"  25400\n").unwrap(), 25400);
        assert_eq!(parse_balance(br#"{"errors":[{"field":"key","message":"invalid api key"}]}"#).unwrap_err().kind, Kind::Authentication);
    }

    #[test]
    fn names() {
        assert_eq!(column("Tr").name, "traffic_percent");
        assert_eq!(column("FK12").name, "serp_feature_keywords_12");
        assert_eq!(snake("Average vol."), "average_vol");
        assert_eq!(column("Zz").ty, Ty::Auto);
    }
}

/// A CSV cell parsed to its column's type, before any Python object exists (parsing needs no
/// GIL, so it can run on every core while Python waits). Values that do not parse as the
/// column's type stay text.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    Null,
    Int(i64),
    Float(f64),
    Text(std::borrow::Cow<'a, str>),
    Floats(Vec<f64>),
}

pub fn typed_cell(text: std::borrow::Cow<'_, str>, ty: Ty) -> Cell<'_> {
    use crate::providers::csv::parse_f64;
    if text.is_empty() {
        return Cell::Null;
    }
    match ty {
        Ty::Str => Cell::Text(text),
        Ty::Int | Ty::Auto => match text.parse::<i64>() {
            Ok(i) => Cell::Int(i),
            Err(_) => parse_f64(&text).map_or(Cell::Text(text), Cell::Float),
        },
        Ty::Float => parse_f64(&text).map_or(Cell::Text(text), Cell::Float),
        Ty::Floats => {
            let parsed: Option<Vec<f64>> = text.split(',').map(|s| parse_f64(s).or_else(|| parse_f64(s.trim()))).collect();
            parsed.map_or(Cell::Text(text), Cell::Floats)
        }
    }
}

/// The data records of a body (after the header), parsed to typed cells and handed to `sink`
/// part by part, in order. Large bodies are cut at record ends: a second thread parses parts
/// 1.. while this one parses part 0, so whatever `sink` does with the first rows (the Python
/// side builds objects) overlaps parsing the rest. Stops early when `sink` returns false. On a
/// malformed record the body is parsed again in one piece, so its line number counts from the top.
pub fn parse_cells<'a>(data: &'a [u8], columns: &[Column], mut sink: impl FnMut(Vec<Cell<'a>>) -> bool) -> std::result::Result<(), String> {
    const PARALLEL_BYTES: usize = 256 << 10;
    if data.len() <= PARALLEL_BYTES || crate::runtime::cores() < 2 {
        sink(parse_part(data, columns)?);
        return Ok(());
    }
    let mut pieces = crate::providers::csv::split_records(data, 8).into_iter();
    let Some(first) = pieces.next() else { return Ok(()) };
    let rest: Vec<&'a [u8]> = pieces.collect();
    let result = std::thread::scope(|s| {
        // Bounded: the parser stays at most two parts ahead of the consumer.
        let (tx, rx) = std::sync::mpsc::sync_channel::<std::result::Result<Vec<Cell<'a>>, String>>(2);
        let worker = s.spawn(move || {
            for piece in rest {
                let parsed = parse_part(piece, columns);
                let failed = parsed.is_err();
                if tx.send(parsed).is_err() || failed {
                    break;
                }
            }
        });
        let mut result = parse_part(first, columns).map(&mut sink);
        while let Ok(true) = result {
            match rx.recv() {
                Ok(part) => result = part.map(&mut sink),
                Err(_) => break, // every part delivered
            }
        }
        drop(rx);
        let _ = worker.join();
        result
    });
    result.map(|_| ()).map_err(|m| parse_part(data, columns).err().unwrap_or(m))
}

fn parse_part<'a>(data: &'a [u8], columns: &[Column]) -> std::result::Result<Vec<Cell<'a>>, String> {
    let mut records = crate::providers::csv::Records::new(data, b';');
    let mut buf = Vec::with_capacity(columns.len());
    let mut out = Vec::with_capacity(columns.len() * (memchr::memchr_iter(b'\n', data).count() + 1));
    let mut line = 1usize;
    while records.next_into(&mut buf)? {
        line += 1;
        if buf.len() != columns.len() {
            return Err(format!("line {line} has {} values for {} columns", buf.len(), columns.len()));
        }
        out.extend(buf.drain(..).zip(columns).map(|(text, c)| typed_cell(text, c.ty)));
    }
    Ok(out)
}
