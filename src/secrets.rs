//! The one scrubber. Every text that comes from a server (error bodies, locations, messages of
//! the libraries below us) passes through `scrub` before it reaches an exception, a log record,
//! a warning, the CLI, the cache or the ledger.
//!
//! Clients register their secrets (keys, tokens, secret keys, Bearer values, OAuth tokens) when
//! they are built; `scrub` replaces each of them, in every encoding a server could echo it in
//! (as is, percent-encoded, form-encoded, inside Basic auth), with `***`, and also hides the
//! values of query parameters that carry secrets (`key=...`), whoever they belong to.

use std::sync::RwLock;

const MASK: &str = "***";

/// Shorter values are not registered: masking every "ab" would garble messages, and a value
/// that short is not a secret anyone can keep. They are still hidden as query values.
const MIN_LEN: usize = 4;

static REGISTRY: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Names of query parameters that carry secrets.
const SECRET_PARAMS: &[&str] =
    &["key", "api_key", "apikey", "token", "access_token", "refresh_token", "secret", "secret_key", "signature", "client_secret", "code_verifier", "code"];

/// Remember a secret of this process so that `scrub` hides it (and its encodings) everywhere.
pub fn register(secret: &str) {
    let secret = secret.trim();
    if secret.len() < MIN_LEN {
        return;
    }
    let mut forms = vec![secret.to_string()];
    let encoded = percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC).to_string();
    forms.push(encoded.clone());
    forms.push(encoded.to_ascii_lowercase());
    forms.push(url::form_urlencoded::byte_serialize(secret.as_bytes()).collect());
    forms.push(encode(secret).to_string());
    let mut reg = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    for f in forms {
        if f.len() >= MIN_LEN && !reg.contains(&f) {
            reg.push(f);
        }
    }
    // Longest first, so a form that contains another is replaced whole.
    reg.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// Register the Basic-auth form of an id/secret pair (a server may echo the header).
pub fn register_basic(user: &str, password: &str) {
    register(password);
    register(&base64(format!("{user}:{password}").as_bytes()));
}

/// `text` with every registered secret and every secret query value replaced by `***`.
pub fn scrub(text: &str) -> String {
    let mut out = {
        let reg = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
        let mut out: Option<String> = None;
        for secret in reg.iter() {
            let current = out.as_deref().unwrap_or(text);
            if current.contains(secret.as_str()) {
                out = Some(current.replace(secret.as_str(), MASK));
            }
        }
        out.unwrap_or_else(|| text.to_string())
    };
    if SECRET_PARAMS.iter().any(|p| out.contains(&format!("{p}=")) || out.to_ascii_lowercase().contains(&format!("{p}="))) {
        out = redact_params(&out);
    }
    out
}

/// Whether `bytes` hold a registered secret (a cached body must not).
pub fn contains_secret(bytes: &[u8]) -> bool {
    let reg = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
    reg.iter().any(|s| memchr::memmem::find(bytes, s.as_bytes()).is_some())
}

/// Replace the values of secret query parameters with `***` anywhere in `text`.
pub fn redact_params(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < text.len() {
        let at_param = i == 0 || matches!(bytes[i - 1], b'?' | b'&' | b' ' | b'(' | b'"' | b'\'' | b',' | b';');
        if at_param {
            if let Some(name) = SECRET_PARAMS.iter().find(|n| {
                let end = i + n.len();
                end < text.len() && text.is_char_boundary(end) && text[i..end].eq_ignore_ascii_case(n) && bytes[end] == b'='
            }) {
                out.push_str(&text[i..i + name.len() + 1]);
                out.push_str(MASK);
                i += name.len() + 1;
                while i < text.len() && !matches!(bytes[i], b'&' | b' ' | b'#' | b')' | b'"' | b'\'' | b',' | b';') {
                    i += 1;
                }
                continue;
            }
        }
        let ch = text[i..].chars().next().unwrap_or('\u{FFFD}');
        out.push(ch);
        i += ch.len_utf8().max(1);
    }
    out
}

/// `redis://user:secret@host` -> `redis://user:***@host`.
pub fn redact_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some(MASK));
            u.to_string()
        }
        _ => scrub(url),
    }
}

/// The query-string encoding every provider sends values in. It lives here, the leaf module,
/// because the scrubber must mask a secret in the very form it went out in.
pub fn encode(s: &str) -> percent_encoding::PercentEncode<'_> {
    const SET: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b',');
    percent_encoding::utf8_percent_encode(s, SET)
}


/// Standard base64 (with padding): Basic auth credentials are sent in it, so the scrubber
/// masks them in it too; the providers use this one.
pub fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_query_values() {
        assert_eq!(redact_params("http://h/?type=x&key=abc123&database=us"), "http://h/?type=x&key=***&database=us");
        assert_eq!(redact_params("GET http://h/?key=abc"), "GET http://h/?key=***");
        assert_eq!(redact_params("http://h/?monkey=1&key=s"), "http://h/?monkey=1&key=***");
        assert_eq!(redact_params("no secrets here"), "no secrets here");
        assert_eq!(redact_params("ünïcode?token=x y"), "ünïcode?token=*** y");
    }

    #[test]
    fn scrubs_registered_secrets_in_every_encoding() {
        let secret = "sk/TEST+0123 456=SECRET";
        register(secret);
        for echoed in [
            secret.to_string(),
            percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC).to_string(),
            url::form_urlencoded::byte_serialize(secret.as_bytes()).collect::<String>(),
        ] {
            let text = format!("ERROR 120 :: WRONG KEY - ID PAIR {echoed} (x)");
            let out = scrub(&text);
            assert!(!out.contains("0123"), "{out}");
            assert!(out.contains("***"), "{out}");
        }
        register_basic("member-1", "moz-secret-key-1");
        let b = base64(b"member-1:moz-secret-key-1");
        assert!(!scrub(&format!("Authorization: Basic {b}")).contains(&b));
        assert_eq!(scrub("short ab"), "short ab");
    }
}
