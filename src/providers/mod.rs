//! One module per provider. Each speaks HTTP and units, never Python.
pub mod ahrefs;
pub mod csv;
pub mod moz;
pub mod mozapi;
pub mod oauth;
pub mod scim;
pub mod semrush;
pub mod semrush_projects;
pub mod semrush_trends;
pub mod semrush_v4;

use bytes::Bytes;

use crate::ledger::Committed;

/// Which part of a JSON reply is the caller's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unwrap {
    /// The whole document.
    Whole,
    /// One member of the top-level object (Moz `results`).
    Key(&'static str),
    /// The only member of the top-level object, whatever its name (Ahrefs).
    Single,
    /// A member of a member (the rows list of a Moz API `result`).
    Path(&'static str, &'static str),
}

/// One JSON reply with what it cost, ready for the bindings to decode.
#[derive(Debug, Clone)]
pub struct JsonPage {
    pub provider: &'static str,
    pub report: String,
    pub body: Bytes,
    pub unwrap: Unwrap,
    /// Results returned (rows of a list, 1 for an object).
    pub rows: u64,
    /// Units committed for this reply (Moz: rows charged).
    pub units: u64,
    pub estimate: u64,
    pub next_token: Option<String>,
    pub cached: bool,
    pub spent: Option<u64>,
    pub budget: Option<u64>,
    pub alerts: Vec<f64>,
}

impl JsonPage {
    pub fn settled(mut self, committed: Option<Committed>) -> Self {
        if let Some(c) = committed {
            self.spent = Some(c.spent);
            self.budget = c.budget;
            self.alerts = c.alerts;
        }
        self
    }
}

/// The closest of `known` to a misspelled `name`, if one is close (edit distance at most 2,
/// or one is a prefix of the other).
pub fn closest<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    }
    let lower = name.to_ascii_lowercase();
    known
        .into_iter()
        .map(|k| (distance(&lower, &k.to_ascii_lowercase()), k))
        .filter(|(d, k)| *d <= 2.min(name.len() / 2).max(1) || (lower.len() >= 4 && (k.starts_with(&lower) || lower.starts_with(*k))))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// `InvalidRequest` for an unknown parameter, with the closest known one suggested.
pub fn unknown_param<'a>(provider: &'static str, what: &str, name: &str, known: impl IntoIterator<Item = &'a str> + Clone) -> crate::error::Error {
    let hint = match closest(name, known.clone()) {
        Some(k) => format!("; did you mean '{k}'?"),
        None => format!(" (known: {}).", known.into_iter().collect::<Vec<_>>().join(", ")),
    };
    crate::error::Error::invalid(format!("{what} takes no parameter '{name}'{hint} Nothing was sent.")).provider(provider)
}

/// The current UTC month as (year, month).
pub fn current_month() -> (i64, u32) {
    let days = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs() / 86_400;
    let (y, m, _) = crate::ledger::civil_from_days(days as i64);
    (y as i64, m as u32)
}

/// A calendar date as the APIs write it: `YYYY-MM-DD`.
pub fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().ok();
    matches!((num(0..4), num(5..7), num(8..10)), (Some(_), Some(m), Some(d)) if (1..=12).contains(&m) && (1..=31).contains(&d))
}

/// A short, redacted description of an error body of any shape (JSON object, JSON list, text).
pub fn error_text(body: &[u8]) -> String {
    fn from_value(v: &serde_json::Value) -> Option<String> {
        match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Array(items) => {
                let parts: Vec<String> = items.iter().filter_map(from_value).collect();
                (!parts.is_empty()).then(|| parts.join(": "))
            }
            serde_json::Value::Object(m) => {
                for k in ["message", "error_message", "error_description", "detail", "error", "errors", "description", "name"] {
                    if let Some(s) = m.get(k).and_then(from_value) {
                        return Some(s);
                    }
                }
                None
            }
            _ => None,
        }
    }
    let text = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => from_value(&v).unwrap_or_else(|| v.to_string()),
        Err(_) => String::from_utf8_lossy(body).trim().to_string(),
    };
    let mut text: String = text.chars().filter(|c| !c.is_control()).take(300).collect();
    if text.is_empty() {
        text = "(empty body)".into();
    }
    crate::secrets::scrub(&text)
}

#[cfg(test)]
mod tests {
    #[test]
    fn suggests_the_closest_parameter() {
        let known = ["display_limit", "display_offset", "database", "domain"];
        assert_eq!(super::closest("display_limt", known), Some("display_limit"));
        assert_eq!(super::closest("databse", known), Some("database"));
        assert_eq!(super::closest("zzz", known), None);
    }

    #[test]
    fn error_text_reads_any_shape() {
        assert_eq!(super::error_text(br#"{"error": "bad select"}"#), "bad select");
        assert_eq!(super::error_text(br#"["Error","Unauthorized"]"#), "Error: Unauthorized");
        assert_eq!(super::error_text(br#"{"name":"Forbidden","message":"Row limit reached","status":403}"#), "Row limit reached");
        assert_eq!(super::error_text(b"Service Unavailable\n"), "Service Unavailable");
        assert_eq!(super::error_text(b""), "(empty body)");
    }
}

/// Check a credential when its client is built (visible ASCII only: whitespace or a control
/// character would make an unbuildable header or a different URL), then register it.
pub fn credential(provider: &'static str, what: &str, value: &str) -> crate::error::Result<()> {
    check(provider, what, value)?;
    crate::secrets::register(value);
    Ok(())
}

/// The check of `credential`, for an identity that is not itself a secret (Moz access ID).
pub fn check(provider: &'static str, what: &str, value: &str) -> crate::error::Result<()> {
    if let Some(c) = value.chars().find(|c| !c.is_ascii_graphic()) {
        let kind = if c.is_whitespace() { "whitespace" } else if c.is_control() { "a control character" } else { "a non-ASCII character" };
        return Err(crate::error::Error::invalid(format!("the {what} contains {kind}; copy it again without it")).provider(provider));
    }
    Ok(())
}
