//! Histories and their linearizability checker (`docs/history.md`).
//!
//! A history is what the callers of a counter saw: for every increment of a
//! room-round's counter, when it was invoked, when (and whether) it
//! answered, and the count it returned. `quizrace run --history` writes one
//! as JSON lines (schema [`SCHEMA`]); [`read`] streams such a file into a
//! compact [`History`] and [`check`] judges every room-round of it.
//!
//! A history of increments that each return the new count is
//! linearizable iff there is a total order of its increments, consistent
//! with real time (an increment that completed before another was invoked
//! comes first), in which the k-th increment returns k. [`Checker`] decides
//! this per room-round in O(n log n) by four rules, each a
//! [`ViolationKind`] with a minimal witness: no count returned twice, no
//! count out of range, no increment returning less than one that completed
//! before it began, and every count no acknowledged increment returned
//! must be fillable by an increment of unknown fate invoked early enough.
//! This is Jepsen's counter checker, and Porcupine's search made
//! unnecessary by the increments returning their value.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::io::{BufRead, Read};

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::format::thousands;
use crate::sim::HistOp;

/// The schema tag of a history file's header line.
pub const SCHEMA: &str = "quizrace.history.v1";

/// The most operations [`read`] accepts (20,000,000, 32 bytes each): a
/// larger file is refused rather than allowed to exhaust memory.
pub const MAX_OPS: usize = 20_000_000;

/// The longest line [`read`] accepts, in bytes (1 MiB).
pub const MAX_LINE: usize = 1 << 20;

/// [`Op::value`] of an increment that returned no count (`null` in the file).
pub const NO_VALUE: u32 = u32::MAX;

/// [`Op::response_ns`] of an increment that never answered (`null` in the
/// file).
pub const NO_RESPONSE: u64 = u64::MAX;

/// What became of one increment, as its caller saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpOutcome {
    /// Acknowledged: it was counted (`"ok"`).
    Ok,
    /// Definitely not counted (`"failed"`).
    Failed,
    /// Maybe counted: its reply never came, or was a timeout (`"unknown"`).
    Unknown,
}

impl OpOutcome {
    /// `ok`, `failed` or `unknown`, as in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            OpOutcome::Ok => "ok",
            OpOutcome::Failed => "failed",
            OpOutcome::Unknown => "unknown",
        }
    }
}

impl fmt::Display for OpOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One increment of a room-round's counter: 32 bytes, no heap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Op {
    /// The room-round: an index into [`History::rounds`] (the simulator's
    /// slot for in-memory histories).
    pub round: u32,
    /// The worker that made the call.
    pub worker: u32,
    /// When the call was invoked, ns.
    pub invoke_ns: u64,
    /// When it answered, ns; [`NO_RESPONSE`] for none. Only an
    /// acknowledged increment's response constrains the order: an
    /// increment of unknown fate may take effect after its timeout.
    pub response_ns: u64,
    /// The count it returned (counts start at 1); [`NO_VALUE`] for none.
    pub value: u32,
    /// What became of it.
    pub outcome: OpOutcome,
    /// Whether it fired `endQuizTime` (carried, not judged by [`check`]).
    pub fired: bool,
}

const _: () = assert!(std::mem::size_of::<Op>() <= 32);

impl From<&HistOp> for Op {
    fn from(h: &HistOp) -> Op {
        let outcome = match h.fate {
            1 => OpOutcome::Ok,
            2 => OpOutcome::Failed,
            _ => OpOutcome::Unknown,
        };
        Op {
            round: h.slot,
            worker: u32::from(h.worker),
            invoke_ns: h.invoke_ns,
            response_ns: if outcome == OpOutcome::Unknown {
                NO_RESPONSE
            } else {
                h.invoke_ns.saturating_add(u64::from(h.took_ns))
            },
            // The simulator's "no count" is 0 (`raw::NO_VALUE`).
            value: if h.value == 0 { NO_VALUE } else { h.value },
            outcome,
            fired: h.fired,
        }
    }
}

/// A history file, read: its header and every operation, grouped by
/// room-round (in the order each room-round first appears in the file;
/// within one, in file order).
#[derive(Clone, Debug, Default)]
pub struct History {
    /// The header line's fields (the run's parameters), `schema` included;
    /// the checker ignores them.
    pub header: Map<String, Value>,
    names: Vec<Box<str>>,
    ops: Vec<Op>,
    /// `ops[starts[r]..starts[r + 1]]` are room-round `r`'s.
    starts: Vec<u32>,
}

impl History {
    /// Every room-round: its name (`room_round` as text: `3` and `"3"` are
    /// the same room-round) and its operations.
    pub fn rounds(&self) -> impl ExactSizeIterator<Item = (&str, &[Op])> + '_ {
        (0..self.names.len()).map(move |r| {
            let ops = &self.ops[self.starts[r] as usize..self.starts[r + 1] as usize];
            (&*self.names[r], ops)
        })
    }

    /// How many room-rounds.
    pub fn round_count(&self) -> usize {
        self.names.len()
    }

    /// How many operations, over all room-rounds.
    pub fn op_count(&self) -> usize {
        self.ops.len()
    }
}

/// A history file that cannot be read. Every variant but [`Empty`] says on
/// which line (1-based).
///
/// [`Empty`]: HistoryError::Empty
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The operating system refused, or the line is not UTF-8.
    #[error("line {line}: cannot read: {source}")]
    Read {
        /// The line.
        line: usize,
        /// Why.
        source: std::io::Error,
    },
    /// Longer than [`MAX_LINE`].
    #[error("line {line}: longer than {max} KiB: not a history line", max = MAX_LINE >> 10)]
    LineTooLong {
        /// The line.
        line: usize,
    },
    /// No header line: nothing but blank lines.
    #[error("the file is empty: expected a header line")]
    Empty,
    /// The first line is not a header of this schema.
    #[error("line {line}: expected a header {{\"schema\":\"{schema}\"}}, found {found}", schema = SCHEMA)]
    Header {
        /// The line.
        line: usize,
        /// What it holds instead, in short.
        found: String,
    },
    /// Not JSON.
    #[error("line {line}: not valid JSON (column {column}): {message}")]
    Json {
        /// The line.
        line: usize,
        /// Where on the line (1-based).
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// JSON, but not an object.
    #[error("line {line}: expected an operation (a JSON object), found {found}")]
    NotAnObject {
        /// The line.
        line: usize,
        /// What it holds instead, in short.
        found: String,
    },
    /// A required field is absent.
    #[error("line {line}: missing field `{field}`")]
    MissingField {
        /// The line.
        line: usize,
        /// Which field.
        field: &'static str,
    },
    /// A field this schema does not have: most likely a file of another
    /// schema.
    #[error(
        "line {line}: unknown field `{field}` (a {schema} operation has room_round, worker, \
         player, planned_ns, invoke_ns, response_ns, value, outcome and fired)",
        schema = SCHEMA
    )]
    UnknownField {
        /// The line.
        line: usize,
        /// The field's name.
        field: String,
    },
    /// A field's value has the wrong type or is out of range.
    #[error("line {line}: `{field}` must be {expected}, found {found}")]
    WrongType {
        /// The line.
        line: usize,
        /// Which field.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
        /// What it is, in short.
        found: String,
    },
    /// `outcome` is not `ok`, `failed` or `unknown`.
    #[error("line {line}: `{found}` is not an outcome; use ok, failed or unknown")]
    UnknownOutcome {
        /// The line.
        line: usize,
        /// The string found.
        found: String,
    },
    /// An acknowledged or failed increment without `response_ns`.
    #[error("line {line}: an operation whose outcome is {outcome} needs a response_ns")]
    NoResponse {
        /// The line.
        line: usize,
        /// Its outcome.
        outcome: OpOutcome,
    },
    /// The answer came before the call.
    #[error("line {line}: response_ns {response_ns} is before invoke_ns {invoke_ns}")]
    ResponseBeforeInvoke {
        /// The line.
        line: usize,
        /// When it was invoked, ns.
        invoke_ns: u64,
        /// When it answered, ns.
        response_ns: u64,
    },
    /// More than [`MAX_OPS`] operations.
    #[error("line {line}: more than {} operations; check a shorter history", thousands(*.cap as u64))]
    TooMany {
        /// The first line over the cap.
        line: usize,
        /// The cap.
        cap: usize,
    },
    /// Anything else the parser refused, in its words.
    #[error("line {line}: {message}")]
    Invalid {
        /// The line.
        line: usize,
        /// What the parser said.
        message: String,
    },
}

/// `room_round`: a string, or a non-negative integer.
enum Key<'a> {
    Int(u64),
    Text(Cow<'a, str>),
}

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key<'a>, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a non-negative integer")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Key<'de>, E> {
                Ok(Key::Int(v))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key::Text(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_any(KeyVisitor)
    }
}

/// One operation line, as written; borrowed from the line where it can be.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOp<'a> {
    #[serde(borrow)]
    room_round: Key<'a>,
    worker: u32,
    #[serde(default, rename = "player")]
    _player: Option<u32>,
    #[serde(default, rename = "planned_ns")]
    _planned_ns: Option<u64>,
    invoke_ns: u64,
    #[serde(default)]
    response_ns: Option<u64>,
    #[serde(default)]
    value: Option<u32>,
    #[serde(borrow)]
    outcome: Cow<'a, str>,
    #[serde(default)]
    fired: bool,
}

/// Room-round names, each stored once.
#[derive(Default)]
struct Interner {
    names: Vec<Box<str>>,
    index: HashMap<Box<str>, u32>,
    /// An integer key's text, reused.
    scratch: String,
}

impl Interner {
    fn intern(&mut self, key: &Key<'_>) -> u32 {
        let text: &str = match key {
            Key::Int(n) => {
                use fmt::Write as _;
                self.scratch.clear();
                write!(self.scratch, "{n}").expect("writing to a String cannot fail");
                self.scratch.as_str()
            }
            Key::Text(s) => s,
        };
        if let Some(&i) = self.index.get(text) {
            return i;
        }
        // At most MAX_OPS room-rounds: the index fits.
        let i = self.names.len() as u32;
        let name: Box<str> = text.into();
        self.index.insert(name.clone(), i);
        self.names.push(name);
        i
    }
}

/// Reads a history file (`docs/history.md`): a header line, then one
/// operation per line; blank lines are skipped. Streams line by line: no
/// more than [`MAX_LINE`] bytes of text and [`MAX_OPS`] operations are
/// ever held.
pub fn read(reader: impl BufRead) -> Result<History, HistoryError> {
    read_capped(reader, MAX_OPS)
}

fn read_capped(mut reader: impl BufRead, cap: usize) -> Result<History, HistoryError> {
    let mut buf = String::new();
    let mut line = 0usize;
    let mut header: Option<Map<String, Value>> = None;
    let mut rounds = Interner::default();
    let mut ops: Vec<Op> = Vec::new();
    loop {
        buf.clear();
        let n = Read::take(&mut reader, MAX_LINE as u64 + 1)
            .read_line(&mut buf)
            .map_err(|source| HistoryError::Read {
                line: line + 1,
                source,
            })?;
        if n == 0 {
            break;
        }
        line += 1;
        if buf.len() > MAX_LINE && !buf.ends_with('\n') {
            return Err(HistoryError::LineTooLong { line });
        }
        let mut text = buf.trim();
        if line == 1 {
            text = text.trim_start_matches('\u{feff}').trim_start();
        }
        if text.is_empty() {
            continue;
        }
        if header.is_none() {
            header = Some(parse_header(line, text)?);
            continue;
        }
        if ops.len() >= cap {
            return Err(HistoryError::TooMany { line, cap });
        }
        ops.push(parse_op(line, text, &mut rounds)?);
    }
    let header = header.ok_or(HistoryError::Empty)?;
    // Group by room-round, keeping file order within each (a stable sort).
    ops.sort_by_key(|o| o.round);
    let mut starts = vec![0u32; rounds.names.len() + 1];
    for o in &ops {
        starts[o.round as usize + 1] += 1;
    }
    let mut total = 0u32;
    for s in &mut starts {
        total += *s;
        *s = total;
    }
    Ok(History {
        header,
        names: rounds.names,
        ops,
        starts,
    })
}

/// At most 40 characters of `text`, quoted, for messages.
fn excerpt(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(40).collect();
    if chars.next().is_some() {
        format!("`{head}…`")
    } else {
        format!("`{head}`")
    }
}

/// A JSON value in short, for messages.
fn describe(v: &Value) -> String {
    match v {
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
        scalar => excerpt(&scalar.to_string()),
    }
}

fn parse_header(line: usize, text: &str) -> Result<Map<String, Value>, HistoryError> {
    let found = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) if map.get("schema").and_then(Value::as_str) == Some(SCHEMA) => {
            return Ok(map)
        }
        Ok(Value::Object(map)) => match map.get("schema") {
            Some(Value::String(s)) => format!("schema {}", excerpt(s)),
            Some(other) => format!("schema {}", describe(other)),
            None if map.contains_key("room_round") => {
                "an operation (the header line is missing)".to_string()
            }
            None => "an object without \"schema\"".to_string(),
        },
        Ok(other) => describe(&other),
        Err(_) => format!("{} (not JSON)", excerpt(text)),
    };
    Err(HistoryError::Header { line, found })
}

fn parse_op(line: usize, text: &str, rounds: &mut Interner) -> Result<Op, HistoryError> {
    // serde would also take a JSON array of the fields in order: refuse it.
    if !text.starts_with('{') {
        return Err(match serde_json::from_str::<Value>(text) {
            Ok(v) => HistoryError::NotAnObject {
                line,
                found: describe(&v),
            },
            Err(e) => json_error(line, e),
        });
    }
    let raw: RawOp<'_> = serde_json::from_str(text).map_err(|e| diagnose(line, text, e))?;
    let outcome = match &*raw.outcome {
        "ok" => OpOutcome::Ok,
        "failed" => OpOutcome::Failed,
        "unknown" => OpOutcome::Unknown,
        other => {
            return Err(HistoryError::UnknownOutcome {
                line,
                found: other.to_string(),
            })
        }
    };
    if raw.value == Some(NO_VALUE) {
        return Err(HistoryError::WrongType {
            line,
            field: "value",
            expected: VALUE,
            found: NO_VALUE.to_string(),
        });
    }
    let response_ns = match raw.response_ns {
        Some(r) if r < raw.invoke_ns => {
            return Err(HistoryError::ResponseBeforeInvoke {
                line,
                invoke_ns: raw.invoke_ns,
                response_ns: r,
            })
        }
        Some(r) => r,
        None if outcome == OpOutcome::Unknown => NO_RESPONSE,
        None => return Err(HistoryError::NoResponse { line, outcome }),
    };
    Ok(Op {
        round: rounds.intern(&raw.room_round),
        worker: raw.worker,
        invoke_ns: raw.invoke_ns,
        response_ns,
        value: raw.value.unwrap_or(NO_VALUE),
        outcome,
        fired: raw.fired,
    })
}

/// What `value` must be.
const VALUE: &str = "null or an integer from 0 to 4294967294";

/// One field of an operation line, for precise messages.
struct FieldSpec {
    name: &'static str,
    expected: &'static str,
    required: bool,
    accepts: fn(&Value) -> bool,
}

fn is_key(v: &Value) -> bool {
    v.is_string() || v.is_u64()
}
fn is_u32(v: &Value) -> bool {
    v.as_u64().is_some_and(|n| n <= u64::from(u32::MAX))
}
fn is_u32_or_null(v: &Value) -> bool {
    v.is_null() || is_u32(v)
}
fn is_u64(v: &Value) -> bool {
    v.is_u64()
}
fn is_u64_or_null(v: &Value) -> bool {
    v.is_null() || v.is_u64()
}
fn is_value(v: &Value) -> bool {
    v.is_null() || v.as_u64().is_some_and(|n| n < u64::from(NO_VALUE))
}
fn is_str(v: &Value) -> bool {
    v.is_string()
}
fn is_bool(v: &Value) -> bool {
    v.is_boolean()
}

const FIELDS: &[FieldSpec] = &[
    FieldSpec {
        name: "room_round",
        expected: "a string or a non-negative integer",
        required: true,
        accepts: is_key,
    },
    FieldSpec {
        name: "worker",
        expected: "an integer from 0 to 4294967295",
        required: true,
        accepts: is_u32,
    },
    FieldSpec {
        name: "player",
        expected: "null or an integer from 0 to 4294967295",
        required: false,
        accepts: is_u32_or_null,
    },
    FieldSpec {
        name: "planned_ns",
        expected: "null or a non-negative integer (ns)",
        required: false,
        accepts: is_u64_or_null,
    },
    FieldSpec {
        name: "invoke_ns",
        expected: "a non-negative integer (ns)",
        required: true,
        accepts: is_u64,
    },
    FieldSpec {
        name: "response_ns",
        expected: "null or a non-negative integer (ns)",
        required: false,
        accepts: is_u64_or_null,
    },
    FieldSpec {
        name: "value",
        expected: VALUE,
        required: false,
        accepts: is_value,
    },
    FieldSpec {
        name: "outcome",
        expected: "\"ok\", \"failed\" or \"unknown\"",
        required: true,
        accepts: is_str,
    },
    FieldSpec {
        name: "fired",
        expected: "true or false",
        required: false,
        accepts: is_bool,
    },
];

/// What the parser said, without its position (always `line 1`: it
/// parsed one line).
fn parser_message(err: &serde_json::Error) -> String {
    let full = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    full.strip_suffix(&suffix).unwrap_or(&full).to_string()
}

/// A line that is not JSON.
fn json_error(line: usize, err: serde_json::Error) -> HistoryError {
    HistoryError::Json {
        line,
        column: err.column(),
        message: parser_message(&err),
    }
}

/// Turns a parser error on an operation line into a precise one. Only
/// runs on failure, so the fast path never builds a `Value`.
fn diagnose(line: usize, text: &str, err: serde_json::Error) -> HistoryError {
    if err.classify() != serde_json::error::Category::Data {
        return json_error(line, err);
    }
    let message = parser_message(&err);
    let map = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => map,
        Ok(other) => {
            return HistoryError::NotAnObject {
                line,
                found: describe(&other),
            }
        }
        Err(_) => return HistoryError::Invalid { line, message },
    };
    for (name, value) in &map {
        match FIELDS.iter().find(|f| f.name == name.as_str()) {
            None => {
                return HistoryError::UnknownField {
                    line,
                    field: name.clone(),
                }
            }
            Some(f) if !(f.accepts)(value) => {
                return HistoryError::WrongType {
                    line,
                    field: f.name,
                    expected: f.expected,
                    found: describe(value),
                }
            }
            Some(_) => {}
        }
    }
    if let Some(f) = FIELDS
        .iter()
        .find(|f| f.required && !map.contains_key(f.name))
    {
        return HistoryError::MissingField {
            line,
            field: f.name,
        };
    }
    // E.g. a field given twice.
    HistoryError::Invalid { line, message }
}

/// The rule a room-round's history broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViolationKind {
    /// Two acknowledged increments returned the same count.
    DuplicateValue,
    /// An acknowledged increment returned 0, or more than the increments
    /// that can have been counted.
    ValueOutOfRange,
    /// An increment returned less than one that completed before it was
    /// invoked.
    RealTimeInversion,
    /// A count no acknowledged increment returned, and no increment of
    /// unknown fate can have produced.
    UnfillableGap,
}

impl ViolationKind {
    /// `duplicate_value`, `value_out_of_range`, `real_time_inversion` or
    /// `unfillable_gap`.
    pub fn as_str(self) -> &'static str {
        match self {
            ViolationKind::DuplicateValue => "duplicate_value",
            ViolationKind::ValueOutOfRange => "value_out_of_range",
            ViolationKind::RealTimeInversion => "real_time_inversion",
            ViolationKind::UnfillableGap => "unfillable_gap",
        }
    }
}

impl fmt::Display for ViolationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why one room-round's history is not linearizable, with a minimal
/// witness. Displays as `kind: explanation`, times in ns, µs or ms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    /// Two acknowledged increments returned the same count (the earlier
    /// invoked first).
    DuplicateValue {
        /// The two increments.
        ops: [Op; 2],
    },
    /// An acknowledged increment returned 0, or more than `acknowledged +
    /// unknown`.
    ValueOutOfRange {
        /// The increment.
        op: Op,
        /// Acknowledged increments of the room-round (with a count or not).
        acknowledged: u64,
        /// Increments of unknown fate.
        unknown: u64,
    },
    /// `ops[0]` completed before `ops[1]` was invoked, yet returned more.
    RealTimeInversion {
        /// The earlier increment, then the later one.
        ops: [Op; 2],
    },
    /// No acknowledged increment returned `gap`; `missing` counts up to it
    /// were returned by none, and each must have been produced by an
    /// increment without a returned count invoked before `bound` (the
    /// increment returning more than `gap` that completed first)
    /// completed; only `eligible` were.
    UnfillableGap {
        /// The first count that cannot be accounted for.
        gap: u32,
        /// The increment it must precede.
        bound: Op,
        /// Counts up to `gap` (itself included) that no acknowledged
        /// increment returned.
        missing: u64,
        /// Increments without a returned count invoked before `bound`
        /// completed.
        eligible: u64,
        /// Increments without a returned count, in all.
        fillers: u64,
        /// How many of `fillers` were acknowledged (without a count).
        acknowledged_without_value: u64,
    },
}

impl Violation {
    /// The rule broken.
    pub fn kind(&self) -> ViolationKind {
        match self {
            Violation::DuplicateValue { .. } => ViolationKind::DuplicateValue,
            Violation::ValueOutOfRange { .. } => ViolationKind::ValueOutOfRange,
            Violation::RealTimeInversion { .. } => ViolationKind::RealTimeInversion,
            Violation::UnfillableGap { .. } => ViolationKind::UnfillableGap,
        }
    }

    /// The witness: one or two operations.
    pub fn ops(&self) -> &[Op] {
        match self {
            Violation::DuplicateValue { ops } | Violation::RealTimeInversion { ops } => ops,
            Violation::ValueOutOfRange { op, .. } => std::slice::from_ref(op),
            Violation::UnfillableGap { bound, .. } => std::slice::from_ref(bound),
        }
    }

    /// The explanation alone, without the kind: one sentence naming the
    /// witness operations with their times and counts.
    pub fn explanation(&self) -> Explanation<'_> {
        Explanation(self)
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind(), self.explanation())
    }
}

/// A [`Violation`]'s explanation, for display ([`Violation::explanation`]).
#[derive(Clone, Copy, Debug)]
pub struct Explanation<'a>(&'a Violation);

impl fmt::Display for Explanation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self.0 {
            Violation::DuplicateValue { ops: [a, b] } => {
                write!(f, "{} and {} both returned {}", Call(&a), Call(&b), a.value)
            }
            Violation::ValueOutOfRange { op, .. } if op.value == 0 => {
                write!(f, "{} returned 0, but counts start at 1", Call(&op))
            }
            Violation::ValueOutOfRange {
                op,
                acknowledged,
                unknown,
            } => write!(
                f,
                "{} returned {}, but at most {} can have been counted ({acknowledged} \
                 acknowledged, {unknown} of unknown fate)",
                Call(&op),
                op.value,
                plural(acknowledged + unknown, "increment"),
            ),
            Violation::RealTimeInversion { ops: [a, b] } => write!(
                f,
                "{} returned {}, yet {}, invoked after it had completed, returned {}",
                Call(&a),
                a.value,
                Call(&b),
                b.value
            ),
            Violation::UnfillableGap {
                gap,
                bound,
                missing,
                eligible,
                fillers,
                acknowledged_without_value,
            } => {
                let kind = if acknowledged_without_value == 0 {
                    "of unknown fate"
                } else {
                    "of unknown fate (or acknowledged without a count)"
                };
                let before = format!(
                    "invoked before {} completed with {}",
                    Call(&bound),
                    bound.value
                );
                if missing <= 1 {
                    write!(
                        f,
                        "no acknowledged increment returned {gap}, so an increment {kind} \
                         {before} must have counted it, and there is none"
                    )?;
                } else {
                    write!(
                        f,
                        "no acknowledged increment returned {gap}, nor {} below it: {missing} \
                         increments {kind} {before} must have counted them, and there {}",
                        plural(missing - 1, "value"),
                        match eligible {
                            0 => "is none".to_string(),
                            1 => "is only 1".to_string(),
                            e => format!("are only {e}"),
                        }
                    )?;
                }
                match fillers - eligible {
                    0 => Ok(()),
                    1 => write!(f, " (1 was invoked later)"),
                    later => write!(f, " ({later} were invoked later)"),
                }
            }
        }
    }
}

/// `1 increment`, `2 increments`.
fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// An operation in a message: `worker 2 (31 µs → 36.5 µs)`.
struct Call<'a>(&'a Op);

impl fmt::Display for Call<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "worker {} ({} → {})",
            self.0.worker,
            time(self.0.invoke_ns),
            time(self.0.response_ns)
        )
    }
}

/// A time on the history's clock, exact: `850 ns`, `31.25 µs`,
/// `1.234567 ms`, `12,345.6 ms`; `no reply` for [`NO_RESPONSE`].
fn time(ns: u64) -> String {
    if ns == NO_RESPONSE {
        return "no reply".into();
    }
    if ns < 1_000 {
        return format!("{ns} ns");
    }
    let (unit, scale, digits) = if ns < 1_000_000 {
        ("µs", 1_000, 3)
    } else {
        ("ms", 1_000_000, 6)
    };
    let whole = thousands(ns / scale);
    let frac = format!("{:0digits$}", ns % scale);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{whole} {unit}")
    } else {
        format!("{whole}.{frac} {unit}")
    }
}

/// Checks room-rounds one after another, reusing its buffers (no
/// allocation per operation, nor per room-round once warm).
#[derive(Debug, Default)]
pub struct Checker {
    /// Acknowledged increments with a count, sorted by count.
    valued: Vec<Op>,
    /// Invocations of the increments without a returned count that may
    /// (unknown) or did (acknowledged) count: the gap fillers.
    fillers: Vec<u64>,
    /// `best[j]`: the index in `valued[j..]` of the earliest response.
    best: Vec<u32>,
}

impl Checker {
    /// A checker with empty buffers.
    pub fn new() -> Checker {
        Checker::default()
    }

    /// Checks one room-round's increments (in any order): `Ok` when they
    /// are linearizable, else the first rule broken, in the order
    /// duplicate value, value out of range, real-time inversion,
    /// unfillable gap. O(n log n).
    ///
    /// Failed increments never counted and are ignored. Increments of
    /// unknown fate may have counted, at any time after their invocation
    /// (a timeout does not stop a request already sent), so their response
    /// is ignored. An acknowledged increment that returned no count did
    /// count, but where is unknown: the gap rule treats it as one of
    /// unknown fate, which keeps the check sound (never a false violation)
    /// at the price of missing some.
    pub fn check_round(&mut self, ops: &[Op]) -> Result<(), Violation> {
        self.valued.clear();
        self.fillers.clear();
        let mut acknowledged = 0u64;
        let mut unknown = 0u64;
        for op in ops {
            match op.outcome {
                OpOutcome::Ok => {
                    acknowledged += 1;
                    if op.value == NO_VALUE {
                        self.fillers.push(op.invoke_ns);
                    } else {
                        self.valued.push(*op);
                    }
                }
                OpOutcome::Unknown => {
                    unknown += 1;
                    self.fillers.push(op.invoke_ns);
                }
                OpOutcome::Failed => {}
            }
        }
        let acknowledged_without_value = acknowledged - self.valued.len() as u64;
        if self.valued.is_empty() {
            return Ok(()); // no count returned: nothing to order
        }
        self.valued
            .sort_unstable_by_key(|o| (o.value, o.invoke_ns, o.response_ns, o.worker));
        let valued = &self.valued[..];

        // (a) Each count is returned once: the k-th increment alone returns k.
        if let Some(w) = valued.windows(2).find(|w| w[0].value == w[1].value) {
            return Err(Violation::DuplicateValue { ops: [w[0], w[1]] });
        }

        // (b) Counts run from 1 to at most the increments that can have counted.
        let first = valued[0];
        let last = valued[valued.len() - 1];
        if first.value == 0 || u64::from(last.value) > acknowledged + unknown {
            let op = if first.value == 0 { first } else { last };
            return Err(Violation::ValueOutOfRange {
                op,
                acknowledged,
                unknown,
            });
        }

        // The earliest response among the counts from j up: `best[j]`.
        let best = &mut self.best;
        best.clear();
        best.resize(valued.len(), 0);
        let mut m = valued.len() - 1;
        for (j, slot) in best.iter_mut().enumerate().rev() {
            if valued[j].response_ns < valued[m].response_ns {
                m = j;
            }
            *slot = m as u32;
        }

        // (c) An increment that completed before another was invoked comes
        // first in any linearization, so it returned less.
        for (op, &b) in valued.iter().zip(&best[1..]) {
            let earliest = valued[b as usize];
            if earliest.response_ns < op.invoke_ns {
                return Err(Violation::RealTimeInversion {
                    ops: [earliest, *op],
                });
            }
        }

        // (d) A count g no acknowledged increment returned was produced by
        // an increment without a returned count, linearized before every
        // increment that returned more; so invoked before the earliest
        // response among those, T(g). T grows with g: match the missing
        // counts in order with the fillers in order of invocation.
        let fillers = &mut self.fillers;
        fillers.sort_unstable();
        let mut matched = 0usize;
        let mut prev = 0u32;
        for (op, &b) in valued.iter().zip(best.iter()) {
            let missing = (op.value - prev - 1) as usize;
            prev = op.value;
            if missing == 0 {
                continue;
            }
            let bound = valued[b as usize];
            // Fillers invoked at or before T (a call invoked at the same ns
            // as another's response overlaps it, as in the real-time rule);
            // at least `matched`, since earlier missing counts had a
            // smaller or equal T.
            let eligible = fillers.partition_point(|&t| t <= bound.response_ns);
            if matched + missing > eligible {
                let gap = op.value - missing as u32 + (eligible - matched) as u32;
                return Err(Violation::UnfillableGap {
                    gap,
                    bound,
                    missing: eligible as u64 + 1,
                    eligible: eligible as u64,
                    fillers: fillers.len() as u64,
                    acknowledged_without_value,
                });
            }
            matched += missing;
        }
        Ok(())
    }
}

/// Checks one room-round's increments: [`Checker::check_round`] with
/// fresh buffers.
pub fn check_round(ops: &[Op]) -> Result<(), Violation> {
    Checker::new().check_round(ops)
}

/// One room-round that is not linearizable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoundViolation {
    /// The room-round's name ([`History::rounds`]).
    pub room_round: String,
    /// Why.
    pub violation: Violation,
}

/// The verdict on a whole history.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Room-rounds checked.
    pub rounds: usize,
    /// Operations, over all room-rounds.
    pub ops: usize,
    /// Room-rounds that are not linearizable.
    pub not_linearizable: usize,
    /// The first of them (at most the `keep` given to [`check`]), in the
    /// order of [`History::rounds`].
    pub violations: Vec<RoundViolation>,
}

impl Report {
    /// Whether every room-round is linearizable.
    pub fn is_linearizable(&self) -> bool {
        self.not_linearizable == 0
    }
}

/// Checks every room-round of `history`, keeping the first `keep`
/// violations (all are counted).
pub fn check(history: &History, keep: usize) -> Report {
    let mut checker = Checker::new();
    let mut report = Report {
        rounds: history.round_count(),
        ops: history.op_count(),
        ..Report::default()
    };
    for (name, ops) in history.rounds() {
        if let Err(violation) = checker.check_round(ops) {
            report.not_linearizable += 1;
            if report.violations.len() < keep {
                report.violations.push(RoundViolation {
                    room_round: name.to_string(),
                    violation,
                });
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(worker: u32, invoke_ns: u64, response_ns: u64, value: u32, outcome: OpOutcome) -> Op {
        Op {
            round: 0,
            worker,
            invoke_ns,
            response_ns,
            value,
            outcome,
            fired: false,
        }
    }
    fn ok(worker: u32, invoke_ns: u64, response_ns: u64, value: u32) -> Op {
        op(worker, invoke_ns, response_ns, value, OpOutcome::Ok)
    }
    fn unknown(worker: u32, invoke_ns: u64) -> Op {
        op(worker, invoke_ns, NO_RESPONSE, NO_VALUE, OpOutcome::Unknown)
    }
    fn failed(worker: u32, invoke_ns: u64, response_ns: u64) -> Op {
        op(worker, invoke_ns, response_ns, NO_VALUE, OpOutcome::Failed)
    }
    fn kind(ops: &[Op]) -> Option<ViolationKind> {
        check_round(ops).err().map(|v| v.kind())
    }

    #[test]
    fn sequential_increments_are_linearizable() {
        let ops: Vec<Op> = (1..=5)
            .map(|v| ok(v % 2, u64::from(v) * 100, u64::from(v) * 100 + 50, v))
            .collect();
        assert_eq!(kind(&ops), None);
        assert_eq!(kind(&[]), None);
    }

    #[test]
    fn overlapping_increments_may_return_out_of_invocation_order() {
        // Invoked 1st, 2nd, 3rd; returned 2, 1, 3: all three overlap.
        let ops = [ok(0, 0, 100, 2), ok(1, 10, 90, 1), ok(2, 20, 120, 3)];
        assert_eq!(kind(&ops), None);
        // In any order of the slice.
        let rev: Vec<Op> = ops.iter().rev().copied().collect();
        assert_eq!(kind(&rev), None);
    }

    #[test]
    fn a_count_returned_twice_is_a_duplicate_value() {
        let ops = [ok(0, 0, 10, 1), ok(1, 5, 15, 1), ok(0, 20, 30, 2)];
        let v = check_round(&ops).unwrap_err();
        assert_eq!(v.kind(), ViolationKind::DuplicateValue);
        assert_eq!(v.ops(), &[ops[0], ops[1]]);
        assert_eq!(
            v.to_string(),
            "duplicate_value: worker 0 (0 ns → 10 ns) and worker 1 (5 ns → 15 ns) both returned 1"
        );
    }

    #[test]
    fn a_later_increment_returning_less_is_a_real_time_inversion() {
        let ops = [ok(0, 0, 10, 2), ok(1, 20, 30, 1)];
        let v = check_round(&ops).unwrap_err();
        assert_eq!(v.kind(), ViolationKind::RealTimeInversion);
        assert_eq!(v.ops(), &[ops[0], ops[1]]);
        // Touching is overlapping: a response at the very invocation is fine.
        assert_eq!(kind(&[ok(0, 0, 20, 2), ok(1, 20, 30, 1)]), None);
    }

    #[test]
    fn the_inversion_is_found_among_many() {
        let mut ops: Vec<Op> = (1..=1000)
            .map(|v| ok(0, u64::from(v) * 10, u64::from(v) * 10 + 5, v))
            .collect();
        // Swap the counts of two far-apart sequential increments.
        ops[100].value = 901;
        ops[900].value = 101;
        let v = check_round(&ops).unwrap_err();
        assert_eq!(v.kind(), ViolationKind::RealTimeInversion);
        assert!(v.ops()[0].value > v.ops()[1].value);
        assert!(v.ops()[0].response_ns < v.ops()[1].invoke_ns);
    }

    #[test]
    fn counts_of_zero_or_above_the_increments_are_out_of_range() {
        let v = check_round(&[ok(0, 0, 10, 0)]).unwrap_err();
        assert_eq!(v.kind(), ViolationKind::ValueOutOfRange);
        assert!(v.to_string().contains("counts start at 1"), "{v}");
        // Two acknowledged and one unknown: at most 3 can have counted.
        let ops = [ok(0, 0, 10, 1), ok(1, 20, 30, 4), unknown(2, 5)];
        let v = check_round(&ops).unwrap_err();
        assert_eq!(v.kind(), ViolationKind::ValueOutOfRange);
        assert_eq!(v.ops(), &[ops[1]]);
        assert!(
            v.to_string().ends_with(
                "at most 3 increments can have been counted (2 acknowledged, 1 of unknown fate)"
            ),
            "{v}"
        );
        assert_eq!(
            kind(&[ok(0, 0, 10, 1), ok(1, 20, 30, 3), unknown(2, 5)]),
            None
        );
    }

    #[test]
    fn an_unknown_increment_invoked_early_enough_fills_a_gap() {
        // Count 2 was returned by nobody; the unknown increment, invoked
        // before the one returning 3 completed, can have made it.
        let ops = [ok(0, 0, 10, 1), unknown(1, 15), ok(2, 20, 30, 3)];
        assert_eq!(kind(&ops), None);
        // Invoked while that one ran: still possible.
        assert_eq!(
            kind(&[ok(0, 0, 10, 1), unknown(1, 25), ok(2, 20, 30, 3)]),
            None
        );
        // Invoked at the very ns it completed: they overlap, as in the
        // real-time rule, so still possible.
        assert_eq!(
            kind(&[ok(0, 0, 10, 1), unknown(1, 30), ok(2, 20, 30, 3)]),
            None
        );
        // Invoked only after it completed: count 2 cannot have been made.
        let ops = [ok(0, 0, 10, 1), unknown(1, 40), ok(2, 20, 30, 3)];
        let v = check_round(&ops).unwrap_err();
        assert_eq!(v.kind(), ViolationKind::UnfillableGap);
        assert_eq!(v.ops(), &[ops[2]]);
        assert_eq!(
            v.to_string(),
            "unfillable_gap: no acknowledged increment returned 2, so an increment of unknown \
             fate invoked before worker 2 (20 ns → 30 ns) completed with 3 must have counted \
             it, and there is none (1 was invoked later)"
        );
    }

    #[test]
    fn gaps_are_matched_with_unknowns_in_order() {
        // Missing 2 (before 45 ns) and 4 (before 60 ns): unknowns at 50 and
        // 40 fill them only as 40 → 2, 50 → 4.
        let ops = [
            ok(0, 0, 10, 1),
            ok(0, 20, 45, 3),
            ok(0, 55, 60, 5),
            unknown(1, 50),
            unknown(2, 40),
        ];
        assert_eq!(kind(&ops), None);
        // Both invoked after 45 ns: count 2 has no candidate.
        let ops = [
            ok(0, 0, 10, 1),
            ok(0, 20, 45, 3),
            ok(0, 55, 60, 5),
            unknown(1, 50),
            unknown(2, 46),
        ];
        let v = check_round(&ops).unwrap_err();
        assert_eq!(v.kind(), ViolationKind::UnfillableGap);
        assert!(
            matches!(v, Violation::UnfillableGap { gap: 2, .. }),
            "{v:?}"
        );
        // Counts 2 and 3 both missing before 60 ns, one unknown invoked in time.
        let ops = [
            ok(0, 0, 10, 1),
            ok(0, 20, 60, 4),
            unknown(1, 5),
            unknown(2, 70),
        ];
        let v = check_round(&ops).unwrap_err();
        assert!(
            matches!(
                v,
                Violation::UnfillableGap {
                    gap: 3,
                    missing: 2,
                    eligible: 1,
                    ..
                }
            ),
            "{v:?}"
        );
        assert!(v.to_string().contains("nor 1 value below it"), "{v}");
    }

    #[test]
    fn failed_increments_are_ignored() {
        // A failed increment never counted: neither a duplicate nor a bound.
        let mut f = failed(1, 12, 15);
        f.value = 1;
        assert_eq!(kind(&[ok(0, 0, 10, 1), f, ok(2, 20, 30, 2)]), None);
        // Nor can it fill a gap: two acknowledged cannot make 3.
        let ops = [ok(0, 0, 10, 1), failed(1, 12, 15), ok(2, 20, 30, 3)];
        assert_eq!(kind(&ops), Some(ViolationKind::ValueOutOfRange));
    }

    #[test]
    fn acknowledged_increments_without_a_count_fill_gaps() {
        let ops = [ok(0, 0, 10, 1), ok(1, 12, 15, NO_VALUE), ok(2, 20, 30, 3)];
        assert_eq!(kind(&ops), None);
        let late = [ok(0, 0, 10, 1), ok(1, 32, 35, NO_VALUE), ok(2, 20, 30, 3)];
        let v = check_round(&late).unwrap_err();
        assert_eq!(v.kind(), ViolationKind::UnfillableGap);
        assert!(
            v.to_string().contains("or acknowledged without a count"),
            "{v}"
        );
    }

    #[test]
    fn rules_are_checked_in_order() {
        // Both a duplicate and an inversion: the duplicate is reported.
        let ops = [ok(0, 0, 10, 2), ok(1, 20, 30, 1), ok(2, 40, 50, 1)];
        assert_eq!(kind(&ops), Some(ViolationKind::DuplicateValue));
    }

    #[test]
    fn simulator_operations_convert() {
        let h = HistOp {
            invoke_ns: 100,
            took_ns: 50,
            slot: 7,
            worker: 3,
            value: 0,
            fate: 3,
            ..HistOp::default()
        };
        let o = Op::from(&h);
        assert_eq!(
            (o.round, o.worker, o.response_ns, o.value, o.outcome),
            (7, 3, NO_RESPONSE, NO_VALUE, OpOutcome::Unknown)
        );
        let o = Op::from(&HistOp {
            fate: 1,
            value: 4,
            ..h
        });
        assert_eq!((o.response_ns, o.value, o.outcome), (150, 4, OpOutcome::Ok));
    }

    #[test]
    fn times_are_exact_and_readable() {
        assert_eq!(time(850), "850 ns");
        assert_eq!(time(31_000), "31 µs");
        assert_eq!(time(31_250), "31.25 µs");
        assert_eq!(time(1_234_567), "1.234567 ms");
        assert_eq!(time(12_345_600_000), "12,345.6 ms");
        assert_eq!(time(NO_RESPONSE), "no reply");
    }

    // --- Reading ---

    const HEADER: &str = r#"{"schema":"quizrace.history.v1","players":3}"#;

    fn parse(lines: &[&str]) -> Result<History, HistoryError> {
        read(lines.join("\n").as_bytes())
    }

    fn line(
        room: &str,
        worker: u32,
        invoke: u64,
        response: &str,
        value: &str,
        outcome: &str,
    ) -> String {
        format!(
            r#"{{"room_round":{room},"worker":{worker},"invoke_ns":{invoke},"response_ns":{response},"value":{value},"outcome":"{outcome}"}}"#
        )
    }

    #[test]
    fn a_file_is_read_and_grouped_by_room_round() {
        let a = line("3", 0, 10, "20", "1", "ok");
        let b = line(r#""r1""#, 1, 12, "null", "null", "unknown");
        let c = line(r#""3""#, 1, 30, "40", "2", "ok");
        let d = r#"{"room_round":"r1","worker":2,"player":5,"planned_ns":0,"invoke_ns":5,"response_ns":9,"value":null,"outcome":"failed","fired":true}"#;
        let h = parse(&[HEADER, "", &a, &b, "  ", &c, d, ""]).unwrap();
        assert_eq!(h.header["players"], 3);
        assert_eq!((h.round_count(), h.op_count()), (2, 4));
        let rounds: Vec<(&str, Vec<(u64, OpOutcome)>)> = h
            .rounds()
            .map(|(n, ops)| (n, ops.iter().map(|o| (o.invoke_ns, o.outcome)).collect()))
            .collect();
        assert_eq!(
            rounds,
            [
                ("3", vec![(10, OpOutcome::Ok), (30, OpOutcome::Ok)]),
                ("r1", vec![(12, OpOutcome::Unknown), (5, OpOutcome::Failed)]),
            ]
        );
        let r1 = h.rounds().nth(1).unwrap().1;
        assert_eq!((r1[0].response_ns, r1[0].value), (NO_RESPONSE, NO_VALUE));
        assert!(r1[1].fired);
        let report = check(&h, 20);
        assert!(report.is_linearizable(), "{report:?}");
        assert_eq!((report.rounds, report.ops), (2, 4));
    }

    #[test]
    fn a_header_alone_is_a_valid_empty_history() {
        let h = parse(&[HEADER, ""]).unwrap();
        assert_eq!((h.round_count(), h.op_count()), (0, 0));
        assert!(check(&h, 20).is_linearizable());
    }

    #[test]
    fn an_empty_file_is_an_error() {
        for text in ["", "\n\n  \n"] {
            let e = read(text.as_bytes()).unwrap_err();
            assert!(matches!(e, HistoryError::Empty), "{e:?}");
            assert_eq!(e.to_string(), "the file is empty: expected a header line");
        }
    }

    #[test]
    fn a_file_of_another_schema_is_refused_on_line_1() {
        let e = parse(&[r#"{"schema":"quizrace.result.v2"}"#]).unwrap_err();
        assert!(matches!(e, HistoryError::Header { line: 1, .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            r#"line 1: expected a header {"schema":"quizrace.history.v1"}, found schema `quizrace.result.v2`"#
        );
        // A pretty-printed JSON file, an operation without a header.
        let e = parse(&["{", r#"  "schema": "quizrace.result.v2""#]).unwrap_err();
        assert!(e.to_string().contains("found `{` (not JSON)"), "{e}");
        let e = parse(&[&line("1", 0, 1, "2", "1", "ok")]).unwrap_err();
        assert!(e.to_string().contains("the header line is missing"), "{e}");
    }

    #[test]
    fn malformed_json_names_its_line() {
        let a = line("1", 0, 1, "2", "1", "ok");
        let e = parse(&[HEADER, &a, r#"{"room_round":1,"worker":0,"#]).unwrap_err();
        assert!(matches!(e, HistoryError::Json { line: 3, .. }), "{e:?}");
        assert!(e.to_string().starts_with("line 3: not valid JSON"), "{e}");
        assert!(!e.to_string().contains("line 1 column"), "{e}");
        let e = parse(&[HEADER, "", "[1, 2]"]).unwrap_err();
        assert!(
            matches!(e, HistoryError::NotAnObject { line: 3, .. }),
            "{e:?}"
        );
    }

    #[test]
    fn fields_are_checked_by_name() {
        let e = parse(&[
            HEADER,
            r#"{"room_round":1,"invoke_ns":1,"response_ns":2,"outcome":"ok"}"#,
        ])
        .unwrap_err();
        assert!(
            matches!(
                e,
                HistoryError::MissingField {
                    line: 2,
                    field: "worker"
                }
            ),
            "{e:?}"
        );
        let e = parse(&[HEADER, &line("1", 0, 1, "2", "\"3\"", "ok")]).unwrap_err();
        assert!(
            matches!(
                e,
                HistoryError::WrongType {
                    line: 2,
                    field: "value",
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "line 2: `value` must be null or an integer from 0 to 4294967294, found `\"3\"`"
        );
        let e = parse(&[HEADER, &line("-1", 0, 1, "2", "1", "ok")]).unwrap_err();
        assert!(
            matches!(
                e,
                HistoryError::WrongType {
                    field: "room_round",
                    ..
                }
            ),
            "{e:?}"
        );
        let e = parse(&[HEADER, &line("1", 0, 1, "2", "4294967295", "ok")]).unwrap_err();
        assert!(
            matches!(e, HistoryError::WrongType { field: "value", .. }),
            "{e:?}"
        );
        let e = parse(&[
            HEADER,
            r#"{"room_round":1,"worker":0,"invoke_ns":1,"response_ns":2,"outcome":"ok","answer":7}"#,
        ])
        .unwrap_err();
        assert!(
            matches!(e, HistoryError::UnknownField { line: 2, .. }),
            "{e:?}"
        );
        assert!(
            e.to_string().starts_with("line 2: unknown field `answer`"),
            "{e}"
        );
    }

    #[test]
    fn outcomes_and_times_are_validated() {
        let e = parse(&[HEADER, &line("1", 0, 1, "2", "1", "maybe")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 2: `maybe` is not an outcome; use ok, failed or unknown"
        );
        let e = parse(&[HEADER, &line("1", 0, 10, "5", "1", "ok")]).unwrap_err();
        assert!(
            matches!(
                e,
                HistoryError::ResponseBeforeInvoke {
                    line: 2,
                    invoke_ns: 10,
                    response_ns: 5
                }
            ),
            "{e:?}"
        );
        for outcome in ["ok", "failed"] {
            let e = parse(&[HEADER, &line("1", 0, 10, "null", "null", outcome)]).unwrap_err();
            assert!(
                matches!(e, HistoryError::NoResponse { line: 2, .. }),
                "{e:?}"
            );
        }
        // Unknown without a response (null or absent) is fine.
        let absent = r#"{"room_round":1,"worker":0,"invoke_ns":1,"outcome":"unknown"}"#;
        assert!(parse(&[HEADER, &line("1", 0, 10, "null", "null", "unknown"), absent]).is_ok());
    }

    #[test]
    fn the_caps_hold() {
        let a = line("1", 0, 1, "2", "1", "ok");
        let text = [HEADER, a.as_str(), a.as_str(), a.as_str()].join("\n");
        let e = read_capped(text.as_bytes(), 2).unwrap_err();
        assert!(
            matches!(e, HistoryError::TooMany { line: 4, cap: 2 }),
            "{e:?}"
        );
        let long = format!("{HEADER}\n{}\n", " ".repeat(MAX_LINE + 1));
        let e = read(long.as_bytes()).unwrap_err();
        assert!(matches!(e, HistoryError::LineTooLong { line: 2 }), "{e:?}");
    }

    #[test]
    fn odd_input_is_an_error_never_a_panic() {
        let inputs: [&[u8]; 8] = [
            b"\xff\xfe\n",
            b"null",
            b"[]",
            b"{\"schema\":1}",
            b"{\"schema\":\"quizrace.history.v1\"}\n\xff",
            b"{\"schema\":\"quizrace.history.v1\"}\n{}",
            b"{\"schema\":\"quizrace.history.v1\"}\n{\"room_round\":1.5}",
            b"{\"schema\":\"quizrace.history.v1\"}\n\"ok\"",
        ];
        for input in inputs {
            assert!(read(input).is_err(), "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn the_report_counts_every_violation_and_keeps_the_first() {
        let mut lines = vec![HEADER.to_string()];
        for r in 0..5 {
            lines.push(line(&r.to_string(), 0, 0, "10", "1", "ok"));
            lines.push(line(&r.to_string(), 1, 5, "15", "1", "ok"));
        }
        let h = read(lines.join("\n").as_bytes()).unwrap();
        let report = check(&h, 2);
        assert_eq!(
            (report.rounds, report.ops, report.not_linearizable),
            (5, 10, 5)
        );
        let names: Vec<&str> = report.violations.iter().map(|v| &*v.room_round).collect();
        assert_eq!(names, ["0", "1"]);
        assert!(!report.is_linearizable());
    }

    /// `docs/history.md` shows what `quizrace check` prints for the example.
    #[test]
    fn the_documented_example_has_one_inversion() {
        let h = read(include_str!("../docs/history-example.jsonl").as_bytes()).unwrap();
        let report = check(&h, 20);
        assert_eq!(
            (report.rounds, report.ops, report.not_linearizable),
            (2, 10, 1)
        );
        let v = &report.violations[0];
        assert_eq!(v.room_round, "1");
        assert_eq!(
            v.violation.to_string(),
            "real_time_inversion: worker 1 (31 µs → 36 µs) returned 3, yet worker 0 \
             (40 µs → 45 µs), invoked after it had completed, returned 2"
        );
    }
}
