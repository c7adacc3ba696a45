//! TEMPORARY core (the lead's); replaced by the full module.

use std::fmt;

use crate::sim::HistOp;

/// The schema tag of a history file's header line.
pub const SCHEMA: &str = "quizrace.history.v1";

/// One increment of a room-round's counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Op {
    /// Worker.
    pub worker: u32,
    /// Invocation, ns.
    pub invoke_ns: u64,
    /// Response, ns (`u64::MAX`: none).
    pub response_ns: u64,
    /// Returned value (`u32::MAX`: none).
    pub value: u32,
    /// 1 ok, 2 failed, 3 unknown.
    pub fate: u8,
}

impl From<&HistOp> for Op {
    fn from(h: &HistOp) -> Op {
        Op {
            worker: h.worker as u32,
            invoke_ns: h.invoke_ns,
            response_ns: if h.fate == 3 {
                u64::MAX
            } else {
                h.invoke_ns + h.took_ns as u64
            },
            value: if h.value == 0 { u32::MAX } else { h.value },
            fate: h.fate,
        }
    }
}

/// A violation.
#[derive(Clone, Debug)]
pub struct Violation {
    /// What.
    pub detail: String,
    /// Witness.
    pub ops: Vec<Op>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

/// Checks one room-round.
pub fn check_round(ops: &[Op]) -> Result<(), Violation> {
    let mut ok: Vec<&Op> = ops
        .iter()
        .filter(|o| o.fate == 1 && o.value != u32::MAX)
        .collect();
    ok.sort_by_key(|o| o.value);
    for w in ok.windows(2) {
        if w[0].value == w[1].value {
            return Err(Violation {
                detail: format!("two calls returned {}", w[0].value),
                ops: vec![*w[0], *w[1]],
            });
        }
    }
    let mut min: Option<&Op> = None;
    for o in ok.iter().rev() {
        if let Some(m) = min {
            if m.response_ns < o.invoke_ns {
                return Err(Violation {
                    detail: format!(
                        "a call returned {} after another had returned {}",
                        m.value, o.value
                    ),
                    ops: vec![*m, **o],
                });
            }
        }
        if min.is_none_or(|m| o.response_ns < m.response_ns) {
            min = Some(o);
        }
    }
    Ok(())
}
