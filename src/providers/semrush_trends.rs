//! SEMrush Trends API v3 (Traffic Analytics; providers-next.md §2.2): `GET
//! https://api.semrush.com/analytics/ta/api/v3/<report>?key=...`, CSV whose separator the docs
//! give as `,` while every example uses `;` (so it is sniffed from the header), `n/a` for missing
//! values, and its own allowance: a separate ledger account with its own budget.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::http::{Call, Engine, Request};
use crate::ledger::{Budget, Ledger, Record};
use crate::limits::Limits;
use crate::retry::RetryPolicy;
use crate::secrets::encode;

pub const PROVIDER: &str = "semrush";
pub const DEFAULT_BASE: &str = "https://api.semrush.com/analytics/ta";

/// How a Trends report is priced [C SRMIR trends_*.md].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Price {
    /// Units per line, only for targets with data (summary); nothing when empty.
    PerLine(u64),
    /// Units per request; `empty_billed`: charged even when the answer is empty.
    PerRequest { units: u64, empty_billed: bool },
}

#[derive(Debug)]
pub struct Report {
    pub name: &'static str,
    /// What it answers, in a few words (the generated method's docstring).
    pub about: &'static str,
    pub params: &'static [&'static str],
    pub required: &'static [&'static str],
    pub price: Price,
}

const TARGET: &[&str] = &["target", "target_type", "display_date", "device_type", "country", "export_columns", "display_limit", "display_offset", "sort_order"];
const ONE: Price = Price::PerRequest { units: 1, empty_billed: true };

pub static REPORTS: &[Report] = &[
    Report { name: "summary", about: "Traffic summary of up to 200 targets", params: &["targets", "display_date", "device_type", "country", "export_columns"], required: &["targets"], price: Price::PerLine(1) },
    Report {
        name: "summary_by_day", about: "Daily traffic of a target",
        params: &["target", "target_type", "display_date", "device_type", "country", "export_columns", "include_forecasted_items"],
        required: &["target"],
        price: Price::PerRequest { units: 1, empty_billed: false },
    },
    Report {
        name: "summary_by_week", about: "Weekly traffic of a target",
        params: &["target", "target_type", "display_date", "device_type", "country", "export_columns", "include_forecasted_items"],
        required: &["target"],
        price: Price::PerRequest { units: 1, empty_billed: false },
    },
    Report { name: "rank", about: "The traffic rank list", params: &["display_date", "device_type", "country", "export_columns", "display_limit", "display_offset"], required: &[], price: ONE },
    Report {
        name: "sources", about: "Traffic sources of a target",
        params: &["target", "target_type", "display_date", "device_type", "country", "export_columns", "traffic_channel", "traffic_type", "sort_order", "display_limit", "display_offset"],
        required: &["target"],
        price: ONE,
    },
    Report { name: "toppages", about: "Top pages of a target", params: TARGET, required: &["target"], price: ONE },
    Report {
        name: "geo", about: "Traffic by country, subcontinent or continent",
        params: &["target", "target_type", "display_date", "device_type", "geo_type", "export_columns", "sort_order", "display_limit", "display_offset"],
        required: &["target"],
        price: ONE,
    },
    Report { name: "subfolders", about: "Traffic by subfolder", params: TARGET, required: &["target"], price: ONE },
    Report { name: "accuracy", about: "Data accuracy of a target", params: TARGET, required: &["target"], price: ONE },
    Report { name: "audience_insights", about: "Audience insights", params: TARGET, required: &["target"], price: ONE },
    Report { name: "household_distribution", about: "Household distribution", params: TARGET, required: &["target"], price: ONE },
    Report { name: "education_distribution", about: "Education distribution", params: TARGET, required: &["target"], price: ONE },
    Report {
        name: "categories", about: "Top domains of an industry category",
        params: &["category", "country", "display_date", "export_columns", "display_limit", "display_offset"],
        required: &["category"],
        price: Price::PerRequest { units: 500, empty_billed: true },
    },
];

fn bad(msg: impl Into<String>) -> Error {
    Error::invalid(msg).provider(PROVIDER)
}

pub fn report(name: &str) -> Result<&'static Report> {
    REPORTS.iter().find(|r| r.name == name).ok_or_else(|| {
        let hint = super::closest(name, REPORTS.iter().map(|r| r.name)).map(|c| format!("; did you mean {c:?}?")).unwrap_or_default();
        bad(format!("unknown Trends report {name:?}{hint} (known: {})", REPORTS.iter().map(|r| r.name).collect::<Vec<_>>().join(", ")))
    })
}

#[derive(Debug, Clone)]
pub struct Prepared {
    pub report: &'static Report,
    pub query: Vec<(String, String)>,
    /// Targets asked for (summary's worst case is one line each).
    pub targets: u64,
    pub estimate: u64,
    pub cache: bool,
}

/// Validate a Trends call and price its worst case.
pub fn prepare(name: &str, params: Vec<(String, String)>) -> Result<Prepared> {
    let r = report(name)?;
    let mut query = Vec::new();
    let mut targets = 1u64;
    for (k, v) in params {
        if k == "key" {
            return Err(bad("the key is the client's: pass api_key= to seowire.Semrush"));
        }
        if !r.params.contains(&k.as_str()) {
            return Err(super::unknown_param(PROVIDER, &format!("Trends {name}"), &k, r.params.iter().copied()));
        }
        match k.as_str() {
            "targets" => {
                let n = v.split(',').filter(|t| !t.trim().is_empty()).count();
                if n == 0 || n > 200 {
                    return Err(bad(format!("Trends summary takes 1..=200 targets, not {n}")));
                }
                targets = n as u64;
            }
            "display_date" => {
                let ok = v.len() == 10 && v.ends_with("-01") && super::is_date(&v) && v.as_str() >= "2017-01-01";
                if !ok {
                    return Err(bad(format!("display_date is the first of a month, YYYY-MM-01, from 2017-01-01 on, not {v:?}")));
                }
            }
            "device_type" if !matches!(v.as_str(), "desktop" | "mobile") => return Err(bad("device_type is desktop or mobile (leave it out for all)")),
            "country" if !(v.len() == 2 && v.chars().all(|c| c.is_ascii_alphabetic())) => return Err(bad(format!("country is an ISO alpha-2 code, not {v:?}"))),
            "geo_type" if !matches!(v.as_str(), "country" | "subcontinent" | "continent") => return Err(bad("geo_type is country, subcontinent or continent")),
            "display_limit" => match v.parse::<u64>() {
                Ok(n) if (1..=5000).contains(&n) => {}
                _ => return Err(bad(format!("display_limit must be in 1..=5000, not {v:?}"))),
            },
            "display_offset" => match v.parse::<u64>() {
                Ok(n) if n <= 10_000 => {}
                _ => return Err(bad(format!("display_offset must be in 0..=10000, not {v:?}"))),
            },
            "target" if v.trim().is_empty() || v.chars().any(char::is_whitespace) => return Err(bad("target must be a domain or URL without spaces")),
            _ => {}
        }
        query.push((k, v));
    }
    for req in r.required {
        if !query.iter().any(|(k, _)| k == req) {
            return Err(bad(format!("Trends {name} needs {req}")));
        }
    }
    let estimate = match r.price {
        Price::PerLine(n) => n.saturating_mul(targets),
        Price::PerRequest { units, .. } => units,
    };
    Ok(Prepared { report: r, query, targets, estimate, cache: true })
}

/// The separator of a Trends body, from its header line: `;` unless the header has commas and
/// no semicolons (the docs say comma; every example uses `;`).
pub fn separator(body: &[u8]) -> u8 {
    let header = body.split(|b| *b == b'\n').next().unwrap_or(b"");
    let count = |c: u8| header.iter().filter(|b| **b == c).count();
    if count(b';') == 0 && count(b',') > 0 {
        b','
    } else {
        b';'
    }
}

/// Records of a CSV body, quote-aware (a quoted cell may hold either separator or a newline).
pub fn records(body: &[u8], sep: u8) -> std::result::Result<Vec<Vec<String>>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_string())?;
    let mut out = Vec::new();
    let (mut row, mut cell, mut quoted, mut chars) = (Vec::new(), String::new(), false, text.chars().peekable());
    let sep = sep as char;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            '"' => quoted = !quoted,
            c if c == sep && !quoted => row.push(std::mem::take(&mut cell)),
            '\r' if !quoted => {}
            '\n' if !quoted => {
                row.push(std::mem::take(&mut cell));
                if !(row.len() == 1 && row[0].is_empty()) {
                    out.push(std::mem::take(&mut row));
                }
                row.clear();
            }
            c => cell.push(c),
        }
    }
    if quoted {
        return Err("a quoted cell is not closed (the body was cut short)".into());
    }
    if !cell.is_empty() || !row.is_empty() {
        row.push(cell);
        out.push(row);
    }
    Ok(out)
}

/// A parsed Trends page: header and data records.
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

pub fn parse(body: &[u8]) -> Result<Table> {
    if super::semrush::parse_error_body(body).is_some() {
        return Ok(Table { header: Vec::new(), rows: Vec::new() }); // ERROR 50: nothing found
    }
    if body.trim_ascii().is_empty() {
        return Ok(Table { header: Vec::new(), rows: Vec::new() });
    }
    if body.trim_ascii_start().starts_with(b"<") || body.trim_ascii_start().starts_with(b"{") {
        return Err(Error::format("Trends answered with HTML or JSON, not its CSV report").provider(PROVIDER));
    }
    let mut recs = records(body, separator(body)).map_err(|e| Error::format(format!("Trends CSV: {e}")).provider(PROVIDER))?;
    let header = recs.remove(0);
    if let Some((i, r)) = recs.iter().enumerate().find(|(_, r)| r.len() != header.len()) {
        return Err(Error::format(format!("Trends CSV line {} has {} cells for {} columns", i + 2, r.len(), header.len())).provider(PROVIDER));
    }
    Ok(Table { header, rows: recs })
}

// ---------------------------------------------------------------------------------------------

pub struct Settings {
    pub key: String,
    pub base_url: Option<String>,
    pub ledger: Arc<Ledger>,
    /// Trends' own allowance: a budget separate from the SEO API units.
    pub budget: Option<Budget>,
    pub retry: RetryPolicy,
    pub timeout: Duration,
    pub limits: Arc<Limits>,
    /// The account's ledger name; Trends counts under `<account>:trends`.
    pub account: String,
    pub cache_ttl: Option<Duration>,
}

pub struct Client {
    pub engine: Engine,
    key: String,
    pub base: String,
}

/// One Trends page: the body, its table and what it cost.
pub struct Page {
    pub report: &'static str,
    pub table: Table,
    pub units: u64,
    pub estimate: u64,
    pub cached: bool,
    pub spent: Option<u64>,
    pub budget: Option<u64>,
    pub alerts: Vec<f64>,
}

impl Client {
    pub fn new(s: Settings) -> Result<Client> {
        let base = s.base_url.unwrap_or_else(|| DEFAULT_BASE.to_string());
        url::Url::parse(&base).map_err(|e| bad(format!("the Trends base URL is not a URL: {e}")))?;
        Ok(Client {
            engine: Engine::new(PROVIDER, format!("{}:trends", s.account), s.ledger, s.budget, s.retry, s.timeout, s.limits, s.cache_ttl),
            key: s.key,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    fn request(&self, p: &Prepared) -> Request {
        let mut shown = format!("{}/api/v3/{}?key=***", self.base, p.report.name);
        let mut url = format!("{}/api/v3/{}?key={}", self.base, p.report.name, encode(&self.key));
        for (k, v) in &p.query {
            let pair = format!("&{}={}", encode(k), encode(v));
            url.push_str(&pair);
            shown.push_str(&pair);
        }
        Request { method: reqwest::Method::GET, url, shown, headers: Vec::new(), body: None }
    }

    pub async fn fetch(&self, p: &Prepared) -> Result<Page> {
        let call = Call { report: p.report.name, estimate: p.estimate, metered: true, cacheable: p.cache, request: self.request(p), cache_basis: None };
        let (mut page, committed) = self
            .engine
            .call(call, super::semrush::check, |reply| {
                let table = parse(&reply.body)?;
                let lines = table.rows.len() as u64;
                let units = match (reply.cached, p.report.price) {
                    (true, _) => 0,
                    (_, Price::PerLine(n)) => crate::units::mul(n, lines.min(p.targets), p.report.name)?,
                    (_, Price::PerRequest { units, empty_billed }) => {
                        if lines == 0 && !empty_billed {
                            0
                        } else {
                            units
                        }
                    }
                };
                let page = Page { report: p.report.name, table, units, estimate: p.estimate, cached: reply.cached, spent: None, budget: None, alerts: Vec::new() };
                Ok((page, Record { units, rows: lines, ..Default::default() }))
            })
            .await?;
        if let Some(c) = committed {
            page.spent = Some(c.spent);
            page.budget = c.budget;
            page.alerts = c.alerts;
        }
        Ok(page)
    }

    /// The free limits endpoint, as-is: its body format is unpublished [Open].
    pub async fn limits(&self) -> Result<(u16, Bytes)> {
        let url = format!("{}/limits/key/{}", self.base, encode(&self.key));
        let shown = format!("{}/limits/key/***", self.base);
        let call = Call {
            report: "trends limits",
            estimate: 0,
            metered: false,
            cacheable: false,
            request: Request { method: reqwest::Method::GET, url, shown, headers: Vec::new(), body: None },
            cache_basis: None,
        };
        let (out, _) = self.engine.call(call, super::semrush::check, |reply| Ok(((reply.status, reply.body), Record::default()))).await?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn validates_and_prices() {
        assert_eq!(prepare("summary", p(&[("targets", "a.com,b.com,c.com")])).unwrap().estimate, 3);
        assert_eq!(prepare("categories", p(&[("category", "1")])).unwrap().estimate, 500);
        assert_eq!(prepare("sources", p(&[("target", "a.com")])).unwrap().estimate, 1);
        let many = (0..201).map(|i| format!("s{i}.com")).collect::<Vec<_>>().join(",");
        assert!(prepare("summary", vec![("targets".into(), many)]).is_err());
        assert!(prepare("sources", p(&[("target", "a.com"), ("display_date", "2026-10-15")])).is_err());
        assert!(prepare("sources", p(&[("target", "a.com"), ("display_limit", "5001")])).is_err());
        assert!(prepare("sourcse", p(&[("target", "a.com")])).unwrap_err().message.contains("did you mean"));
        assert!(prepare("geo", p(&[("target", "a.com"), ("colour", "x")])).is_err());
    }

    #[test]
    fn the_separator_is_sniffed_and_quotes_hold_either() {
        assert_eq!(separator(b"a;b\n1;2\n"), b';');
        assert_eq!(separator(b"a,b\n1,2\n"), b',');
        let t = parse(b"target;categories;visits\nx.com;\"Arts; Books\";5\ny.com;n/a;7\n").unwrap();
        assert_eq!(t.header, ["target", "categories", "visits"]);
        assert_eq!(t.rows[0][1], "Arts; Books");
        assert!(parse(b"a;b\n1;\"2\n").is_err());
        assert!(parse(b"a;b\n1;2;3\n").is_err());
        assert_eq!(parse(b"ERROR 50 :: NOTHING FOUND").unwrap().rows.len(), 0);
    }
}
