//! A reader for SEMrush's `;`-separated CSV: values optionally in double quotes (`export_escape=1`),
//! `""` for a quote inside one, newlines inside quoted values, `\n` or `\r\n` line ends, and a
//! trailing newline or none. Fields borrow from the body unless they contain an escaped quote.

use std::borrow::Cow;

pub struct Records<'a> {
    data: &'a [u8],
    /// The whole body as text when it is valid UTF-8 (checked once, not field by field; fields
    /// end at ASCII bytes, which are always char boundaries).
    text: Option<&'a str>,
    pos: usize,
    sep: u8,
}

impl<'a> Records<'a> {
    pub fn new(data: &'a [u8], sep: u8) -> Self {
        Records { data, text: std::str::from_utf8(data).ok(), pos: 0, sep }
    }

    /// Byte offset of the next record.
    pub fn position(&self) -> usize {
        self.pos
    }

    fn field(&self, start: usize, end: usize) -> Result<&'a str, String> {
        match self.text {
            Some(t) => Ok(&t[start..end]),
            None => utf8(&self.data[start..end]),
        }
    }

    /// The next record's fields, appended to `out` (cleared first). False at the end.
    pub fn next_into(&mut self, out: &mut Vec<Cow<'a, str>>) -> Result<bool, String> {
        out.clear();
        let d = self.data;
        // Skip blank lines (a trailing newline, or `\r\n` pairs).
        while self.pos < d.len() && (d[self.pos] == b'\n' || d[self.pos] == b'\r') {
            self.pos += 1;
        }
        if self.pos >= d.len() {
            return Ok(false);
        }
        loop {
            let field = if d.get(self.pos) == Some(&b'"') {
                self.quoted()?
            } else {
                let start = self.pos;
                self.pos = memchr::memchr2(self.sep, b'\n', &d[start..]).map_or(d.len(), |i| start + i);
                let mut end = self.pos;
                if end > start && d[end - 1] == b'\r' && (end == d.len() || d[end] == b'\n') {
                    end -= 1;
                }
                Cow::Borrowed(self.field(start, end)?)
            };
            out.push(field);
            match d.get(self.pos) {
                Some(&c) if c == self.sep => self.pos += 1,
                Some(b'\r') if d.get(self.pos + 1) == Some(&b'\n') => {
                    self.pos += 2;
                    return Ok(true);
                }
                Some(b'\n') => {
                    self.pos += 1;
                    return Ok(true);
                }
                None => return Ok(true),
                Some(_) => return Err(format!("unexpected character after a quoted value at byte {}", self.pos)),
            }
        }
    }

    fn quoted(&mut self) -> Result<Cow<'a, str>, String> {
        let d = self.data;
        let open = self.pos;
        self.pos += 1;
        let start = self.pos;
        let mut owned: Option<String> = None;
        let mut run = start;
        loop {
            match memchr(b'"', &d[self.pos..]) {
                None => return Err(format!("unterminated quoted value starting at byte {open}")),
                Some(i) => {
                    let q = self.pos + i;
                    if d.get(q + 1) == Some(&b'"') {
                        let s = owned.get_or_insert_with(String::new);
                        s.push_str(self.field(run, q + 1)?);
                        self.pos = q + 2;
                        run = self.pos;
                    } else {
                        self.pos = q + 1;
                        return Ok(match owned {
                            None => Cow::Borrowed(self.field(start, q)?),
                            Some(mut s) => {
                                s.push_str(self.field(run, q)?);
                                Cow::Owned(s)
                            }
                        });
                    }
                }
            }
        }
    }
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    memchr::memchr(needle, hay)
}

fn utf8(b: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(b).map_err(|e| format!("response is not valid UTF-8: {e}"))
}

/// `data` cut into about `n` parts, each ending at a record's end: a newline outside quotes.
/// Quotes inside a quoted value are doubled, so a newline is outside quotes exactly when the
/// number of quote bytes before it is even.
pub fn split_records(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut parts = Vec::with_capacity(n);
    let (mut start, mut quotes, mut counted) = (0usize, 0usize, 0usize);
    for k in 1..n {
        let mut at = (data.len() * k / n).max(start);
        let cut = loop {
            let Some(i) = memchr::memchr(b'\n', &data[at..]) else { break None };
            let nl = at + i;
            quotes += memchr::memchr_iter(b'"', &data[counted..nl]).count();
            counted = nl;
            if quotes % 2 == 0 {
                break Some(nl + 1);
            }
            at = nl + 1;
        };
        match cut {
            Some(end) if end < data.len() => {
                parts.push(&data[start..end]);
                start = end;
            }
            _ => break,
        }
    }
    parts.push(&data[start..]);
    parts
}

pub use crate::runtime::cores;

/// Number of data records (excluding the header).
pub fn count_records(data: &[u8], sep: u8) -> Result<usize, String> {
    let mut r = Records::new(data, sep);
    let mut buf = Vec::new();
    let mut n = 0usize;
    while r.next_into(&mut buf)? {
        n += 1;
    }
    Ok(n.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    #[test]
    fn records_are_cut_outside_quotes_only() {
        let data = b"a;\"x\ny\";1\nb;\"he said \"\"hi\"\"\";2\nc;z;3\nd;w;4\n";
        for n in 1..8 {
            let parts = super::split_records(data, n);
            assert_eq!(parts.concat(), data.to_vec());
            for p in &parts {
                assert_eq!(p.iter().filter(|&&b| b == b'"').count() % 2, 0, "a part ends inside quotes: {:?}", String::from_utf8_lossy(p));
                assert!(p.ends_with(b"\n"));
            }
        }
    }

    use super::*;

    fn all(data: &str) -> Vec<Vec<String>> {
        let mut r = Records::new(data.as_bytes(), b';');
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while r.next_into(&mut buf).unwrap() {
            out.push(buf.iter().map(|c| c.to_string()).collect());
        }
        out
    }

    #[test]
    fn plain_quoted_and_line_endings() {
        let want = vec![vec!["A".to_string(), "B".into()], vec!["1".into(), "x;y".into()]];
        assert_eq!(all("A;B\n1;\"x;y\""), want);
        assert_eq!(all("A;B\r\n1;\"x;y\"\r\n"), want);
        assert_eq!(all("A;B\n1;\"x;y\"\n\n"), want);
    }

    #[test]
    fn escaped_quotes_and_newlines() {
        let rows = all("T;U\n\"say \"\"hi\"\"\nthere\";\"\"\n");
        assert_eq!(rows[1], vec!["say \"hi\"\nthere".to_string(), String::new()]);
        assert_eq!(count_records(b"T;U\n\"a\nb\";c\n\"d\";e", b';').unwrap(), 2);
    }

    #[test]
    fn empty_fields_and_errors() {
        assert_eq!(all("a;;c\n;;\n")[1], vec!["", "", ""]);
        assert!(Records::new(b"\"open", b';').next_into(&mut Vec::new()).is_err());
        assert_eq!(count_records(b"", b';').unwrap(), 0);
    }
}

/// Short decimals ("0.82", "14.25") without the general parser. Exact: the digits form an
/// integer below 2^53 and 10^k is exact, so one division rounds exactly like `str::parse`.
pub fn fast_f64(text: &str) -> Option<f64> {
    let b = text.as_bytes();
    if b.is_empty() || b.len() > 15 {
        return None;
    }
    let (mut digits, mut scale, mut seen_dot) = (0u64, 0i32, false);
    for &c in b {
        match c {
            b'0'..=b'9' => {
                digits = digits * 10 + (c - b'0') as u64;
                if seen_dot {
                    scale += 1;
                }
            }
            b'.' if !seen_dot => seen_dot = true,
            _ => return None,
        }
    }
    const POW10: [f64; 16] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];
    Some(digits as f64 / POW10[scale as usize])
}

pub fn parse_f64(text: &str) -> Option<f64> {
    fast_f64(text).or_else(|| text.parse::<f64>().ok())
}

#[cfg(test)]
mod fast_tests {
    #[test]
    fn fast_f64_is_exact() {
        for s in ["0.82", "14.25", "0", "1230000", "0.1", "3.14159", "99.99", "0.00", "12345678.123456"] {
            assert_eq!(super::fast_f64(s), Some(s.parse::<f64>().unwrap()), "{s}");
        }
        for s in ["-1", "1e5", "", "1.2.3", "nan", "123456789.123456"] {
            assert_eq!(super::fast_f64(s), None, "{s}");
        }
    }
}
