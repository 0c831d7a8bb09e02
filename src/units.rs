//! Unit arithmetic and server figures. Every unit figure is an exact integer no larger than
//! `MAX_UNITS` (2^53 - 1): the largest integer a Redis Lua number, a SQLite INTEGER, a JSON
//! number and a Python float all hold exactly, so every ledger backend stores and compares
//! the same number. Arithmetic is checked: an impossible figure is an error, never a wrapped,
//! saturated or rounded one.

use crate::error::{Error, Result};

pub const MAX_UNITS: u64 = (1 << 53) - 1;

/// `a * b` units, or `InvalidRequest` naming `what` when the product cannot be a real cost.
pub fn mul(a: u64, b: u64, what: &str) -> Result<u64> {
    a.checked_mul(b).filter(|n| *n <= MAX_UNITS).ok_or_else(|| too_large(what))
}

/// `a + b` units, or `InvalidRequest` naming `what`.
pub fn add(a: u64, b: u64, what: &str) -> Result<u64> {
    a.checked_add(b).filter(|n| *n <= MAX_UNITS).ok_or_else(|| too_large(what))
}

/// A figure the caller gave (budget, lease units) checked against `MAX_UNITS`.
pub fn bounded(n: u64, what: &str) -> Result<u64> {
    if n <= MAX_UNITS {
        Ok(n)
    } else {
        Err(too_large(what))
    }
}

fn too_large(what: &str) -> Error {
    Error::invalid(format!("{what} would cost more than {MAX_UNITS} units: no real request can; check the limit and count parameters"))
}

/// A count a server sent (a header, a JSON number): a plain non-negative decimal integer no
/// larger than `MAX_UNITS`. `12.0` is accepted (some servers write integers as floats);
/// fractions, exponents, signs, NaN and anything larger are `ResponseFormatError`.
pub fn parse_count(text: &str, what: &str) -> Result<u64> {
    let t = text.trim();
    let bad = || Error::format(format!("the server sent {what} {:?}, which is not a unit count", shorten(t)));
    let digits = match t.split_once('.') {
        Some((int, frac)) if !frac.is_empty() && frac.bytes().all(|b| b == b'0') => int,
        Some(_) => return Err(bad()),
        None => t,
    };
    if digits.is_empty() || digits.len() > 16 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = digits.parse().map_err(|_| bad())?;
    if n > MAX_UNITS {
        return Err(bad());
    }
    Ok(n)
}

/// A JSON number a server sent as a count (see `parse_count`).
pub fn json_count(v: &serde_json::Value, what: &str) -> Result<u64> {
    match v {
        serde_json::Value::Number(n) => match n.as_u64() {
            Some(u) if u <= MAX_UNITS => Ok(u),
            Some(_) => Err(Error::format(format!("the server sent {what} {n}, more than any real count"))),
            None => parse_count(&n.to_string(), what),
        },
        serde_json::Value::String(s) => parse_count(s, what),
        other => Err(Error::format(format!("the server sent {what} as {}, not a count", shorten(&other.to_string())))),
    }
}

fn shorten(t: &str) -> String {
    let s: String = t.chars().filter(|c| !c.is_control()).take(40).collect();
    crate::secrets::scrub(&s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_refuses_impossible_figures() {
        assert_eq!(mul(10, 100_000, "x").unwrap(), 1_000_000);
        assert!(mul(10, 1_844_674_407_370_955_162, "x").is_err());
        assert!(mul(MAX_UNITS, 2, "x").is_err());
        assert_eq!(add(MAX_UNITS - 1, 1, "x").unwrap(), MAX_UNITS);
        assert!(add(MAX_UNITS, 1, "x").is_err());
        assert!(add(u64::MAX, 1, "x").is_err());
    }

    #[test]
    fn server_counts_are_strict() {
        assert_eq!(parse_count(" 42 ", "h").unwrap(), 42);
        assert_eq!(parse_count("12.0", "h").unwrap(), 12);
        assert_eq!(parse_count("9007199254740991", "h").unwrap(), MAX_UNITS);
        for bad in ["1e400", "1e3", "-5", "+5", "NaN", "inf", "", "12.5", "9007199254740992", "18446744073709551616", "0x10", "1 2", "١٢"] {
            let e = parse_count(bad, "x-api-rows").unwrap_err();
            assert_eq!(e.kind, crate::error::Kind::ResponseFormat, "{bad}");
        }
        assert_eq!(json_count(&serde_json::json!(7), "n").unwrap(), 7);
        assert!(json_count(&serde_json::json!(-1), "n").is_err());
        assert!(json_count(&serde_json::json!(1.5), "n").is_err());
        assert!(json_count(&serde_json::json!(u64::MAX), "n").is_err());
    }

    proptest::proptest! {
        /// Any header text: a count or a typed error, never a panic, and a count is exact.
        #[test]
        fn any_header_text_is_a_count_or_an_error(text in "\\PC{0,40}") {
            if let Ok(n) = parse_count(&text, "h") {
                proptest::prop_assert!(n <= MAX_UNITS);
                proptest::prop_assert_eq!(n, text.trim().split('.').next().unwrap().parse::<u64>().unwrap());
            }
        }

        #[test]
        fn numeric_header_text_round_trips(n in 0u64..=MAX_UNITS) {
            proptest::prop_assert_eq!(parse_count(&n.to_string(), "h").unwrap(), n);
        }

        /// Checked arithmetic is exact or refuses: never a wrapped or saturated figure.
        #[test]
        fn arithmetic_is_exact_or_refused(a in proptest::num::u64::ANY, b in proptest::num::u64::ANY) {
            match mul(a, b, "x") {
                Ok(p) => proptest::prop_assert_eq!(p as u128, a as u128 * b as u128),
                Err(_) => proptest::prop_assert!(a as u128 * b as u128 > MAX_UNITS as u128),
            }
            match add(a, b, "x") {
                Ok(s) => proptest::prop_assert_eq!(s as u128, a as u128 + b as u128),
                Err(_) => proptest::prop_assert!(a as u128 + b as u128 > MAX_UNITS as u128),
            }
        }
    }
}
