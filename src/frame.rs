//! Arrow record batches from report rows: SEMrush CSV cells typed by the column table, and
//! JSON-shaped values (Moz, Ahrefs) typed from what each column holds. Knows Arrow, not Python.

use std::borrow::Cow;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, ListBuilder, StringBuilder, UInt64Builder,
};
use arrow_array::{new_null_array, ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_schema::{DataType, Field, Schema};

use std::collections::HashMap;

use crate::providers::csv::{parse_f64, Records};
use crate::providers::Unwrap;
use crate::tape::{self, Ev};
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

/// JSON rows straight from the parsed bytes: the tape of a reply walked once into typed columns,
/// never through Python objects. Rows are the objects under `unwrap`'s member (one row when it
/// holds an object, none when it is absent or null); nested objects become `parent.child`
/// columns, as `seowire.catalog.flatten` lays them out; lists of scalars are lists; anything
/// deeper is its JSON text. `declared` (name, type) fixes the first columns and their types, so
/// an empty page has the full schema; other columns follow in first-seen order, typed by `infer`.
pub fn json_rows(body: &[u8], unwrap: &Unwrap, declared: &[(String, DataType)], hint: usize) -> Result<RecordBatch, String> {
    json_rows_typed(body, unwrap, &Declared::columns(declared.to_vec()), hint)
}

/// What the catalog says of a frame: the columns it always has (in this order, even when no
/// row holds them) and the type of any other column an answer may hold. A column declared
/// with a scalar type whose value is an object gets the object's JSON text (Ahrefs' `object`
/// fields), where an undeclared object is flattened into `parent.child` columns.
#[derive(Debug, Clone, Default)]
pub struct Declared {
    pub first: Vec<(String, DataType)>,
    pub types: HashMap<String, DataType>,
}

impl Declared {
    pub fn columns(first: Vec<(String, DataType)>) -> Self {
        let types = first.iter().cloned().collect();
        Declared { first, types }
    }

    /// `names` first (typed by `types` where it knows them, else by their values), and every
    /// column `types` knows.
    pub fn new(names: Vec<String>, types: HashMap<String, DataType>) -> Self {
        let first = names.into_iter().map(|n| {
            let ty = types.get(&n).cloned().unwrap_or(DataType::Null);
            (n, ty)
        }).collect();
        Declared { first, types }
    }
}

/// [`json_rows`] with the columns and types of `declared`.
pub fn json_rows_typed(body: &[u8], unwrap: &Unwrap, declared: &Declared, hint: usize) -> Result<RecordBatch, String> {
    match unwrap {
        Unwrap::Whole => json_rows_at(body, Some(&[]), declared, hint),
        Unwrap::Key(k) => json_rows_at(body, Some(&[k]), declared, hint),
        Unwrap::Path(a, b) => json_rows_at(body, Some(&[a, b]), declared, hint),
        Unwrap::Single => json_rows_at(body, None, declared, hint),
    }
}

/// [`json_rows_typed`] at a member path (`None`: the only member of the top-level object).
pub fn json_rows_at(body: &[u8], path: Option<&[&str]>, declared: &Declared, hint: usize) -> Result<RecordBatch, String> {
    let built = tape::with_tape(body, |t| {
        let mut w = Walk {
            body,
            tape: t,
            chunk: tape::Chunk::default(),
            pos: 0,
            keys: Vec::new(),
            slots: if tape::keeps_repeats(body.len()) { vec![Slot::Empty; tape::SLOTS] } else { Vec::new() },
            cols: Columns::new(declared, hint),
        };
        w.document(path)?;
        Ok::<_, String>(w.cols)
    })??;
    built.finish()
}

/// One column as it is read: straight into an Arrow builder when the catalog declares a
/// scalar type (no value is held twice), else as values typed at the end.
enum Col {
    Int(Int64Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
    Text(StringBuilder),
    Date(Date32Builder),
    /// A declared list, timestamp or object (typed by `typed_column`), or undeclared (`None`).
    Values(Vec<Value>, Option<DataType>),
}

impl Col {
    /// A column with `rows` leading nulls and room for `cap` values.
    fn new(ty: Option<&DataType>, rows: usize, cap: usize) -> Col {
        let cap = cap.max(rows);
        let mut c = match ty {
            Some(DataType::Int64) => Col::Int(Int64Builder::with_capacity(cap)),
            Some(DataType::Float64) => Col::Float(Float64Builder::with_capacity(cap)),
            Some(DataType::Boolean) => Col::Bool(BooleanBuilder::with_capacity(cap)),
            Some(DataType::Utf8) => Col::Text(StringBuilder::with_capacity(cap, 16 * cap)),
            Some(DataType::Date32) => Col::Date(Date32Builder::with_capacity(cap)),
            Some(DataType::Null) | None => Col::Values(Vec::new(), None),
            Some(t) => Col::Values(Vec::new(), Some(t.clone())),
        };
        for _ in 0..rows {
            c.null();
        }
        c
    }

    fn len(&self) -> usize {
        use arrow_array::builder::ArrayBuilder;
        match self {
            Col::Int(b) => b.len(),
            Col::Float(b) => b.len(),
            Col::Bool(b) => b.len(),
            Col::Text(b) => b.len(),
            Col::Date(b) => b.len(),
            Col::Values(v, _) => v.len(),
        }
    }

    fn null(&mut self) {
        match self {
            Col::Int(b) => b.append_null(),
            Col::Float(b) => b.append_null(),
            Col::Bool(b) => b.append_null(),
            Col::Text(b) => b.append_null(),
            Col::Date(b) => b.append_null(),
            Col::Values(v, _) => v.push(Value::Null),
        }
    }

    /// The last value, replaced (a key repeated in one object: the last wins, as in json.loads).
    fn pop(&mut self) {
        // Builders cannot drop a value: rebuild the column without it (rare: malformed rows).
        let keep = self.len().saturating_sub(1);
        let old = std::mem::replace(self, Col::Values(Vec::new(), None));
        let (arr, declared) = match old {
            Col::Values(mut v, d) => {
                v.truncate(keep);
                *self = Col::Values(v, d);
                return;
            }
            Col::Int(mut b) => (Arc::new(b.finish()) as ArrayRef, DataType::Int64),
            Col::Float(mut b) => (Arc::new(b.finish()) as ArrayRef, DataType::Float64),
            Col::Bool(mut b) => (Arc::new(b.finish()) as ArrayRef, DataType::Boolean),
            Col::Text(mut b) => (Arc::new(b.finish()) as ArrayRef, DataType::Utf8),
            Col::Date(mut b) => (Arc::new(b.finish()) as ArrayRef, DataType::Date32),
        };
        let mut fresh = Col::new(Some(&declared), 0, keep);
        for i in 0..keep {
            let v = if arr.is_null(i) { Value::Null } else { cell(&arr, i) };
            let _ = fresh.push("", v);
        }
        *self = fresh;
    }

    /// Append one value; one that is not of the declared type is an error naming the field.
    fn push(&mut self, name: &str, v: Value) -> Result<(), String> {
        let wrong = |ty: &str, v: &Value| format!("field {name:?}: the catalog says {ty}, the answer has {}", text(v).unwrap_or_default().chars().take(40).collect::<String>());
        match self {
            Col::Values(vals, _) => vals.push(v),
            _ if v == Value::Null => self.null(),
            Col::Int(b) => b.append_value(match v {
                Value::Int(i) => i,
                Value::UInt(u) => i64::try_from(u).map_err(|_| wrong("an integer", &v))?,
                Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 => f as i64,
                _ => return Err(wrong("an integer", &v)),
            }),
            Col::Float(b) => b.append_value(float(&v).ok_or_else(|| wrong("a number", &v))?),
            Col::Bool(b) => match v {
                Value::Bool(x) => b.append_value(x),
                _ => return Err(wrong("a boolean", &v)),
            },
            Col::Text(b) => match &v {
                Value::Str(s) => b.append_value(s),
                other => b.append_option(text(other)),
            },
            Col::Date(b) => match &v {
                Value::Str(s) if s.is_empty() => b.append_null(),
                Value::Str(s) => b.append_value(date32(s.get(..10).unwrap_or(s)).ok_or_else(|| wrong("a date", &v))?),
                _ => return Err(wrong("a date", &v)),
            },
        }
        Ok(())
    }

    /// A string straight from the body (no `String` made for text and date columns).
    fn push_str(&mut self, name: &str, s: &str) -> Result<(), String> {
        match self {
            Col::Text(b) => b.append_value(s),
            Col::Date(b) if s.is_empty() => b.append_null(),
            Col::Date(b) => match date32(s.get(..10).unwrap_or(s)) {
                Some(d) => b.append_value(d),
                None => return Err(format!("field {name:?}: the catalog says a date, the answer has {}", s.chars().take(40).collect::<String>())),
            },
            _ => return self.push(name, Value::Str(s.to_string())),
        }
        Ok(())
    }

    fn finish(self, name: &str) -> Result<ArrayRef, String> {
        Ok(match self {
            Col::Int(mut b) => Arc::new(b.finish()),
            Col::Float(mut b) => Arc::new(b.finish()),
            Col::Bool(mut b) => Arc::new(b.finish()),
            Col::Text(mut b) => Arc::new(b.finish()),
            Col::Date(mut b) => Arc::new(b.finish()),
            Col::Values(v, Some(ty)) => typed_column(name, &v, &ty)?,
            Col::Values(v, None) => json_column(&v),
        })
    }
}

/// One cell of a scalar column back as a value (only for `Col::pop`).
fn cell(a: &ArrayRef, i: usize) -> Value {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Date32Type, Float64Type, Int64Type};
    match a.data_type() {
        DataType::Int64 => Value::Int(a.as_primitive::<Int64Type>().value(i)),
        DataType::Float64 => Value::Float(a.as_primitive::<Float64Type>().value(i)),
        DataType::Boolean => Value::Bool(a.as_boolean().value(i)),
        DataType::Date32 => {
            let d = a.as_primitive::<Date32Type>().value(i);
            Value::Str(arrow_array::temporal_conversions::date32_to_datetime(d).map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default())
        }
        _ => Value::Str(a.as_string::<i32>().value(i).to_string()),
    }
}

/// The columns of a page as they are read.
struct Columns {
    names: Vec<String>,
    cols: Vec<Col>,
    /// Declared types by column name.
    declared: HashMap<String, DataType>,
    /// Columns by dotted name.
    index: HashMap<String, usize>,
    /// Nested objects by dotted path (id 0 is the row itself), and their paths by id.
    prefixes: HashMap<String, u32>,
    paths: Vec<String>,
    /// (prefix id, tape key id) -> column, and -> nested prefix id: the per-field fast path.
    by_id: tape::FxMap<(u32, u32), usize>,
    children: tape::FxMap<(u32, u32), u32>,
    rows: usize,
    /// The rows expected (room is made for them up front).
    hint: usize,
}

impl Columns {
    fn new(declared: &Declared, hint: usize) -> Self {
        let mut c = Columns {
            names: Vec::new(),
            cols: Vec::new(),
            declared: declared.types.iter().chain(declared.first.iter().map(|(n, t)| (n, t))).filter(|(_, t)| **t != DataType::Null).map(|(n, t)| (n.clone(), t.clone())).collect(),
            index: HashMap::new(),
            prefixes: HashMap::new(),
            paths: vec![String::new()],
            by_id: Default::default(),
            children: Default::default(),
            rows: 0,
            hint,
        };
        for (name, _) in &declared.first {
            c.column(name);
        }
        c
    }

    /// The column of a dotted name, made on first sight (earlier rows get nulls).
    fn column(&mut self, path: &str) -> usize {
        if let Some(&i) = self.index.get(path) {
            return i;
        }
        self.names.push(path.to_string());
        self.cols.push(Col::new(self.declared.get(path), self.rows, self.hint));
        self.index.insert(path.to_string(), self.names.len() - 1);
        self.names.len() - 1
    }

    fn prefix(&mut self, path: &str) -> u32 {
        if let Some(&p) = self.prefixes.get(path) {
            return p;
        }
        self.paths.push(path.to_string());
        let id = (self.paths.len() - 1) as u32;
        self.prefixes.insert(path.to_string(), id);
        id
    }

    fn end_row(&mut self) {
        self.rows += 1;
        for col in &mut self.cols {
            if col.len() < self.rows {
                col.null(); // a key this row lacks
            }
        }
    }

    fn finish(self) -> Result<RecordBatch, String> {
        let rows = self.rows;
        let arrays = self
            .names
            .into_iter()
            .zip(self.cols)
            .map(|(n, c)| c.finish(&n).map(|a| (n, a)))
            .collect::<Result<Vec<_>, String>>()?;
        batch(arrays, rows)
    }
}

/// A `children` entry for a key whose object is a declared column's value, not a prefix.
const AS_TEXT: u32 = u32::MAX;

/// What a repeat slot of the tape holds: a string of the body, or a float.
#[derive(Clone, Copy)]
enum Slot {
    Empty,
    Str(u32, u32),
    Float(f64),
}

/// Walks a tape into `Columns`.
struct Walk<'a> {
    body: &'a [u8],
    tape: tape::Tape,
    chunk: tape::Chunk,
    pos: usize,
    keys: Vec<Box<str>>,
    slots: Vec<Slot>,
    cols: Columns,
}
/// A key as read: an id of the tape, or the text of one that got none.
enum Key {
    Id(usize),
    Text(Box<str>),
}

impl Walk<'_> {
    #[inline]
    fn next(&mut self) -> Result<Ev, String> {
        if self.pos == self.chunk.events.len() {
            self.refill()?;
        }
        self.pos += 1;
        Ok(self.chunk.events[self.pos - 1])
    }

    #[cold]
    fn refill(&mut self) -> Result<(), String> {
        let next = match self.tape.next_chunk()? {
            Some(c) if !c.events.is_empty() => c,
            _ => return Err("the tape ended early".into()),
        };
        self.tape.recycle(std::mem::replace(&mut self.chunk, next));
        self.pos = 0;
        Ok(())
    }

    fn peek(&mut self) -> Result<Ev, String> {
        let e = self.next()?;
        self.pos -= 1;
        Ok(e)
    }

    fn str(&self, at: u32, len: u32) -> &str {
        // The parser emits spans only of strings it checked to be UTF-8; checked again (cheaply) here.
        std::str::from_utf8(&self.body[at as usize..(at + len) as usize]).unwrap_or_default()
    }

    /// The key an event names, `None` at the end of the object.
    fn key(&mut self) -> Result<Option<Key>, String> {
        Ok(Some(match self.next()? {
            Ev::EndObj => return Ok(None),
            Ev::Key(id) => Key::Id(id as usize),
            Ev::NewKey(at, len) => {
                let k: Box<str> = self.str(at, len).into();
                self.keys.push(k);
                Key::Id(self.keys.len() - 1)
            }
            Ev::RawKey(at, len) => Key::Text(self.str(at, len).into()),
            Ev::OwnKey(at, len) => Key::Text(self.chunk.own(at, len).into()),
            e => return Err(format!("unexpected {e:?} for a key")),
        }))
    }

    fn key_text<'k>(&'k self, k: &'k Key) -> Result<&'k str, String> {
        match k {
            Key::Id(id) => self.keys.get(*id).map(|k| &**k).ok_or_else(|| "an unknown key id on the tape".to_string()),
            Key::Text(t) => Ok(t),
        }
    }

    fn document(&mut self, path: Option<&[&str]>) -> Result<(), String> {
        let first = self.next()?;
        match path {
            Some([]) => self.rows(first),
            Some(path) => self.member(first, path),
            None => match first {
                Ev::Obj(_) => match self.key()? {
                    Some(_) => {
                        let e = self.next()?;
                        self.rows(e)?;
                        while self.key()?.is_some() {
                            let e = self.next()?;
                            self.skip(e)?;
                        }
                        Ok(())
                    }
                    None => Ok(()),
                },
                e => self.rows(e),
            },
        }
    }

    /// The rows under `path` of the object starting with `first`; no rows when a step is absent.
    fn member(&mut self, first: Ev, path: &[&str]) -> Result<(), String> {
        let Ev::Obj(_) = first else {
            return self.skip(first);
        };
        while let Some(k) = self.key()? {
            let hit = self.key_text(&k)? == path[0];
            let e = self.next()?;
            match (hit, path.len()) {
                (true, 1) => self.rows(e)?,
                (true, _) => self.member(e, &path[1..])?,
                (false, _) => self.skip(e)?,
            }
        }
        Ok(())
    }

    /// A list of row objects, one object (one row) or null (none).
    fn rows(&mut self, first: Ev) -> Result<(), String> {
        match first {
            Ev::Null => Ok(()),
            Ev::Obj(_) => self.row(),
            Ev::Arr => loop {
                match self.next()? {
                    Ev::EndArr => return Ok(()),
                    Ev::Obj(_) => self.row()?,
                    e => return Err(format!("row {} is not an object ({e:?})", self.cols.rows)),
                }
            },
            e => Err(format!("the rows are not a list ({e:?})")),
        }
    }

    fn row(&mut self) -> Result<(), String> {
        self.fields(0)?;
        self.cols.end_row();
        Ok(())
    }

    /// The column of key `k` under prefix `prefix`: by the tape's key id once seen (no text
    /// compared or hashed), else by name.
    #[inline]
    fn column_of(&mut self, prefix: u32, k: &Key) -> Result<usize, String> {
        if let Key::Id(id) = k {
            if let Some(&c) = self.cols.by_id.get(&(prefix, *id as u32)) {
                return Ok(c);
            }
        }
        let name = self.key_text(k)?.to_string();
        let c = match prefix {
            0 => self.cols.column(&name),
            p => {
                let path = format!("{}.{name}", self.cols.paths[p as usize]);
                self.cols.column(&path)
            }
        };
        if let Key::Id(id) = k {
            self.cols.by_id.insert((prefix, *id as u32), c);
        }
        Ok(c)
    }

    /// The prefix id of the object under key `k` of prefix `prefix`, or `None` when the
    /// catalog declares that key a column of its own (the object is then its JSON text).
    fn child_of(&mut self, prefix: u32, k: &Key) -> Result<Option<u32>, String> {
        if let Key::Id(id) = k {
            if let Some(&c) = self.cols.children.get(&(prefix, *id as u32)) {
                return Ok(Some(c).filter(|c| *c != AS_TEXT));
            }
        }
        let name = self.key_text(k)?.to_string();
        let path = match prefix {
            0 => name,
            p => format!("{}.{name}", self.cols.paths[p as usize]),
        };
        let c = if self.cols.declared.contains_key(&path) { AS_TEXT } else { self.cols.prefix(&path) };
        if let Key::Id(id) = k {
            self.cols.children.insert((prefix, *id as u32), c);
        }
        Ok(Some(c).filter(|c| *c != AS_TEXT))
    }

    /// The members of an object whose start was read, into the columns under `prefix`.
    fn fields(&mut self, prefix: u32) -> Result<(), String> {
        while let Some(k) = self.key()? {
            let e = self.next()?;
            if let Ev::Obj(_) = e {
                // An empty object is a value ({}), as `flatten` keeps it.
                if let Ev::EndObj = self.peek()? {
                    self.pos += 1;
                    let at = self.column_of(prefix, &k)?;
                    self.set(at, Value::Json("{}".into()))?;
                    continue;
                }
                match self.child_of(prefix, &k)? {
                    Some(child) => {
                        self.fields(child)?;
                        continue;
                    }
                    None => {
                        let mut s = String::new();
                        self.text(e, &mut s)?;
                        let at = self.column_of(prefix, &k)?;
                        self.set(at, Value::Json(s))?;
                        continue;
                    }
                }
            }
            let at = self.column_of(prefix, &k)?;
            if self.cols.cols[at].len() > self.cols.rows {
                self.cols.cols[at].pop();
            }
            // Scalars go straight into the column's builder; strings without a `String`.
            let body = self.body;
            let col = &mut self.cols.cols[at];
            let name = &self.cols.names[at];
            match e {
                Ev::Str(a, l, slot) => {
                    if let Some(s) = self.slots.get_mut(slot as usize) {
                        *s = Slot::Str(a, l);
                    }
                    let text = std::str::from_utf8(&body[a as usize..(a + l) as usize]).unwrap_or_default();
                    col.push_str(name, text)?;
                }
                Ev::Hit(slot) => match self.slots.get(slot as usize) {
                    Some(Slot::Str(a, l)) => {
                        let text = std::str::from_utf8(&body[*a as usize..(*a + *l) as usize]).unwrap_or_default();
                        col.push_str(name, text)?;
                    }
                    Some(Slot::Float(f)) => col.push(name, Value::Float(*f))?,
                    _ => return Err("a repeat of nothing on the tape".into()),
                },
                Ev::Int(i) => col.push(name, Value::Int(i))?,
                Ev::UInt(u) => col.push(name, i64::try_from(u).map_or(Value::UInt(u), Value::Int))?,
                Ev::Float(slot, f) => {
                    if let Some(s) = self.slots.get_mut(slot as usize) {
                        *s = Slot::Float(f);
                    }
                    col.push(name, Value::Float(f))?;
                }
                Ev::Null => col.null(),
                e => {
                    let v = self.value(e)?;
                    self.set(at, v)?;
                }
            }
        }
        Ok(())
    }

    fn set(&mut self, at: usize, v: Value) -> Result<(), String> {
        if self.cols.cols[at].len() > self.cols.rows {
            self.cols.cols[at].pop();
        }
        let name = &self.cols.names[at];
        self.cols.cols[at].push(name, v)
    }

    /// A scalar, a list of scalars, or the JSON text of anything deeper.
    fn value(&mut self, e: Ev) -> Result<Value, String> {
        Ok(match e {
            Ev::Null => Value::Null,
            Ev::Bool(b) => Value::Bool(b),
            Ev::Int(i) => Value::Int(i),
            // As json.loads would type it: unsigned only past i64.
            Ev::UInt(u) => i64::try_from(u).map_or(Value::UInt(u), Value::Int),
            Ev::Float(slot, f) => {
                if let Some(s) = self.slots.get_mut(slot as usize) {
                    *s = Slot::Float(f);
                }
                Value::Float(f)
            }
            Ev::Str(at, len, slot) => {
                if let Some(s) = self.slots.get_mut(slot as usize) {
                    *s = Slot::Str(at, len);
                }
                Value::Str(self.str(at, len).to_string())
            }
            Ev::Own(at, len) => Value::Str(self.chunk.own(at, len).to_string()),
            Ev::Hit(slot) => match self.slots.get(slot as usize) {
                Some(Slot::Str(a, l)) => Value::Str(self.str(*a, *l).to_string()),
                Some(Slot::Float(f)) => Value::Float(*f),
                _ => return Err("a repeat of nothing on the tape".into()),
            },
            Ev::Arr => {
                let mut items = Vec::new();
                let mut deep = false;
                loop {
                    match self.next()? {
                        Ev::EndArr => break,
                        e @ (Ev::Arr | Ev::Obj(_)) => {
                            deep = true;
                            let mut s = String::new();
                            self.text(e, &mut s)?;
                            items.push(Value::Json(s));
                        }
                        e => items.push(self.value(e)?),
                    }
                }
                if deep {
                    let parts: Vec<String> = items
                        .iter()
                        .map(|v| match v {
                            Value::Json(s) => s.clone(),
                            Value::Str(s) => serde_json::Value::String(s.clone()).to_string(),
                            other => text(other).unwrap_or_else(|| "null".into()),
                        })
                        .collect();
                    Value::Json(format!("[{}]", parts.join(",")))
                } else {
                    Value::List(items)
                }
            }
            e @ Ev::Obj(_) => {
                let mut s = String::new();
                self.text(e, &mut s)?;
                Value::Json(s)
            }
            e => return Err(format!("unexpected {e:?} for a value")),
        })
    }

    /// The JSON text of the value starting with `e`.
    fn text(&mut self, e: Ev, out: &mut String) -> Result<(), String> {
        use std::fmt::Write;
        match e {
            Ev::Obj(_) => {
                out.push('{');
                let mut first = true;
                while let Some(k) = self.key()? {
                    if !std::mem::take(&mut first) {
                        out.push(',');
                    }
                    out.push_str(&serde_json::Value::String(self.key_text(&k)?.to_string()).to_string());
                    out.push(':');
                    let e = self.next()?;
                    self.text(e, out)?;
                }
                out.push('}');
            }
            Ev::Arr => {
                out.push('[');
                let mut first = true;
                loop {
                    let e = self.next()?;
                    if e == Ev::EndArr {
                        break;
                    }
                    if !std::mem::take(&mut first) {
                        out.push(',');
                    }
                    self.text(e, out)?;
                }
                out.push(']');
            }
            e => match self.value(e)? {
                Value::Null => out.push_str("null"),
                Value::Str(s) => out.push_str(&serde_json::Value::String(s).to_string()),
                Value::Float(f) => out.push_str(&serde_json::Number::from_f64(f).map_or_else(|| "null".into(), |n| n.to_string())),
                v => drop(write!(out, "{}", text(&v).unwrap_or_default())),
            },
        }
        Ok(())
    }

    /// Past the value starting with `e` (repeat slots still filled, so later hits resolve).
    fn skip(&mut self, e: Ev) -> Result<(), String> {
        match e {
            Ev::Obj(_) => {
                while self.key()?.is_some() {
                    let e = self.next()?;
                    self.skip(e)?;
                }
            }
            Ev::Arr => loop {
                let e = self.next()?;
                if e == Ev::EndArr {
                    break;
                }
                self.skip(e)?;
            },
            e => drop(self.value(e)?),
        }
        Ok(())
    }
}

/// Batches of one report as one batch: columns by name across all of them (a column a batch
/// lacks is null there), and a column whose type differs between batches (inferred from
/// different values) widened: ints and floats to floats, anything else to text.
pub fn concat(batches: &[RecordBatch]) -> Result<RecordBatch, String> {
    let Some(first) = batches.first() else {
        return batch(Vec::new(), 0);
    };
    if batches.iter().all(|b| b.schema() == first.schema()) {
        return arrow_select::concat::concat_batches(&first.schema(), batches).map_err(|e| e.to_string());
    }
    let mut names: Vec<String> = Vec::new();
    let mut types: HashMap<String, DataType> = HashMap::new();
    for b in batches {
        for f in b.schema().fields() {
            let ty = f.data_type().clone();
            match types.get(f.name()) {
                None => {
                    names.push(f.name().clone());
                    types.insert(f.name().clone(), ty);
                }
                Some(old) => {
                    let wide = widen(old, &ty);
                    types.insert(f.name().clone(), wide);
                }
            }
        }
    }
    let schema = Arc::new(Schema::new(names.iter().map(|n| Field::new(n, types[n].clone(), true)).collect::<Vec<_>>()));
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let mut columns = Vec::with_capacity(names.len());
    for n in &names {
        let ty = &types[n];
        let parts: Vec<ArrayRef> = batches
            .iter()
            .map(|b| match b.column_by_name(n) {
                Some(a) if a.data_type() == ty => Ok(a.clone()),
                Some(a) => arrow_cast::cast(a, ty).map_err(|e| format!("column {n:?}: {e}")),
                None => Ok(new_null_array(ty, b.num_rows())),
            })
            .collect::<Result<_, String>>()?;
        let refs: Vec<&dyn arrow_array::Array> = parts.iter().map(|a| a.as_ref()).collect();
        columns.push(arrow_select::concat::concat(&refs).map_err(|e| e.to_string())?);
    }
    RecordBatch::try_new_with_options(schema, columns, &RecordBatchOptions::new().with_row_count(Some(rows))).map_err(|e| e.to_string())
}

/// The type two batches' columns of one name share.
fn widen(a: &DataType, b: &DataType) -> DataType {
    use DataType::*;
    match (a, b) {
        _ if a == b => a.clone(),
        (Null, t) | (t, Null) => t.clone(),
        (Int64 | UInt64 | Float64, Int64 | UInt64 | Float64) => Float64,
        (List(x), List(y)) => DataType::new_list(widen(x.data_type(), y.data_type()), true),
        _ => Utf8,
    }
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

    #[test]
    fn json_rows_come_from_the_tape_flattened_and_typed() {
        let body = br#"{"meta":{"x":[1,{"y":2}]},"results":[
            {"page":"a.com/","da":91,"lp":0.5,"when":"2026-11-22","site":{"da":3,"deep":{"k":"v"}},"tags":["a","b"],"odd":[[1],{"z":null}],"e":{}},
            {"page":"b\u00e9.com/","da":null,"extra":true,"tags":[],"site":{"da":4}},
            {"page":"c.com/","da":7,"lp":1}]}"#;
        let declared = vec![("page".to_string(), DataType::Utf8), ("da".to_string(), DataType::Int64), ("missing".to_string(), DataType::Float64)];
        let b = json_rows(body, &Unwrap::Key("results"), &declared, 0).unwrap();
        assert_eq!(b.num_rows(), 3);
        let s = b.schema();
        let names: Vec<&str> = s.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["page", "da", "missing", "lp", "when", "site.da", "site.deep.k", "tags", "odd", "e", "extra"]);
        assert_eq!(b.column(0).as_string::<i32>().value(1), "bé.com/");
        assert!(b.column(1).is_null(1));
        assert_eq!(b.column(1).as_primitive::<Int64Type>().value(2), 7);
        assert_eq!(b.column(2).data_type(), &DataType::Float64);
        assert_eq!(b.column(2).null_count(), 3);
        assert_eq!(b.column(3).as_primitive::<Float64Type>().value(2), 1.0, "ints among floats are floats");
        assert_eq!(b.column(4).data_type(), &DataType::Date32);
        assert_eq!(b.column(5).as_primitive::<Int64Type>().value(1), 4);
        assert_eq!(b.column(6).as_string::<i32>().value(0), "v");
        assert!(b.column(6).is_null(1));
        assert_eq!(b.column(7).as_list::<i32>().value(1).len(), 0);
        assert_eq!(b.column(8).as_string::<i32>().value(0), r#"[[1],{"z":null}]"#);
        assert_eq!(b.column(9).as_string::<i32>().value(0), "{}");
        assert_eq!(b.column(10).as_boolean().value(1), true);
        // Empty, null and absent rows: the declared schema, no rows.
        for body in [&br#"{"results":[]}"#[..], br#"{"results":null}"#, br#"{"other":1}"#] {
            let b = json_rows(body, &Unwrap::Key("results"), &declared, 0).unwrap();
            assert_eq!((b.num_rows(), b.num_columns()), (0, 3));
            assert_eq!(b.schema().field(1).data_type(), &DataType::Int64);
        }
        // A value against the declared type is an error naming the field, not a different column.
        let e = json_rows(br#"{"results":[{"da":"high"}]}"#, &Unwrap::Key("results"), &declared, 0).unwrap_err();
        assert!(e.contains("\"da\""), "{e}");
        assert!(json_rows(br#"{"results":[1]}"#, &Unwrap::Key("results"), &[], 0).unwrap_err().contains("row 0"));
        assert!(json_rows(br#"{"results":[{"a":1}"#, &Unwrap::Key("results"), &[], 0).is_err(), "a cut body is refused");
        // The other unwraps: the whole document, the only member, a member of a member.
        assert_eq!(json_rows(br#"[{"a":1},{"a":2}]"#, &Unwrap::Whole, &[], 0).unwrap().num_rows(), 2);
        assert_eq!(json_rows(br#"{"keywords":[{"a":1}]}"#, &Unwrap::Single, &[], 0).unwrap().num_rows(), 1);
        assert_eq!(json_rows(br#"{"result":{"n":2,"rows":[{"a":1},{"a":2}]}}"#, &Unwrap::Path("result", "rows"), &[], 0).unwrap().num_rows(), 2);
    }

    #[test]
    fn json_rows_of_a_large_body_match_a_small_one() {
        // Over PARALLEL_BYTES the tape comes from the parser thread in chunks, with repeat slots.
        let row = r#"{"page":"site.example/p","n":12345678901,"f":0.25,"s":"same"}"#;
        let body = format!("{{\"results\":[{}]}}", vec![row; 20_000].join(","));
        assert!(body.len() > tape::PARALLEL_BYTES);
        let b = json_rows(body.as_bytes(), &Unwrap::Key("results"), &[], 0).unwrap();
        assert_eq!(b.num_rows(), 20_000);
        assert_eq!(b.column(1).as_primitive::<Int64Type>().value(19_999), 12_345_678_901);
        assert_eq!(b.column(3).as_string::<i32>().value(19_999), "same");
        assert_eq!(b.column(2).as_primitive::<Float64Type>().value(10_000), 0.25);
    }

    #[test]
    fn batches_of_one_report_concatenate_whatever_each_page_held() {
        let a = json_rows(br#"[{"a":1,"b":null}]"#, &Unwrap::Whole, &[], 0).unwrap();
        let b = json_rows(br#"[{"a":0.5,"b":"x","c":true}]"#, &Unwrap::Whole, &[], 0).unwrap();
        let both = concat(&[a.clone(), b]).unwrap();
        assert_eq!(both.num_rows(), 2);
        assert_eq!(both.column(0).as_primitive::<Float64Type>().values().to_vec(), vec![1.0, 0.5]);
        assert_eq!(both.column(1).as_string::<i32>().value(1), "x");
        assert!(both.column(2).is_null(0));
        assert_eq!(concat(&[a.clone(), a]).unwrap().num_rows(), 2);
    }

}
