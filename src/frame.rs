//! Arrow record batches from report rows: SEMrush CSV cells typed by the column table, and
//! JSON-shaped values (Moz, Ahrefs) typed from what each column holds. Knows Arrow, not Python.

use std::borrow::Cow;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, ListBuilder, StringBuilder, UInt64Builder,
};
use arrow_array::{new_null_array, ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_schema::{DataType, Field, Schema};

use crate::providers::csv::{parse_f64, Records};
use crate::providers::semrush::{header_columns, parse_error_body, Column, Ty};

/// One JSON-shaped cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    /// Counts above `i64::MAX` (Moz sends some): kept exact as unsigned.
    UInt(u64),
    Float(f64),
    Str(String),
    List(Vec<Value>),
    /// Objects and anything else: their JSON text.
    Json(String),
}

/// A batch from named columns; every column has `rows` values.
pub fn batch(columns: Vec<(String, ArrayRef)>, rows: usize) -> Result<RecordBatch, String> {
    let fields: Vec<Field> = columns.iter().map(|(n, a)| Field::new(n, a.data_type().clone(), true)).collect();
    let arrays = columns.into_iter().map(|(_, a)| a).collect();
    RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), arrays, &RecordBatchOptions::new().with_row_count(Some(rows)))
        .map_err(|e| e.to_string())
}

/// A SEMrush CSV body as one batch, typed by the column table. A column whose cells do not
/// all parse as its type falls back to strings rather than losing values; empty cells are null.
pub fn semrush_batch(body: &[u8], columns: Option<&[Column]>) -> Result<RecordBatch, String> {
    if parse_error_body(body).is_some() {
        return batch(Vec::new(), 0);
    }
    let mut records = Records::new(body, b';');
    let mut header: Vec<Cow<'_, str>> = Vec::new();
    if !records.next_into(&mut header)? {
        let cols = columns.unwrap_or_default();
        return batch(cols.iter().map(|c| (c.name.clone(), new_null_array(&DataType::Null, 0))).collect(), 0);
    }
    let columns = header_columns(&header, columns)?;
    let data = &body[records.position()..];
    let threads = crate::runtime::cores();
    // The body is cut at record ends into parts decoded on all cores; parts that disagree on a
    // column's type are redone whole.
    let (arrays, rows) = if threads > 1 && data.len() > (256 << 10) {
        let parts = crate::providers::csv::split_records(data, threads);
        let decoded: Vec<Result<(Vec<ArrayRef>, usize), String>> = std::thread::scope(|s| {
            let handles: Vec<_> = parts.iter().map(|part| s.spawn(|| decode_part(part, &columns, 1))).collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("a decoding thread failed".into()))).collect()
        });
        let decoded = decoded.into_iter().collect::<Result<Vec<_>, _>>();
        match decoded.map(|d| concat_parts(d, columns.len())) {
            Ok(Some(done)) => done,
            Ok(None) | Err(_) => decode_part(data, &columns, 1)?, // exact errors (line numbers) come from here
        }
    } else {
        decode_part(data, &columns, 1)?
    };
    let named = columns.iter().map(|c| c.name.clone()).zip(arrays).collect();
    batch(named, rows)
}

/// Typed arrays of the records in `data`; `first_line` numbers them in errors.
fn decode_part(data: &[u8], columns: &[Column], first_line: usize) -> Result<(Vec<ArrayRef>, usize), String> {
    let mut records = Records::new(data, b';');
    let estimate = memchr::memchr_iter(b'\n', data).count() + 1;
    let mut cells: Vec<Vec<Cow<'_, str>>> = (0..columns.len()).map(|_| Vec::with_capacity(estimate)).collect();
    let mut buf: Vec<Cow<'_, str>> = Vec::with_capacity(columns.len());
    let mut rows = 0usize;
    while records.next_into(&mut buf)? {
        if buf.len() != columns.len() {
            let line = first_line + rows + 1;
            return Err(format!("line {line} has {} values for {} columns", buf.len(), columns.len()));
        }
        for (col, text) in cells.iter_mut().zip(buf.drain(..)) {
            col.push(text);
        }
        rows += 1;
    }
    Ok((columns.iter().zip(&cells).map(|(c, texts)| text_column(texts, c.ty)).collect(), rows))
}

/// The parts' arrays joined column by column, or None when the parts typed a column differently.
fn concat_parts(parts: Vec<(Vec<ArrayRef>, usize)>, width: usize) -> Option<(Vec<ArrayRef>, usize)> {
    let rows = parts.iter().map(|p| p.1).sum();
    let mut out = Vec::with_capacity(width);
    for c in 0..width {
        let arrays: Vec<&dyn arrow_array::Array> = parts.iter().map(|p| p.0[c].as_ref()).collect();
        if arrays.windows(2).any(|w| w[0].data_type() != w[1].data_type()) {
            return None;
        }
        out.push(arrow_select::concat::concat(&arrays).ok()?);
    }
    Some((out, rows))
}

fn opt<S: AsRef<str>>(t: &S) -> Option<&str> {
    Some(t.as_ref()).filter(|t| !t.is_empty())
}

/// One pass per type tried, stopping at the first cell that does not parse; the common case
/// (every cell parses as the column's type) parses each cell once.
fn text_column<S: AsRef<str>>(texts: &[S], ty: Ty) -> ArrayRef {
    if matches!(ty, Ty::Int | Ty::Auto) {
        let mut b = Int64Builder::with_capacity(texts.len());
        if texts.iter().all(|t| match opt(t) {
            None => {
                b.append_null();
                true
            }
            Some(t) => t.parse::<i64>().map(|i| b.append_value(i)).is_ok(),
        }) {
            return Arc::new(b.finish());
        }
    }
    if matches!(ty, Ty::Int | Ty::Auto | Ty::Float) {
        let mut b = Float64Builder::with_capacity(texts.len());
        if texts.iter().all(|t| match opt(t) {
            None => {
                b.append_null();
                true
            }
            Some(t) => parse_f64(t).map(|f| b.append_value(f)).is_some(),
        }) {
            return Arc::new(b.finish());
        }
    }
    if ty == Ty::Floats {
        let mut b = ListBuilder::with_capacity(Float64Builder::with_capacity(texts.len() * 12), texts.len());
        if texts.iter().all(|t| match opt(t) {
            None => {
                b.append(false);
                true
            }
            Some(t) => {
                let ok = t.split(',').all(|x| parse_f64(x).or_else(|| parse_f64(x.trim())).map(|f| b.values().append_value(f)).is_some());
                b.append(true);
                ok
            }
        }) {
            return Arc::new(b.finish());
        }
    }
    let bytes = texts.iter().map(|t| t.as_ref().len()).sum();
    let mut b = StringBuilder::with_capacity(texts.len(), bytes);
    texts.iter().for_each(|t| b.append_option(opt(t)));
    Arc::new(b.finish())
}

/// Days since 1970-01-01 for `YYYY-MM-DD`, else None.
fn date32(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r).filter(|d| d.bytes().all(|c| c.is_ascii_digit()))?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    i32::try_from(era * 146_097 + doe - 719_468).ok()
}

/// The Arrow type a column of JSON values gets: bools, ints (signed, else unsigned when some
/// exceed i64), floats (ints mixed with floats), dates (every string `YYYY-MM-DD`), strings,
/// lists of one of these; anything mixed becomes its JSON text.
pub fn infer(values: &[Value]) -> DataType {
    let present = || values.iter().filter(|v| !matches!(v, Value::Null));
    let all = |f: fn(&Value) -> bool| present().all(f);
    if present().next().is_none() {
        return DataType::Null;
    }
    if all(|v| matches!(v, Value::Bool(_))) {
        DataType::Boolean
    } else if all(|v| matches!(v, Value::Int(_))) {
        DataType::Int64
    } else if all(|v| matches!(v, Value::Int(_) | Value::UInt(_))) {
        if present().all(|v| !matches!(v, Value::Int(i) if *i < 0)) { DataType::UInt64 } else { DataType::Float64 }
    } else if all(|v| matches!(v, Value::Int(_) | Value::UInt(_) | Value::Float(_))) {
        DataType::Float64
    } else if all(|v| matches!(v, Value::Str(s) if date32(s).is_some())) {
        DataType::Date32
    } else if all(|v| matches!(v, Value::Str(_))) {
        DataType::Utf8
    } else if all(|v| matches!(v, Value::List(_))) {
        let items: Vec<Value> = present().flat_map(|v| if let Value::List(l) = v { l.clone() } else { Vec::new() }).collect();
        match infer(&items) {
            DataType::Null => DataType::new_list(DataType::Utf8, true),
            inner => DataType::new_list(inner, true),
        }
    } else {
        DataType::Utf8
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Bool(b) => Some(b.to_string()),
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Str(s) | Value::Json(s) => Some(s.clone()),
        Value::List(items) => {
            let parts: Vec<String> = items.iter().map(|i| match i {
                Value::Str(s) => serde_json::Value::String(s.clone()).to_string(),
                Value::Null => "null".into(),
                other => text(other).unwrap_or_default(),
            }).collect();
            Some(format!("[{}]", parts.join(",")))
        }
    }
}

fn float(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::UInt(u) => Some(*u as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

/// One typed array from a column of JSON values (see [`infer`]).
pub fn json_column(values: &[Value]) -> ArrayRef {
    match infer(values) {
        DataType::Null => new_null_array(&DataType::Null, values.len()),
        DataType::Boolean => {
            let mut b = BooleanBuilder::with_capacity(values.len());
            values.iter().for_each(|v| b.append_option(if let Value::Bool(x) = v { Some(*x) } else { None }));
            Arc::new(b.finish())
        }
        DataType::Int64 => {
            let mut b = Int64Builder::with_capacity(values.len());
            values.iter().for_each(|v| b.append_option(if let Value::Int(x) = v { Some(*x) } else { None }));
            Arc::new(b.finish())
        }
        DataType::UInt64 => {
            let mut b = UInt64Builder::with_capacity(values.len());
            values.iter().for_each(|v| {
                b.append_option(match v {
                    Value::Int(i) => Some(*i as u64),
                    Value::UInt(u) => Some(*u),
                    _ => None,
                })
            });
            Arc::new(b.finish())
        }
        DataType::Float64 => {
            let mut b = Float64Builder::with_capacity(values.len());
            values.iter().for_each(|v| b.append_option(float(v)));
            Arc::new(b.finish())
        }
        DataType::Date32 => {
            let mut b = Date32Builder::with_capacity(values.len());
            values.iter().for_each(|v| b.append_option(if let Value::Str(s) = v { date32(s) } else { None }));
            Arc::new(b.finish())
        }
        DataType::List(inner) => {
            // Lists are built through their flattened items so the item type follows `infer`.
            let mut items = Vec::new();
            let mut offsets = vec![0i32];
            let mut valid = Vec::with_capacity(values.len());
            for v in values {
                if let Value::List(l) = v {
                    items.extend(l.iter().cloned());
                    valid.push(true);
                } else {
                    valid.push(false);
                }
                offsets.push(items.len() as i32);
            }
            let child = if inner.data_type() == &DataType::Utf8 && infer(&items) != DataType::Utf8 {
                string_column(&items)
            } else {
                json_column(&items)
            };
            let field = Arc::new(Field::new("item", child.data_type().clone(), true));
            Arc::new(arrow_array::ListArray::new(
                field,
                arrow_buffer::OffsetBuffer::new(offsets.into()),
                child,
                Some(arrow_buffer::NullBuffer::from(valid)),
            ))
        }
        _ => string_column(values),
    }
}

/// Milliseconds since the epoch (UTC) of `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS[.fff][Z|+HH:MM]`
/// (a space for the `T` too), else None.
fn timestamp_ms(s: &str) -> Option<i64> {
    let days = i64::from(date32(s.get(..10)?)?);
    let rest = &s[10..];
    if rest.is_empty() {
        return days.checked_mul(86_400_000);
    }
    let rest = rest.strip_prefix('T').or_else(|| rest.strip_prefix(' '))?;
    let num = |r: std::ops::Range<usize>| rest.get(r).filter(|d| d.bytes().all(|c| c.is_ascii_digit())).and_then(|d| d.parse::<i64>().ok());
    let (h, m, sec) = (num(0..2)?, num(3..5)?, num(6..8)?);
    if rest.get(2..3) != Some(":") || rest.get(5..6) != Some(":") || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let mut tail = &rest[8..];
    let mut ms = 0;
    if let Some(frac) = tail.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let first3: String = frac[..digits].chars().chain("000".chars()).take(3).collect();
        ms = first3.parse::<i64>().ok()?;
        tail = &frac[digits..];
    }
    let offset_min = match tail {
        "" | "Z" | "z" => 0,
        t if (t.starts_with('+') || t.starts_with('-')) && t.len() == 6 && t.as_bytes()[3] == b':' => {
            let sign = if t.starts_with('-') { -1 } else { 1 };
            sign * (t.get(1..3)?.parse::<i64>().ok()? * 60 + t.get(4..6)?.parse::<i64>().ok()?)
        }
        _ => return None,
    };
    let secs = days.checked_mul(86_400)? + h * 3600 + m * 60 + sec - offset_min * 60;
    secs.checked_mul(1000)?.checked_add(ms)
}

/// The Arrow type of a catalog field type: `integer`, `number`, `boolean`, `string`, `date`
/// (a string of format date), `array:<item type>`, `object`. Objects are their JSON text: the
/// spec gives no child schema, and a struct typed from one page's values would not concatenate
/// with the next page's.
pub fn declared(ty: &str) -> DataType {
    match ty {
        "integer" => DataType::Int64,
        "number" => DataType::Float64,
        "boolean" => DataType::Boolean,
        "date" => DataType::Date32,
        "datetime" => DataType::Timestamp(arrow_schema::TimeUnit::Millisecond, Some("UTC".into())),
        t if t.starts_with("array") => {
            let item = t.split_once(':').map_or("string", |(_, i)| i);
            DataType::new_list(if item.starts_with("array") || item == "object" { DataType::Utf8 } else { declared(item) }, true)
        }
        _ => DataType::Utf8,
    }
}

/// A column of JSON values as the catalog's type says, whatever the values of this page are
/// (all null, empty, or absent), so every page of a report has the same schema. A value that is
/// not of the declared type is an error naming the field, not a silently different column.
pub fn typed_column(name: &str, values: &[Value], ty: &DataType) -> Result<ArrayRef, String> {
    let wrong = |v: &Value| format!("field {name:?}: the spec says {ty}, the answer has {}", text(v).unwrap_or_default().chars().take(40).collect::<String>());
    // One scalar column: `read` gives the value, or None when it is not of the type; null is null,
    // and so is "" in the columns read from text (dates, timestamps).
    macro_rules! column {
        ($builder:expr, $read:expr) => {
            column!($builder, $read, false)
        };
        ($builder:expr, $read:expr, $blank_is_null:expr) => {{
            let mut b = $builder;
            for v in values {
                let empty = matches!(v, Value::Null) || ($blank_is_null && matches!(v, Value::Str(s) if s.is_empty()));
                b.append_option(if empty { None } else { Some(($read)(v).ok_or_else(|| wrong(v))?) });
            }
            Arc::new(b.finish())
        }};
    }
    Ok(match ty {
        DataType::Int64 => column!(Int64Builder::with_capacity(values.len()), |v: &Value| match v {
            Value::Int(i) => Some(*i),
            Value::UInt(u) => i64::try_from(*u).ok(),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 => Some(*f as i64),
            _ => None,
        }),
        DataType::Float64 => column!(Float64Builder::with_capacity(values.len()), float),
        DataType::Boolean => column!(BooleanBuilder::with_capacity(values.len()), |v: &Value| match v {
            Value::Bool(x) => Some(*x),
            _ => None,
        }),
        DataType::Date32 => column!(
            Date32Builder::with_capacity(values.len()),
            |v: &Value| match v {
                Value::Str(s) => date32(s.get(..10).unwrap_or(s)),
                _ => None,
            },
            true
        ),
        DataType::Timestamp(_, _) => column!(
            arrow_array::builder::TimestampMillisecondBuilder::with_capacity(values.len()).with_timezone("UTC"),
            |v: &Value| match v {
                Value::Str(s) => timestamp_ms(s),
                _ => None,
            },
            true
        ),
        DataType::List(inner) => {
            let mut items = Vec::new();
            let mut offsets = vec![0i32];
            let mut valid = Vec::with_capacity(values.len());
            for v in values {
                match v {
                    Value::List(l) => {
                        items.extend(l.iter().cloned());
                        valid.push(true);
                    }
                    Value::Null => valid.push(false),
                    _ => return Err(wrong(v)),
                }
                offsets.push(i32::try_from(items.len()).map_err(|_| format!("field {name:?}: too many list items"))?);
            }
            let child = typed_column(name, &items, inner.data_type())?;
            let field = Arc::new(Field::new("item", inner.data_type().clone(), true));
            Arc::new(arrow_array::ListArray::new(
                field,
                arrow_buffer::OffsetBuffer::new(offsets.into()),
                child,
                Some(arrow_buffer::NullBuffer::from(valid)),
            ))
        }
        _ => string_column(values),
    })
}

fn string_column(values: &[Value]) -> ArrayRef {
    let mut b = StringBuilder::with_capacity(values.len(), 16 * values.len());
    values.iter().for_each(|v| b.append_option(text(v)));
    Arc::new(b.finish())
}

#[cfg(test)]
mod typed_tests {
    use super::*;

    #[test]
    fn declared_types_hold_for_empty_null_and_mixed_pages() {
        assert_eq!(timestamp_ms("1970-01-02T00:00:01.5Z"), Some(86_401_500));
        assert_eq!(timestamp_ms("1970-01-01 01:00:00+01:00"), Some(0));
        assert_eq!(timestamp_ms("2026-10-01"), Some(i64::from(date32("2026-10-01").unwrap()) * 86_400_000));
        assert_eq!(timestamp_ms("2026-10-01T25:00:00Z"), None);
        assert_eq!(timestamp_ms("2026-10-01Tnoon"), None);
        for ty in ["integer", "number", "boolean", "date", "datetime", "string", "array:string", "array:integer", "object"] {
            let dt = declared(ty);
            assert_eq!(typed_column("f", &[], &dt).unwrap().data_type(), &dt, "{ty}");
            assert_eq!(typed_column("f", &[Value::Null, Value::Null], &dt).unwrap().data_type(), &dt, "{ty}");
        }
        // An integral float is an int; a number column takes ints.
        assert_eq!(typed_column("f", &[Value::Float(3.0), Value::Int(2)], &DataType::Int64).unwrap().len(), 2);
        assert!(typed_column("f", &[Value::Int(1), Value::Float(0.5)], &DataType::Float64).is_ok());
        // Not of the declared type: an error naming the field.
        let e = typed_column("domain_rating", &[Value::Str("<html>".into())], &DataType::Float64).unwrap_err();
        assert!(e.contains("domain_rating"), "{e}");
        assert!(typed_column("f", &[Value::Float(0.5)], &DataType::Int64).is_err());
        assert!(typed_column("f", &[Value::Str("2026-13-01".into())], &DataType::Date32).is_err());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Date32Type, Float64Type, Int64Type, UInt64Type};
    use arrow_array::Array;

    #[test]
    fn semrush_columns_are_typed_and_fall_back_to_strings() {
        let body = b"Keyword;Search Volume;CPC;Trends;Odd\nseo;1000;1.5;0.1,0.2;x\nsem;;0.25;;7\n";
        let b = semrush_batch(body, None).unwrap();
        assert_eq!(b.num_rows(), 2);
        let s = b.schema();
        let types: Vec<&DataType> = s.fields().iter().map(|f| f.data_type()).collect();
        assert_eq!(types[0], &DataType::Utf8);
        assert_eq!(types[1], &DataType::Int64);
        assert_eq!(types[2], &DataType::Float64);
        assert!(matches!(types[3], DataType::List(_)));
        assert_eq!(types[4], &DataType::Utf8, "'x' and '7' cannot both be ints: strings keep both");
        assert_eq!(b.column(1).as_primitive::<Int64Type>().value(0), 1000);
        assert!(b.column(1).is_null(1));
        assert_eq!(b.column(3).as_list::<i32>().value(0).as_primitive::<Float64Type>().values().to_vec(), vec![0.1, 0.2]);
        assert!(b.column(3).is_null(1));
        assert_eq!(s.field(1).name(), "search_volume");
    }

    #[test]
    fn semrush_errors_and_empty_bodies_are_empty_batches() {
        assert_eq!(semrush_batch(b"ERROR 50 :: NOTHING FOUND", None).unwrap().num_rows(), 0);
        assert!(semrush_batch(b"a;b\n1\n", None).unwrap_err().contains("line 2"));
    }

    #[test]
    fn json_columns_are_inferred() {
        let big = u64::MAX - 1;
        assert_eq!(infer(&[Value::Int(1), Value::Null, Value::Int(-3)]), DataType::Int64);
        let u = json_column(&[Value::Int(1), Value::UInt(big)]);
        assert_eq!(u.as_primitive::<UInt64Type>().value(1), big, "counts above i64 stay exact");
        assert_eq!(infer(&[Value::Int(1), Value::Float(0.5)]), DataType::Float64);
        let d = json_column(&[Value::Str("2026-11-22".into()), Value::Null]);
        assert_eq!(d.as_primitive::<Date32Type>().value(0), 20_779);
        assert_eq!(infer(&[Value::Str("2026-11-22".into()), Value::Str("soon".into())]), DataType::Utf8);
        let l = json_column(&[Value::List(vec![Value::Int(1), Value::Int(2)]), Value::List(vec![])]);
        assert_eq!(l.as_list::<i32>().value(0).as_primitive::<Int64Type>().values().to_vec(), vec![1, 2]);
        let mixed = json_column(&[Value::Int(1), Value::Str("a".into()), Value::Json("{\"k\":1}".into())]);
        assert_eq!(mixed.as_string::<i32>().value(0), "1");
        assert_eq!(mixed.as_string::<i32>().value(2), "{\"k\":1}");
        assert_eq!(json_column(&[Value::Null, Value::Null]).data_type(), &DataType::Null);
    }
}
