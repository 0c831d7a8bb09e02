//! OAuth 2.0 authorization-code flow with PKCE (RFC 7636, S256), as Ahrefs Connect uses it.
//! The code exchange is never retried once sent: a code is single-use, and a second try would
//! fail anyway while hiding the first error.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

use super::error_text;
use crate::error::{Error, Kind, Result};
use crate::http::http;
use crate::secrets::encode;

const UNRESERVED: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";

/// A random string of `len` unreserved characters (verifiers are 43..=128 long; states 32).
pub fn random_token(len: usize) -> String {
    let mut rng = rand::rngs::StdRng::from_os_rng();
    (0..len).map(|_| UNRESERVED[rng.random_range(0..UNRESERVED.len())] as char).collect()
}

/// base64url(SHA-256(verifier)) without padding.
pub fn challenge(verifier: &str) -> String {
    base64url(&Sha256::digest(verifier.as_bytes()))
}

pub fn check_verifier(verifier: &str) -> Result<()> {
    if !(43..=128).contains(&verifier.len()) || !verifier.bytes().all(|b| UNRESERVED.contains(&b)) {
        return Err(Error::invalid("a PKCE code verifier is 43 to 128 characters from [A-Za-z0-9-._~]"));
    }
    Ok(())
}

pub fn base64url(data: &[u8]) -> String {
    super::moz::base64(data).trim_end_matches('=').replace('+', "-").replace('/', "_")
}

/// The query string of an authorization URL.
pub fn authorize_query(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

/// POST the form to the token endpoint; the JSON answer on success.
pub async fn exchange(token_url: &str, form: &[(&str, &str)], timeout: Duration, provider: &'static str) -> Result<bytes::Bytes> {
    for (k, v) in form {
        if matches!(*k, "client_secret" | "code" | "code_verifier" | "refresh_token") {
            crate::secrets::register(v);
        }
    }
    let body = authorize_query(form);
    let response = http()
        .post(token_url)
        .timeout(timeout)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| Error::new(Kind::Transport, format!("token exchange with {token_url} failed: {}", if e.is_timeout() { "timed out" } else { "could not connect" })).provider(provider))?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.map_err(|_| Error::new(Kind::Transport, "token exchange: connection broke while reading the answer").provider(provider))?;
    if !(200..300).contains(&status) {
        let kind = if matches!(status, 400 | 401 | 403) { Kind::Authentication } else { Kind::Provider };
        return Err(Error::new(kind, format!("token exchange refused (HTTP {status}): {}", error_text(&bytes))).provider(provider).status(status));
    }
    // The tokens we were given are secrets of this process from now on.
    if let Ok(serde_json::Value::Object(m)) = serde_json::from_slice::<serde_json::Value>(&bytes) {
        for k in ["access_token", "refresh_token", "id_token"] {
            if let Some(t) = m.get(k).and_then(|v| v.as_str()) {
                crate::secrets::register(t);
            }
        }
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc7636_appendix_b() {
        assert_eq!(super::challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        let v = super::random_token(64);
        assert!(super::check_verifier(&v).is_ok());
        assert_ne!(v, super::random_token(64));
        assert!(super::check_verifier("short").is_err());
    }
}
