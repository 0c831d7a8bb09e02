//! JSON bytes to a flat tape of events, parsed on a second core.
//!
//! Why: turning a reply into Python objects must hold the GIL and is most of a decode; parsing
//! is not. For a large body a second thread parses ahead and hands over the tape in chunks while
//! the caller turns the previous chunk into objects, so parsing leaves the critical path.
//! The parser also does the bookkeeping the object builder would otherwise do under the GIL:
//! object keys become small ids, objects with the same key sequence share a shape id announced
//! at the object's start, and repeated short strings and floats point back to their first use.
//!
//! The parser is our own because it must stay ahead of the builder: through serde's visitor it
//! took as long as orjson's whole decode. Here strings are scanned 8 bytes at a time, the key a
//! row is expected to have next is matched in place, and a string without escapes never leaves
//! the body. It accepts exactly RFC 8259 JSON (what `serde_json` accepts).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};

/// One event of the tape. Strings are `(offset, len)` into the body (no escapes) or into the
/// chunk's `text` (unescaped); the parser checked their UTF-8, so slices are valid `str`s.
///
/// `repr(u32)` with the slot before the float lays every variant out at natural offsets, so an
/// event copies as two aligned words (with Rust's own layout the builder stalled on loads that
/// straddled the stores of the copy).
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(u32)]
pub enum Ev {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    /// A float, after the slot that keeps it for repeats (`NO_SLOT`: not kept).
    Float(u16, f64),
    /// A string in the body, and the slot that keeps it for repeats (`NO_SLOT`: not kept).
    Str(u32, u32, u16),
    /// The same string or float as the one last kept in this slot.
    Hit(u16),
    /// A string with escapes, unescaped into the chunk's text.
    Own(u32, u32),
    /// A key seen before: its id.
    Key(u32),
    /// A key seen for the first time (in the body): it gets the next id.
    NewKey(u32, u32),
    /// A key that gets no id (escaped, or too many distinct keys): in the chunk's text.
    OwnKey(u32, u32),
    /// A key that gets no id, in the body.
    RawKey(u32, u32),
    Arr,
    EndArr,
    /// An object, with its shape id (or `NO_SHAPE`). The same id means the same key sequence.
    Obj(u32),
    EndObj,
}

const _: () = assert!(std::mem::size_of::<Ev>() == 16);

pub const NO_SHAPE: u32 = u32::MAX;
pub const NO_SLOT: u16 = u16::MAX;
/// Slots for repeated values: short strings first, then floats.
pub const STR_SLOTS: usize = 1024;
pub const FLOAT_SLOTS: usize = 256;
pub const SLOTS: usize = STR_SLOTS + FLOAT_SLOTS;
const MAX_LEN: usize = 24;
const MAX_KEYS: usize = 4096;
const MAX_SHAPES: usize = 4096;
/// Shapes are worth sharing for row-like objects; small ones are cheaper built directly.
const SHAPE_KEYS: std::ops::RangeInclusive<u32> = 4..=64;
/// The nesting serde_json allows: deeper documents are refused, not recursed into.
const MAX_DEPTH: usize = 127;
/// Whether the tape of a body this long has `Hit`s: a small reply has few repeats, and setting
/// up the slots would cost more than they save.
pub fn keeps_repeats(body_len: usize) -> bool {
    body_len >= 32 << 10
}

/// Bodies up to this size are parsed in one piece on the calling thread: starting and waking a
/// second thread costs a few hundred microseconds on a VM, more than the overlap saves below
/// about half a megabyte (measured: a 200 KB Moz links page 580 us in one piece, 710-880 us
/// split; 800 KB 2.5 ms vs 1.8-2.1 ms).
pub const PARALLEL_BYTES: usize = 512 << 10;

#[derive(Default, Debug)]
pub struct Chunk {
    pub events: Vec<Ev>,
    pub text: String,
}

impl Chunk {
    pub fn own(&self, at: u32, len: u32) -> &str {
        &self.text[at as usize..(at + len) as usize]
    }
}

/// The tape of a body, chunk by chunk: in one piece for a small body, else from a parser thread.
pub enum Tape {
    Whole(Option<Chunk>),
    /// Chunks from the parser, and the way back for used ones.
    Stream(Receiver<Result<Chunk, String>>, Sender<Chunk>),
}

impl Tape {
    /// The next chunk; `Ok(None)` at the end. A parse error arrives in place of the chunk it
    /// was found in, and the last chunk is sent only after the end of the body is checked.
    pub fn next_chunk(&mut self) -> Result<Option<Chunk>, String> {
        match self {
            Tape::Whole(c) => Ok(c.take()),
            Tape::Stream(rx, _) => rx.recv().ok().transpose(),
        }
    }

    /// Give a used chunk back to the parser to fill again: the tape stays in a few buffers
    /// that are warm in cache, instead of fresh pages faulted in and unmapped per chunk.
    pub fn recycle(&self, used: Chunk) {
        if let Tape::Stream(_, back) = self {
            let _ = back.send(used);
        }
    }
}

/// Parse `body` and hand its tape to `build`, which runs on the calling thread. Bodies larger
/// than `PARALLEL_BYTES` are parsed on a second (scoped) thread, ahead of `build`; if `build`
/// stops early, the parser stops at its next chunk.
pub fn with_tape<R>(body: &[u8], build: impl FnOnce(Tape) -> R) -> Result<R, String> {
    if body.len() > u32::MAX as usize {
        return Err("body larger than 4 GiB".into());
    }
    if body.len() <= PARALLEL_BYTES || crate::runtime::cores() < 2 {
        return whole(body, build);
    }
    std::thread::scope(|s| {
        // Bounded: the parser stays a few chunks ahead of the builder.
        let (tx, rx) = sync_channel(4);
        let (back, used) = channel();
        let parser = std::thread::Builder::new().name("seowire-json".into()).spawn_scoped(s, move || {
            let mut p = Parser::new(body, Some((tx, used)));
            match p.document() {
                Ok(()) => {
                    p.w.flush();
                }
                Err(m) => {
                    if let Some((tx, _)) = &p.w.sink {
                        let _ = tx.send(Err(m));
                    }
                }
            }
        });
        match parser {
            Ok(_) => Ok(build(Tape::Stream(rx, back))),
            // No thread to be had (a process limit): parse here, then build.
            Err(_) => whole(body, build),
        }
    })
}

/// The tape of `body` in one piece, parsed on this thread.
fn whole<R>(body: &[u8], build: impl FnOnce(Tape) -> R) -> Result<R, String> {
    let mut p = Parser::new(body, None);
    p.document()?;
    Ok(build(Tape::Whole(Some(p.w.chunk))))
}

enum Fail {
    At(&'static str, usize),
    /// The builder hung up.
    Stopped,
}

type Step = Result<(), Fail>;

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
    depth: usize,
    w: Writer<'a>,
    /// An escaped string, unescaped.
    scratch: Vec<u8>,
}

/// Where a scanned string is.
enum Scanned {
    /// `body[start..end]`, no escapes.
    Raw(usize, usize),
    /// Unescaped into `scratch`.
    Escaped,
}

/// Powers of ten exact as f64.
const POW10: [f64; 23] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte of `x` that ends a plain run of string: `"`, `\` or a control
/// character. Each test can also flag bytes above a true match (borrows), never below one, so
/// the lowest flagged byte is exact.
#[inline]
fn stops(x: u64) -> u64 {
    let q = x ^ (LO * b'"' as u64);
    let e = x ^ (LO * b'\\' as u64);
    (q.wrapping_sub(LO) & !q | e.wrapping_sub(LO) & !e | x.wrapping_sub(LO * 0x20) & !x) & HI
}

impl<'a> Parser<'a> {
    fn new(b: &'a [u8], sink: Option<Sink>) -> Self {
        Parser { b, i: 0, depth: 0, w: Writer::new(b, sink), scratch: Vec::new() }
    }

    fn document(&mut self) -> Result<(), String> {
        let out = self.value().and_then(|()| {
            self.ws();
            if self.i < self.b.len() {
                return Err(Fail::At("trailing characters", self.i));
            }
            Ok(())
        });
        out.map_err(|f| match f {
            Fail::Stopped => "stopped".to_string(),
            Fail::At(msg, at) => {
                let at = at.min(self.b.len());
                let line = 1 + memchr::memchr_iter(b'\n', &self.b[..at]).count();
                let column = at - self.b[..at].iter().rposition(|c| *c == b'\n').map_or(0, |n| n + 1) + 1;
                format!("{msg} at line {line} column {column}")
            }
        })
    }

    fn fail<T>(&self, msg: &'static str) -> Result<T, Fail> {
        Err(Fail::At(msg, self.i))
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if !matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                return;
            }
            self.i += 1;
        }
    }

    fn value(&mut self) -> Step {
        self.ws();
        match self.peek() {
            Some(b'"') => {
                self.i += 1;
                self.string_value()
            }
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal(b"true", Ev::Bool(true)),
            Some(b'f') => self.literal(b"false", Ev::Bool(false)),
            Some(b'n') => self.literal(b"null", Ev::Null),
            Some(_) => self.fail("expected value"),
            None => self.fail("EOF while parsing a value"),
        }
    }

    fn literal(&mut self, word: &[u8], e: Ev) -> Step {
        if self.b.get(self.i..self.i + word.len()) != Some(word) {
            return self.fail("expected ident");
        }
        self.i += word.len();
        self.w.push(e);
        Ok(())
    }

    fn enter(&mut self) -> Step {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.fail("recursion limit exceeded");
        }
        self.i += 1;
        Ok(())
    }

    fn array(&mut self) -> Step {
        self.enter()?;
        self.w.push(Ev::Arr);
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
        } else {
            loop {
                self.value()?;
                self.w.maybe_flush()?;
                if !self.more(b']', "expected `,` or `]`", "EOF while parsing a list")? {
                    break;
                }
            }
        }
        self.w.push(Ev::EndArr);
        self.depth -= 1;
        Ok(())
    }

    /// After a member: true past a `,` (another follows), false past `close`.
    fn more(&mut self, close: u8, expected: &'static str, eof: &'static str) -> Result<bool, Fail> {
        self.ws();
        match self.peek() {
            Some(b',') => {
                self.i += 1;
                Ok(true)
            }
            Some(c) if c == close => {
                self.i += 1;
                Ok(false)
            }
            Some(_) => self.fail(expected),
            None => self.fail(eof),
        }
    }

    fn object(&mut self) -> Step {
        self.enter()?;
        let (start, sent) = (self.w.chunk.events.len(), self.w.sent);
        self.w.push(Ev::Obj(NO_SHAPE));
        let mut shape = 0;
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
        } else {
            loop {
                self.ws();
                match self.peek() {
                    Some(b'"') => self.i += 1,
                    Some(_) => return self.fail("key must be a string"),
                    None => return self.fail("EOF while parsing an object"),
                }
                let guess = self.w.shapes.guess(shape);
                let id = self.key(guess)?;
                shape = self.w.shapes.step(shape, id);
                self.ws();
                if self.peek() != Some(b':') {
                    return self.fail(if self.i < self.b.len() { "expected `:`" } else { "EOF while parsing an object" });
                }
                self.i += 1;
                self.value()?;
                if !self.more(b'}', "expected `,` or `}`", "EOF while parsing an object")? {
                    break;
                }
            }
        }
        self.w.push(Ev::EndObj);
        // An object whose start was already handed over keeps NO_SHAPE.
        if self.w.sent == sent {
            self.w.chunk.events[start] = Ev::Obj(self.w.shapes.id(shape));
        }
        self.depth -= 1;
        Ok(())
    }

    /// An object key; `guess` is the id the key sequence so far predicts (the key that followed
    /// it last time), else the key after the previous one.
    fn key(&mut self, guess: u32) -> Result<u32, Fail> {
        // The guess is matched in place with its closing quote: no scan. Stored keys have no
        // escapes, so equal bytes mean an equal key.
        let w = &mut self.w;
        let id = if guess != NO_SHAPE { guess as usize } else { w.next_key };
        if let Some(k) = w.keys.get(id) {
            let end = self.i + k.len();
            if self.b.get(end) == Some(&b'"') && same(&self.b[self.i..end], k) {
                w.next_key = id + 1;
                w.push(Ev::Key(id as u32));
                self.i = end + 1;
                return Ok(id as u32);
            }
        }
        match self.string()? {
            Scanned::Raw(start, end) => Ok(self.w.key(&self.b[start..end], start)),
            Scanned::Escaped => {
                let (at, len) = self.w.own(&self.scratch);
                self.w.push(Ev::OwnKey(at, len));
                Ok(NO_SHAPE)
            }
        }
    }

    fn string_value(&mut self) -> Step {
        match self.string()? {
            Scanned::Raw(start, end) => {
                let s = &self.b[start..end];
                let e = match self.w.repeats.as_mut().map(|r| r.string(s)) {
                    Some(Ok(slot)) => Ev::Hit(slot),
                    Some(Err(slot)) => Ev::Str(start as u32, s.len() as u32, slot),
                    None => Ev::Str(start as u32, s.len() as u32, NO_SLOT),
                };
                self.w.push(e);
            }
            Scanned::Escaped => {
                let (at, len) = self.w.own(&self.scratch);
                self.w.push(Ev::Own(at, len));
            }
        }
        Ok(())
    }

    /// A string from just after its opening quote to just after its closing one.
    fn string(&mut self) -> Result<Scanned, Fail> {
        let start = self.i;
        let mut high = 0u64;
        let mut i = self.run(start, &mut high);
        let mut escaped = false;
        loop {
            match self.b.get(i) {
                Some(b'"') => break,
                Some(b'\\') => {
                    if !escaped {
                        escaped = true;
                        self.scratch.clear();
                        self.scratch.extend_from_slice(&self.b[start..i]);
                    }
                    self.i = i;
                    self.escape()?;
                    let from = self.i;
                    i = self.run(from, &mut high);
                    self.scratch.extend_from_slice(&self.b[from..i]);
                }
                Some(_) => {
                    self.i = i;
                    return self.fail("control character (\\u0000-\\u001F) found while parsing a string");
                }
                None => {
                    self.i = i;
                    return self.fail("EOF while parsing a string");
                }
            }
        }
        self.i = i + 1;
        let bytes = if escaped { &self.scratch[..] } else { &self.b[start..i] };
        if high != 0 && std::str::from_utf8(bytes).is_err() {
            self.i = start;
            return self.fail("invalid unicode code point");
        }
        Ok(if escaped { Scanned::Escaped } else { Scanned::Raw(start, i) })
    }

    /// The end of the plain run of string bytes from `i`; `high` collects their high bits.
    #[inline]
    fn run(&self, mut i: usize, high: &mut u64) -> usize {
        let b = self.b;
        while i + 8 <= b.len() {
            let x = u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
            // High bits past the stop are harmless: they only cost a UTF-8 check.
            *high |= x & HI;
            let m = stops(x);
            if m != 0 {
                return i + (m.trailing_zeros() / 8) as usize;
            }
            i += 8;
        }
        while let Some(&c) = b.get(i) {
            if c == b'"' || c == b'\\' || c < 0x20 {
                break;
            }
            *high |= (c & 0x80) as u64;
            i += 1;
        }
        i
    }

    /// One escape at `self.i` (the backslash), appended to `scratch`.
    fn escape(&mut self) -> Step {
        let c = match self.b.get(self.i + 1) {
            Some(b'"') => b'"',
            Some(b'\\') => b'\\',
            Some(b'/') => b'/',
            Some(b'b') => 0x08,
            Some(b'f') => 0x0c,
            Some(b'n') => b'\n',
            Some(b'r') => b'\r',
            Some(b't') => b'\t',
            Some(b'u') => {
                let hi = self.hex4(self.i + 2)?;
                self.i += 6;
                let code = match hi {
                    0xD800..=0xDBFF => {
                        if self.b.get(self.i..self.i + 2) != Some(b"\\u") {
                            return self.fail("lone leading surrogate in hex escape");
                        }
                        let lo = self.hex4(self.i + 2)?;
                        if !(0xDC00..=0xDFFF).contains(&lo) {
                            return self.fail("lone leading surrogate in hex escape");
                        }
                        self.i += 6;
                        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                    }
                    0xDC00..=0xDFFF => return self.fail("lone trailing surrogate in hex escape"),
                    n => n,
                };
                let ch = char::from_u32(code).expect("surrogates handled above");
                self.scratch.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                return Ok(());
            }
            Some(_) => return self.fail("invalid escape"),
            None => return self.fail("EOF while parsing a string"),
        };
        self.scratch.push(c);
        self.i += 2;
        Ok(())
    }

    fn hex4(&self, at: usize) -> Result<u32, Fail> {
        let Some(digits) = self.b.get(at..at + 4) else { return Err(Fail::At("EOF while parsing a string", self.b.len())) };
        let mut n = 0;
        for (k, d) in digits.iter().enumerate() {
            let v = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => return Err(Fail::At("invalid escape", at + k)),
            };
            n = n * 16 + v as u32;
        }
        Ok(n)
    }

    fn number(&mut self) -> Step {
        let b = self.b;
        let start = self.i;
        let neg = b[start] == b'-';
        let first = start + neg as usize;
        let mut i = first;
        // The digits' value gathered in the same pass (wrapping; whether it is exact is
        // decided by the count).
        let mut n: u64 = 0;
        let mut gather = |i: &mut usize| {
            let from = *i;
            while let Some(&d) = b.get(*i) {
                let v = d.wrapping_sub(b'0');
                if v > 9 {
                    break;
                }
                n = n.wrapping_mul(10).wrapping_add(v as u64);
                *i += 1;
            }
            *i - from
        };
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                gather(&mut i);
            }
            _ => {
                self.i = i;
                return self.fail("invalid number");
            }
        }
        let int_end = i;
        let mut fraction = 0;
        if b.get(i) == Some(&b'.') {
            i += 1;
            fraction = gather(&mut i);
            if fraction == 0 {
                self.i = i;
                return self.fail("invalid number");
            }
        }
        // The explicit exponent, `None` when it is too long to read as an i32.
        let mut exponent = Some(0);
        if let Some(b'e' | b'E') = b.get(i) {
            i += 1;
            let sign = match b.get(i) {
                Some(b'-') => -1,
                Some(b'+') => 1,
                _ => 0,
            };
            i += (sign != 0) as usize;
            let from = i;
            while let Some(b'0'..=b'9') = b.get(i) {
                i += 1;
            }
            if i == from {
                self.i = i;
                return self.fail("invalid number");
            }
            // Short exponents only; anything longer takes the exact path below.
            exponent = std::str::from_utf8(&b[from..i]).ok().and_then(|e| e.parse::<i32>().ok()).map(|e| if sign < 0 { -e } else { e });
        }
        self.i = i;
        let digits = int_end - first + fraction;
        if i == int_end {
            // An integer: exact up to 64 bits; a longer one becomes a float, as with serde_json.
            let exact = match digits {
                ..=19 => Some(n),
                20 => b[first..i].iter().try_fold(0u64, |n, d| n.checked_mul(10)?.checked_add((d - b'0') as u64)),
                _ => None,
            };
            let e = match (exact, neg) {
                (Some(n), false) => Some(Ev::UInt(n)),
                (Some(n), true) if n <= 1 << 63 => Some(Ev::Int((n as i64).wrapping_neg())),
                _ => None,
            };
            if let Some(e) = e {
                self.w.push(e);
                return Ok(());
            }
        }
        // Clinger's fast path: digits and power of ten both exact as f64, so one multiply or
        // divide rounds correctly. Rows' floats (ratings, CPCs) nearly always take it.
        let scale = exponent.map(|e| e as i64 - fraction as i64);
        let v = if let Some(scale) = scale.filter(|s| digits <= 19 && n <= 1 << 53 && (-22..=22).contains(s)) {
            let m = n as f64;
            let v = if scale < 0 { m / POW10[(-scale) as usize] } else { m * POW10[scale as usize] };
            if neg { -v } else { v }
        } else {
            // ASCII by construction; `str::parse` rounds correctly, like Python's float().
            let text = std::str::from_utf8(&b[start..i]).expect("ASCII digits");
            text.parse().expect("JSON number grammar is a valid float literal")
        };
        if !v.is_finite() {
            self.i = start;
            return self.fail("number out of range");
        }
        let e = match self.w.repeats.as_mut().map(|r| r.float(v)) {
            Some(Ok(slot)) => Ev::Hit(slot),
            Some(Err(slot)) => Ev::Float(slot, v),
            None => Ev::Float(NO_SLOT, v),
        };
        self.w.push(e);
        Ok(())
    }
}

/// A multiply-rotate hasher (the Fx hash of rustc) for the parser's small maps of key bytes and
/// trie edges: SipHash's flood resistance is not needed for a per-body table, its cost is.
#[derive(Default)]
pub struct Fx(u64);

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(last));
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.add(n as u64);
    }
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl Fx {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

pub type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<Fx>>;

/// Where the parser sends chunks, and where used ones come back.
type Sink = (SyncSender<Result<Chunk, String>>, Receiver<Chunk>);

/// Events per chunk: the first is small so the builder starts early; the rest are sized to stay
/// in cache (16 bytes an event).
const FIRST_CHUNK: usize = 1 << 11;
const CHUNK: usize = 1 << 14;

struct Writer<'a> {
    chunk: Chunk,
    /// Chunks sent so far: an object whose start was sent cannot get its shape id patched in.
    sent: usize,
    limit: usize,
    sink: Option<Sink>,
    keys: Vec<&'a [u8]>,
    ids: FxMap<&'a [u8], u32>,
    next_key: usize,
    shapes: Shapes,
    repeats: Option<Repeats>,
}

impl<'a> Writer<'a> {
    fn new(body: &'a [u8], sink: Option<Sink>) -> Self {
        let events = if sink.is_some() { FIRST_CHUNK } else { body.len() / 12 + 4 };
        Writer {
            chunk: Chunk { events: Vec::with_capacity(events), text: String::new() },
            sent: 0,
            limit: FIRST_CHUNK,
            sink,
            keys: Vec::new(),
            ids: FxMap::with_capacity_and_hasher(64, Default::default()),
            next_key: 0,
            shapes: Shapes::new(),
            repeats: keeps_repeats(body.len()).then(Repeats::new),
        }
    }

    #[inline]
    fn push(&mut self, e: Ev) {
        self.chunk.events.push(e);
    }

    fn own(&mut self, s: &[u8]) -> (u32, u32) {
        let at = self.chunk.text.len() as u32;
        self.chunk.text.push_str(std::str::from_utf8(s).expect("checked by the scanner"));
        (at, s.len() as u32)
    }

    /// The id of a key `k` (borrowed from the body at its offset), after a missed guess.
    fn key(&mut self, k: &'a [u8], at: usize) -> u32 {
        let at = at as u32;
        match self.ids.get(k) {
            Some(&id) => {
                self.next_key = id as usize + 1;
                self.push(Ev::Key(id));
                id
            }
            None if self.keys.len() < MAX_KEYS => {
                self.push(Ev::NewKey(at, k.len() as u32));
                self.keys.push(k);
                let id = self.keys.len() as u32 - 1;
                self.ids.insert(k, id);
                self.next_key = self.keys.len();
                id
            }
            None => {
                self.push(Ev::RawKey(at, k.len() as u32));
                NO_SHAPE
            }
        }
    }

    /// Hand the chunk so far to the builder, once it is large enough. Called between the
    /// elements of arrays (rows), the one place a document grows without bound in practice.
    #[inline(always)]
    fn maybe_flush(&mut self) -> Step {
        if self.chunk.events.len() < self.limit || self.sink.is_none() {
            return Ok(());
        }
        if !self.flush() {
            return Err(Fail::Stopped);
        }
        self.limit = CHUNK;
        // A value can add a few events past the limit before the next check.
        let mut next = self.sink.as_ref().and_then(|(_, used)| used.try_recv().ok()).unwrap_or_default();
        next.events.clear();
        next.text.clear();
        next.events.reserve(CHUNK + 64);
        self.chunk = next;
        Ok(())
    }

    /// Send the chunk; false when the builder has hung up.
    fn flush(&mut self) -> bool {
        let Some((tx, _)) = &self.sink else { return true };
        self.sent += 1;
        tx.send(Ok(std::mem::take(&mut self.chunk))).is_ok()
    }
}

/// Key sequences as a trie: each object walks it key by key from the root, and the node it ends
/// on is its shape. Each node remembers the last key taken from it, so rows with the same keys
/// cost one compare per key.
struct Shapes {
    /// Per node: its number of keys, and the last (key, child) taken from it.
    nodes: Vec<(u32, (u32, u32))>,
    edges: FxMap<(u32, u32), u32>,
}

impl Shapes {
    fn new() -> Self {
        Shapes { nodes: vec![(0, (NO_SHAPE, 0))], edges: FxMap::with_capacity_and_hasher(64, Default::default()) }
    }

    #[inline]
    fn step(&mut self, node: u32, key: u32) -> u32 {
        if node == NO_SHAPE || key == NO_SHAPE {
            return NO_SHAPE;
        }
        let (len, last) = self.nodes[node as usize];
        if last.0 == key {
            return last.1;
        }
        let child = match self.edges.get(&(node, key)) {
            Some(&c) => c,
            None if self.nodes.len() < MAX_SHAPES => {
                let c = self.nodes.len() as u32;
                self.nodes.push((len + 1, (NO_SHAPE, 0)));
                self.edges.insert((node, key), c);
                c
            }
            None => return NO_SHAPE,
        };
        self.nodes[node as usize].1 = (key, child);
        child
    }

    /// The key taken from `node` last time, the likely next one.
    #[inline]
    fn guess(&self, node: u32) -> u32 {
        self.nodes.get(node as usize).map_or(NO_SHAPE, |(_, (key, _))| *key)
    }

    fn id(&self, node: u32) -> u32 {
        match self.nodes.get(node as usize) {
            Some((len, _)) if SHAPE_KEYS.contains(len) => node,
            _ => NO_SHAPE,
        }
    }
}

/// Rows repeat dates, countries, link types and two-decimal floats: an object already built is
/// cheaper to share than to build again. The parser remembers recent short strings and floats
/// in direct-mapped slots (a miss costs one compare) and the builder keeps the object it made
/// for each slot, so the hashing happens here, off the GIL.
struct Repeats {
    strings: Vec<(u8, [u8; MAX_LEN])>,
    floats: Vec<Option<u64>>,
}

#[inline]
fn load8(s: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(s[at..at + 8].try_into().expect("8 bytes"))
}

/// Equality of two short slices of the same length in a few word compares (a call to
/// `memcmp` costs more than the compare at these sizes).
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    debug_assert_eq!(n, b.len());
    match n {
        8.. => {
            let mut i = 0;
            while i + 8 < n {
                if load8(a, i) != load8(b, i) {
                    return false;
                }
                i += 8;
            }
            load8(a, n - 8) == load8(b, n - 8)
        }
        4..=7 => a[..4] == b[..4] && a[n - 4..] == b[n - 4..],
        _ => a.iter().zip(b).all(|(x, y)| x == y),
    }
}

/// A hash of a string of at most `MAX_LEN` bytes from a few word loads: a collision only costs
/// a miss.
#[inline]
fn short_hash(s: &[u8]) -> u64 {
    let n = s.len();
    let (a, b) = match n {
        17.. => (load8(s, 0) ^ load8(s, 8).rotate_left(29), load8(s, n - 8)),
        8..=16 => (load8(s, 0), load8(s, n - 8)),
        4..=7 => (u32::from_le_bytes(s[..4].try_into().expect("4")) as u64, u32::from_le_bytes(s[n - 4..].try_into().expect("4")) as u64),
        1..=3 => (s[0] as u64 | (s[n / 2] as u64) << 8 | (s[n - 1] as u64) << 16, 0),
        0 => (0, 0),
    };
    let h = (a ^ n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    h ^ (h >> 29)
}

impl Repeats {
    fn new() -> Self {
        Repeats { strings: vec![(u8::MAX, [0; MAX_LEN]); STR_SLOTS], floats: vec![None; FLOAT_SLOTS] }
    }

    /// `Ok(slot)` for a repeat, `Err(slot)` for a string now kept in `slot` (or `NO_SLOT`).
    #[inline]
    fn string(&mut self, s: &[u8]) -> Result<u16, u16> {
        if s.len() > MAX_LEN {
            return Err(NO_SLOT);
        }
        let slot = (short_hash(s) >> 32) as usize % STR_SLOTS;
        let (len, bytes) = &mut self.strings[slot];
        if *len as usize == s.len() && same(&bytes[..s.len()], s) {
            return Ok(slot as u16);
        }
        *len = s.len() as u8;
        bytes[..s.len()].copy_from_slice(s);
        Err(slot as u16)
    }

    #[inline]
    fn float(&mut self, f: f64) -> Result<u16, u16> {
        let bits = f.to_bits();
        // One multiply (Fibonacci hashing): the top bits mix every input bit.
        let i = (bits.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize % FLOAT_SLOTS;
        let slot = (STR_SLOTS + i) as u16;
        if self.floats[i] == Some(bits) {
            return Ok(slot);
        }
        self.floats[i] = Some(bits);
        Err(slot)
    }
}

/// How many elements the array under top-level member `key` holds, found by skipping over the
/// body without building anything (strings are jumped with memchr). Why: the call path must
/// know how many results to commit before the body is decoded, and a full parse just to count
/// cost as much as the decode. Structure is checked as far as skipping needs; the decode that
/// follows checks the rest. `Ok(None)`: no such member.
pub fn rows_in(body: &[u8], key: &str) -> Result<Option<u64>, String> {
    let mut s = Skip { b: body, i: 0 };
    s.ws();
    if !s.eat(b'{') {
        return Err("the answer is not a JSON object".into());
    }
    let mut found = None;
    s.ws();
    if s.eat(b'}') {
        return Ok(None);
    }
    loop {
        s.ws();
        let (start, end, escaped) = s.string()?;
        s.ws();
        if !s.eat(b':') {
            return Err(s.fail("a ':' after a key"));
        }
        s.ws();
        if !escaped && &body[start..end] == key.as_bytes() && s.peek() == Some(b'[') {
            s.i += 1;
            let mut n = 0u64;
            s.ws();
            if !s.eat(b']') {
                loop {
                    s.ws();
                    s.value()?;
                    n += 1;
                    s.ws();
                    if s.eat(b']') {
                        break;
                    }
                    if !s.eat(b',') {
                        return Err(s.fail("a ',' or ']' in the rows"));
                    }
                }
            }
            found = Some(n); // a repeated key: the last wins, as in the decode
        } else {
            s.value()?;
        }
        s.ws();
        if s.eat(b'}') {
            break;
        }
        if !s.eat(b',') {
            return Err(s.fail("a ',' or '}'"));
        }
    }
    s.ws();
    if s.i != body.len() {
        return Err(s.fail("the end of the answer"));
    }
    Ok(found)
}

struct Skip<'a> {
    b: &'a [u8],
    i: usize,
}

impl Skip<'_> {
    fn fail(&self, what: &str) -> String {
        format!("expected {what} at byte {}", self.i)
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        self.i += hit as usize;
        hit
    }
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.i += 1;
        }
    }
    /// A string at `i`: its content's span and whether it has escapes.
    fn string(&mut self) -> Result<(usize, usize, bool), String> {
        if !self.eat(b'"') {
            return Err(self.fail("a string"));
        }
        let start = self.i;
        let mut escaped = false;
        loop {
            match memchr::memchr2(b'"', b'\\', &self.b[self.i..]) {
                Some(off) if self.b[self.i + off] == b'"' => {
                    let end = self.i + off;
                    self.i = end + 1;
                    return Ok((start, end, escaped));
                }
                Some(off) => {
                    escaped = true;
                    self.i += off + 2; // the backslash and the byte it escapes
                    if self.i > self.b.len() {
                        break;
                    }
                }
                None => break,
            }
        }
        Err("an unterminated string".into())
    }
    /// Past one value of any kind (containers by depth, their strings jumped).
    fn value(&mut self) -> Result<(), String> {
        match self.peek() {
            Some(b'"') => self.string().map(drop),
            Some(b'{' | b'[') => {
                let mut depth = 0usize;
                loop {
                    match self.peek() {
                        Some(b'"') => {
                            self.string()?;
                            continue;
                        }
                        Some(b'{' | b'[') => {
                            depth += 1;
                            if depth > MAX_DEPTH {
                                return Err("nesting too deep".into());
                            }
                        }
                        Some(b'}' | b']') => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                return Ok(());
                            }
                        }
                        Some(_) => {}
                        None => return Err("an unterminated container".into()),
                    }
                    self.i += 1;
                }
            }
            Some(b'-' | b'0'..=b'9' | b't' | b'f' | b'n') => {
                let start = self.i;
                while matches!(self.peek(), Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9' | b'a'..=b'z')) {
                    self.i += 1;
                }
                if self.i == start {
                    return Err(self.fail("a value"));
                }
                Ok(())
            }
            _ => Err(self.fail("a value")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// The whole tape of `body`, chunk texts resolved.
    fn tape(body: &[u8]) -> Result<(Vec<Ev>, Vec<String>), String> {
        with_tape(body, |mut t| {
            let mut events = Vec::new();
            let mut own = Vec::new();
            while let Some(c) = t.next_chunk()? {
                for e in &c.events {
                    if let Ev::Own(at, len) | Ev::OwnKey(at, len) = e {
                        own.push(c.own(*at, *len).to_string());
                    }
                }
                events.extend(c.events);
            }
            Ok((events, own))
        })?
    }

    /// Rebuild a `serde_json::Value` from a tape, the way the Python builder does.
    fn rebuild(body: &[u8]) -> Result<Value, String> {
        let (events, own) = tape(body)?;
        let text = |at: u32, len: u32| std::str::from_utf8(&body[at as usize..(at + len) as usize]).unwrap().to_string();
        let mut it = events.into_iter();
        let mut own = own.into_iter();
        let mut keys: Vec<String> = Vec::new();
        let mut slots: Vec<Option<Value>> = vec![None; SLOTS];
        fn value(e: Ev, it: &mut dyn Iterator<Item = Ev>, own: &mut dyn Iterator<Item = String>, keys: &mut Vec<String>, slots: &mut Vec<Option<Value>>, text: &dyn Fn(u32, u32) -> String) -> Value {
            let mut keep = |slot: u16, v: Value| {
                if let Some(s) = slots.get_mut(slot as usize) {
                    *s = Some(v.clone());
                }
                v
            };
            match e {
                Ev::Null => Value::Null,
                Ev::Bool(b) => Value::Bool(b),
                Ev::Int(n) => Value::from(n),
                Ev::UInt(n) => Value::from(n),
                Ev::Float(slot, f) => keep(slot, Value::from(f)),
                Ev::Str(at, len, slot) => keep(slot, Value::String(text(at, len))),
                Ev::Hit(slot) => slots[slot as usize].clone().expect("a kept value"),
                Ev::Own(..) => Value::String(own.next().unwrap()),
                Ev::Arr => {
                    let mut items = Vec::new();
                    loop {
                        match it.next().unwrap() {
                            Ev::EndArr => return Value::Array(items),
                            e => items.push(value(e, it, own, keys, slots, text)),
                        }
                    }
                }
                Ev::Obj(_) => {
                    let mut map = serde_json::Map::new();
                    loop {
                        let k = match it.next().unwrap() {
                            Ev::EndObj => return Value::Object(map),
                            Ev::Key(id) => keys[id as usize].clone(),
                            Ev::NewKey(at, len) => {
                                keys.push(text(at, len));
                                keys.last().unwrap().clone()
                            }
                            Ev::RawKey(at, len) => text(at, len),
                            Ev::OwnKey(..) => own.next().unwrap(),
                            e => panic!("{e:?} as a key"),
                        };
                        let e = it.next().unwrap();
                        map.insert(k, value(e, it, own, keys, slots, text));
                    }
                }
                e => panic!("{e:?} as a value"),
            }
        }
        let first = it.next().unwrap();
        let v = value(first, &mut it, &mut own, &mut keys, &mut slots, &text);
        assert!(it.next().is_none());
        Ok(v)
    }

    fn same_as_serde(body: &str) {
        let ours = rebuild(body.as_bytes());
        let theirs: Result<Value, _> = serde_json::from_str(body);
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{body:?}"),
            (Err(_), Err(_)) => {}
            _ => panic!("{body:?}: ours {ours:?}, serde_json {theirs:?}"),
        }
    }

    #[test]
    fn accepts_and_refuses_what_serde_json_does() {
        let docs = [
            "0", "-0.0", "1.5e3", "1E-2", "-12345678901234567890", "18446744073709551615", "18446744073709551616",
            "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "123456789012345678901234567890",
            "0.1", "2.2250738585072014e-308", "1e400", "-1e400", "01", "1.", ".5", "-", "+1", "1e", "1e+", "0x10",
            "true", "false", "null", "tru", "nul", "True", "\"\"", "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"", "\"\\u00e9\\u20AC\"",
            "\"\\ud83d\\ude00\"", "\"\\ud83d\"", "\"\\ude00\"", "\"\\ud83dx\"", "\"\\u12\"", "\"\\x\"", "\"caf\u{e9} \u{1F600}\"",
            "\"tab\there\"", "\"a\nb\"", "\"unterminated", "\"ends with backslash\\", "[]", "[ ]", "[1,]", "[,1]", "[1 2]",
            "{}", "{ }", "{\"a\":1,}", "{\"a\" 1}", "{1:2}", "{\"a\":1 \"b\":2}", "{\"a\":1,\"a\":2}", "  [1, {\"b\": [null]}]  ",
            "[1] x", "", "   ", "\u{feff}[]", "[\"\\u0000\"]", "{\"k\\u0065y\":1,\"key\":2}", "[1,2,3", "{\"a\":", "{\"a\"",
            "[\"a\",\"a\",\"a\"]", "[1.25,1.25,-1.25]",
        ];
        for d in docs {
            same_as_serde(d);
        }
        let nested = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        assert!(rebuild(nested(127).as_bytes()).is_ok());
        assert!(rebuild(nested(128).as_bytes()).unwrap_err().starts_with("recursion limit exceeded"));
        same_as_serde(&nested(127));
        same_as_serde(&nested(128));
        // Python's json reads `-0` as the integer 0 (serde_json: a float).
        assert_eq!(tape(b"-0").unwrap().0, vec![Ev::Int(0)]);
        // Invalid UTF-8 inside a string, and a lone continuation byte.
        assert!(rebuild(b"[\"a\xff\"]").is_err());
        assert!(rebuild(b"[\"\xc3\"]").is_err());
        assert_eq!(rebuild("[\"\u{e9}\"]".as_bytes()).unwrap(), serde_json::json!(["\u{e9}"]));
    }

    /// A small deterministic generator: nested rows with every kind of value, escapes,
    /// non-ASCII, repeated and varying keys, odd whitespace.
    fn random_doc(seed: u64, rows: usize) -> String {
        let mut x = seed | 1;
        let mut rnd = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let strings = ["", "a", "dofollow", "2026-10-21", "https://example.com/a?b=c", "caf\u{e9}", "\u{1F600} smile", "q\"uote", "back\\slash", "new\nline", "tab\t", "\u{1}ctl", "slash/", "long string that is longer than twenty four bytes"];
        let keys = ["url_from", "anchor", "domain_rating", "first_seen", "is_dofollow", "k\"ey", "caf\u{e9}", "x"];
        let mut out = String::from("{\"rows\": [");
        for r in 0..rows {
            if r > 0 {
                out.push_str([",", ", ", ",\n  ", " ,"][rnd(4) as usize]);
            }
            out.push('{');
            let n = if rnd(5) == 0 { rnd(keys.len() as u64) as usize } else { keys.len() };
            for (k, key) in keys.iter().take(n).enumerate() {
                if k > 0 {
                    out.push(',');
                }
                let key = if rnd(50) == 0 { keys[rnd(keys.len() as u64) as usize] } else { key };
                out.push_str(&serde_json::to_string(key).unwrap());
                out.push_str([":", " : ", ":\t"][rnd(3) as usize]);
                let v = match rnd(9) {
                    0 => serde_json::to_string(strings[rnd(strings.len() as u64) as usize]).unwrap(),
                    1 => (rnd(1 << 40) as i64 - (1 << 39)).to_string(),
                    2 => format!("{}", (rnd(10_000) as f64) / 100.0),
                    3 => format!("{}e{}", rnd(1000), rnd(40) as i64 - 20),
                    4 => ["true", "false", "null"][rnd(3) as usize].to_string(),
                    5 => format!("[{}]", (0..rnd(4)).map(|i| i.to_string()).collect::<Vec<_>>().join(",")),
                    6 => format!("{{\"nested\":{{\"a\":{},\"b\":\"{}\"}}}}", rnd(100), "x".repeat(rnd(30) as usize)),
                    7 => u64::MAX.to_string(),
                    _ => "\"\\u00e9\\ud83d\\ude00\\/\"".to_string(),
                };
                out.push_str(&v);
            }
            out.push('}');
        }
        out.push_str("], \"next_token\": \"abc==\"}");
        out
    }

    #[test]
    fn random_documents_decode_as_serde_json_does_whole_and_streamed() {
        for seed in 1..40 {
            same_as_serde(&random_doc(seed, 30));
        }
        for seed in [7, 8] {
            let big = random_doc(seed, 6000);
            assert!(big.len() > PARALLEL_BYTES);
            same_as_serde(&big);
        }
    }

    #[test]
    fn floats_round_as_rust_and_python_do() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut rnd = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut texts = vec!["0.1".to_string(), "0.3".into(), "1e22".into(), "1e23".into(), "9007199254740993.0".into(), "-0.0".into(), "1e-22".into(), "4.35".into(), "123456789.123456789".into(), "1e99999999999".into(), "1e-99999999999".into(), "2.5E+3".into(), "0.000000000000000000001".into()];
        for _ in 0..20_000 {
            let digits: String = (0..1 + rnd(18)).map(|_| char::from(b'0' + rnd(10) as u8)).collect();
            let digits = digits.trim_start_matches('0');
            let digits = if digits.is_empty() { "0" } else { digits };
            let frac: String = (0..1 + rnd(8)).map(|_| char::from(b'0' + rnd(10) as u8)).collect();
            let sign = if rnd(2) == 0 { "-" } else { "" };
            texts.push(match rnd(3) {
                0 => format!("{sign}{digits}.{frac}"),
                1 => format!("{sign}{digits}e{}", rnd(50) as i64 - 25),
                _ => format!("{sign}{digits}.{frac}E-{}", rnd(30)),
            });
        }
        for t in &texts {
            let want: f64 = t.parse().unwrap();
            let got = tape(t.as_bytes()).map(|(ev, _)| ev[0]);
            match got {
                Ok(Ev::Float(_, v)) => assert_eq!(v.to_bits(), want.to_bits(), "{t}"),
                Ok(e) => panic!("{t}: {e:?}"),
                Err(m) => assert!(!want.is_finite() && m.starts_with("number out of range"), "{t}: {m}"),
            }
        }
    }

    #[test]
    fn rows_share_key_ids_and_a_shape() {
        let (ev, _) = tape(br#"[{"a":1,"b":-2,"c":"x","d":null},{"a":1.5,"b":true,"c":"y\n","d":[]}]"#).unwrap();
        assert!(matches!(ev[1], Ev::Obj(s) if s != NO_SHAPE));
        assert_eq!(ev[2], Ev::NewKey(3, 1));
        assert_eq!(ev[4], Ev::NewKey(9, 1));
        assert_eq!(ev[5], Ev::Int(-2));
        let second = ev.iter().position(|e| *e == Ev::EndObj).unwrap() + 1;
        assert_eq!(ev[second], ev[1]);
        assert_eq!(ev[second + 1], Ev::Key(0));
        assert_eq!(ev[second + 2], Ev::Float(NO_SLOT, 1.5));
        assert!(matches!(ev[second + 6], Ev::Own(_, 2)));
        assert_eq!(*ev.last().unwrap(), Ev::EndArr);
        // Fewer than four keys: built directly, no shape.
        let (ev, _) = tape(br#"[{"a":1},{"a":2}]"#).unwrap();
        assert_eq!(ev[1], Ev::Obj(NO_SHAPE));
    }

    #[test]
    fn repeats_point_back_to_the_first_use() {
        let row = r#"{"d":"2026-10-21","f":0.25,"u":"a string much longer than twenty-four bytes"}"#;
        let rows = |n: usize| format!("[{}]", vec![row; n].join(","));
        let (ev, _) = tape(rows(500).as_bytes()).unwrap();
        let hits = ev.iter().filter(|e| matches!(e, Ev::Hit(_))).count();
        assert_eq!(hits, 2 * 499);
        assert_eq!(ev.iter().filter(|e| matches!(e, Ev::Str(_, _, NO_SLOT))).count(), 500);
        // A small body keeps no slots at all.
        let (ev, _) = tape(rows(5).as_bytes()).unwrap();
        assert!(!keeps_repeats(rows(5).len()) && !ev.iter().any(|e| matches!(e, Ev::Hit(_))));
    }

    #[test]
    fn a_large_body_streams_in_chunks_with_the_same_events() {
        let row = r#"{"url":"https://a.example/x","n":123456789012,"ok":false,"t":"caf\u00e9","f":0.25}"#;
        let body = format!("{{\"rows\":[{}]}}", vec![row; 20_000].join(","));
        assert!(body.len() > PARALLEL_BYTES);
        let mut chunks = 0;
        let streamed = with_tape(body.as_bytes(), |mut t| {
            let mut all = Vec::new();
            while let Some(c) = t.next_chunk().unwrap() {
                chunks += 1;
                all.extend(c.events.into_iter().filter(|e| !matches!(e, Ev::Own(..))));
            }
            all
        })
        .unwrap();
        assert!(chunks > 2, "{chunks}");
        let mut p = Parser::new(body.as_bytes(), None);
        p.document().unwrap();
        let whole: Vec<Ev> = p.w.chunk.events.into_iter().filter(|e| !matches!(e, Ev::Own(..))).collect();
        assert_eq!(streamed.len(), whole.len());
        // Shapes patched in where the object's start was still in hand; the rest say NO_SHAPE.
        let shaped = |e: &Ev| matches!(e, Ev::Obj(s) if *s != NO_SHAPE);
        assert_eq!(whole.iter().filter(|e| shaped(e)).count(), 20_000);
        assert!(streamed.iter().filter(|e| shaped(e)).count() >= 20_000 - chunks);
    }

    #[test]
    fn an_error_late_in_a_large_body_arrives_after_the_chunks_before_it() {
        let row = r#"{"a":1,"b":2,"c":3,"d":4}"#;
        let body = format!("[{},\n{{\"a\":1,]", vec![row; 40_000].join(","));
        let mut before = 0;
        let err = with_tape(body.as_bytes(), |mut t| loop {
            match t.next_chunk() {
                Ok(Some(_)) => before += 1,
                Ok(None) => break None,
                Err(m) => break Some(m),
            }
        })
        .unwrap();
        assert!(before > 1);
        assert_eq!(err.unwrap(), "key must be a string at line 2 column 8");
        assert_eq!(with_tape(b"[1] x", |_| ()).unwrap_err(), "trailing characters at line 1 column 5");
    }

    #[test]
    fn a_builder_that_stops_early_stops_the_parser() {
        // The channel holds 4 chunks; a parser that missed the hang-up would block on the
        // fifth forever and `with_tape`, which joins it, would never return.
        let body = format!("[{}]", vec!["[1,2,3]"; 200_000].join(","));
        let got = with_tape(body.as_bytes(), |mut t| t.next_chunk().unwrap().unwrap().events.len()).unwrap();
        assert!((FIRST_CHUNK..FIRST_CHUNK + 8).contains(&got), "{got}");
    }

    #[test]
    fn rows_in_counts_the_rows_without_building_them() {
        assert_eq!(rows_in(br#"{"results":[{"a":"x]}\"y","b":[1,{"c":[]}]},{}], "n":2}"#, "results").unwrap(), Some(2));
        assert_eq!(rows_in(br#" { "results" : [ ] } "#, "results").unwrap(), Some(0));
        assert_eq!(rows_in(br#"{"other":[1,2]}"#, "results").unwrap(), None);
        assert_eq!(rows_in(br#"{"results":[1],"results":[1,2,3]}"#, "results").unwrap(), Some(3));
        for bad in [&br#"{"results":[{"a":1}"#[..], br#"{"results":[1,2"#, br#"[1]"#, br#"{"results":["x]}"#, br#"{"results":[1]}x"#, b""] {
            assert!(rows_in(bad, "results").is_err(), "{}", String::from_utf8_lossy(bad));
        }
        // Agrees with a full parse on generated documents.
        for seed in 0..50 {
            let doc = random_doc(seed, 1 + (seed as usize % 7));
            let want = serde_json::from_str::<serde_json::Value>(&doc).unwrap()["rows"].as_array().map(|a| a.len() as u64);
            assert_eq!(rows_in(doc.as_bytes(), "rows").unwrap(), want, "{doc}");
        }
    }

}
