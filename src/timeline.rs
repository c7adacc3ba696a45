//! One room-round's operations drawn as a timeline (SVG), the way Jepsen
//! and Porcupine draw histories: one lane per worker, one bar per call from
//! its invocation to its response, labelled with the count it returned.
//!
//! * green: acknowledged; grey: failed (did not apply); orange, open at the
//!   right: unknown (its reply never came, so it may have applied any time
//!   after it started);
//! * a bar with a dark outline and `end` fired `endQuizTime`; a dashed
//!   vertical line marks each `endQuizTime`;
//! * red outlines: the witness of a linearizability violation (two calls
//!   whose returned counts no order of the calls explains);
//! * purple lines: faults injected around the room-round (a server pause
//!   and its end, a replica promoted, the old primary demoted).
//!
//! Times are relative to the first invocation of the room-round.

use std::fmt::Write;

use crate::format::duration_ns;
use crate::result::Timeline;

const WIDTH: f64 = 760.0;
const LEFT: f64 = 86.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 44.0;
const LANE: f64 = 26.0;
const BOTTOM: f64 = 34.0;

/// Escapes text for SVG.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The timeline as a self-contained SVG document, titled `title`.
pub fn svg(t: &Timeline, title: &str) -> String {
    let mut workers: Vec<u16> = t.ops.iter().map(|o| o.worker).collect();
    workers.sort_unstable();
    workers.dedup();
    let start = t.ops.iter().map(|o| o.invoke_ns).min().unwrap_or(0);
    let responded_end = t
        .ops
        .iter()
        .filter(|o| o.fate != 3)
        .map(|o| o.invoke_ns + o.took_ns as u64)
        .chain(t.fires.iter().copied())
        .chain(t.ops.iter().map(|o| o.invoke_ns))
        .chain(t.events.iter().map(|(at, _)| *at))
        .max()
        .unwrap_or(start);
    // An event just before the first call widens the picture to the left.
    let start = t
        .events
        .iter()
        .map(|(at, _)| *at)
        .chain(std::iter::once(start))
        .min()
        .unwrap_or(start);
    // Unknown calls stay open: draw them to a little past the last event.
    let span = (responded_end - start).max(1) as f64;
    let end = start as f64 + span * 1.08;
    let plot = WIDTH - LEFT - RIGHT;
    let x = |ns: u64| LEFT + (ns as f64 - start as f64) / (end - start as f64) * plot;
    let height = TOP + LANE * workers.len().max(1) as f64 + BOTTOM;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = write!(
        s,
        r#"<text x="{LEFT}" y="16" font-size="13" font-weight="bold">{}</text>"#,
        esc(title)
    );
    for (lane, w) in workers.iter().enumerate() {
        let y = TOP + lane as f64 * LANE;
        let _ = write!(
            s,
            r##"<text x="{}" y="{}" text-anchor="end" fill="#444">worker {w}</text><line x1="{LEFT}" x2="{}" y1="{}" y2="{}" stroke="#eee"/>"##,
            LEFT - 8.0,
            y + LANE * 0.6,
            WIDTH - RIGHT,
            y + LANE - 1.0,
            y + LANE - 1.0
        );
    }
    // Where the next call of the same worker starts: a label that would
    // run into it is left out (the bar's tooltip still has it). One sort,
    // not a scan per call: a hot room has thousands of calls.
    let mut order: Vec<usize> = (0..t.ops.len()).collect();
    order.sort_unstable_by_key(|&i| (t.ops[i].worker, t.ops[i].invoke_ns));
    let mut next = vec![None; t.ops.len()];
    for w in order.windows(2) {
        if t.ops[w[0]].worker == t.ops[w[1]].worker {
            next[w[0]] = Some(t.ops[w[1]].invoke_ns);
        }
    }
    let next_start = |i: usize| next[i];
    // The fault labels' boxes (drawn last, over the lanes): a call's label
    // that would run into one is left out, as above.
    let event_boxes: Vec<(f64, f64, f64, f64)> = t
        .events
        .iter()
        .enumerate()
        .map(|(k, (at, what))| {
            let (left, base) = (x(*at) + 3.0, TOP + 10.0 + 12.0 * (k % 3) as f64);
            (
                left,
                base - 11.0,
                left + 7.5 * what.chars().count() as f64,
                base + 3.0,
            )
        })
        .collect();
    for (i, o) in t.ops.iter().enumerate() {
        let lane = workers.binary_search(&o.worker).unwrap_or(0);
        let y = TOP + lane as f64 * LANE + 4.0;
        let x0 = x(o.invoke_ns);
        let x1 = if o.fate == 3 {
            WIDTH - RIGHT
        } else {
            x(o.invoke_ns + o.took_ns as u64).max(x0 + 2.0)
        };
        let (fill, dash) = match o.fate {
            1 => ("#7fc97f", ""),
            2 => ("#bbbbbb", ""),
            _ => ("#fdb462", r#" stroke-dasharray="4 3""#),
        };
        let witness = t.highlight.contains(&i);
        let stroke = if witness {
            r##"stroke="#d7191c" stroke-width="3""##
        } else if o.fired {
            r##"stroke="#222" stroke-width="2""##
        } else {
            r##"stroke="#555" stroke-width="0.6""##
        };
        let value = if o.value == 0 {
            String::new()
        } else {
            format!("→{}", o.value)
        };
        let fired = if o.fired { " end" } else { "" };
        let _ = write!(
            s,
            r#"<rect x="{x0:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{fill}" {stroke}{dash}><title>player {} on worker {}: {} at +{}, took {}{}{}</title></rect>"#,
            x1 - x0,
            LANE - 8.0,
            o.player,
            o.worker,
            o.outcome(),
            duration_ns((o.invoke_ns - start) as f64),
            duration_ns(o.took_ns as f64),
            if o.value == 0 {
                String::new()
            } else {
                format!(", returned {}", o.value)
            },
            if o.fired { ", fired endQuizTime" } else { "" },
        );
        let room = next_start(i).map_or(f64::INFINITY, |n| x(n) - x0);
        let label = format!("p{}{}{}", o.player, value, fired);
        let width = 7.0 * label.chars().count() as f64;
        if room < width {
            continue;
        }
        let (left, base) = (x0 + 3.0, y + LANE * 0.5);
        let hits = |b: &(f64, f64, f64, f64)| {
            left < b.2 && b.0 < left + width && base - 11.0 < b.3 && b.1 < base + 3.0
        };
        if event_boxes.iter().any(hits) {
            continue;
        }
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" fill="#111">p{}{}{}</text>"##,
            x0 + 3.0,
            y + LANE * 0.5,
            o.player,
            esc(&value),
            fired
        );
    }
    // A fire's label is left out when it would run into the previous one
    // (two ends close together: the dashed lines still show both).
    let mut labelled_at = f64::NEG_INFINITY;
    for &f in &t.fires {
        let fx = x(f);
        let _ = write!(
            s,
            r##"<line x1="{fx:.1}" x2="{fx:.1}" y1="{}" y2="{}" stroke="#222" stroke-dasharray="3 3"/>"##,
            TOP - 6.0,
            height - BOTTOM + 2.0,
        );
        if fx - labelled_at >= 80.0 {
            labelled_at = fx;
            let _ = write!(
                s,
                r##"<text x="{fx:.1}" y="{}" text-anchor="middle" fill="#222">endQuizTime</text>"##,
                TOP - 8.0
            );
        }
    }
    // Injected faults: a purple line each, labelled at the top.
    for (k, (at, what)) in t.events.iter().enumerate() {
        let ex = x(*at);
        let _ = write!(
            s,
            r##"<line x1="{ex:.1}" x2="{ex:.1}" y1="{}" y2="{}" stroke="#7b3294" stroke-width="2"/><text x="{:.1}" y="{}" fill="#7b3294" font-weight="bold">{}</text>"##,
            TOP - 4.0,
            height - BOTTOM + 2.0,
            ex + 3.0,
            TOP + 10.0 + 12.0 * (k % 3) as f64,
            esc(what)
        );
    }
    // The time axis: five ticks.
    let axis_y = height - BOTTOM + 4.0;
    let _ = write!(
        s,
        r##"<line x1="{LEFT}" x2="{}" y1="{axis_y}" y2="{axis_y}" stroke="#888"/>"##,
        WIDTH - RIGHT
    );
    for k in 0..=4 {
        let ns = span * 1.08 * k as f64 / 4.0;
        let tx = LEFT + plot * k as f64 / 4.0;
        let _ = write!(
            s,
            r##"<line x1="{tx:.1}" x2="{tx:.1}" y1="{axis_y}" y2="{}" stroke="#888"/><text x="{tx:.1}" y="{}" text-anchor="{}" fill="#444">+{}</text>"##,
            axis_y + 4.0,
            axis_y + 16.0,
            match k {
                0 => "start",
                4 => "end",
                _ => "middle",
            },
            duration_ns(ns)
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::HistOp;

    #[test]
    fn draws_lanes_bars_values_and_the_witness() {
        let op = |worker, invoke_ns, value, fate, fired| HistOp {
            invoke_ns,
            took_ns: 1_000,
            worker,
            value,
            fate,
            fired,
            player: worker as u32,
            ..HistOp::default()
        };
        let t = Timeline {
            slot: 3,
            why: "non_linearizable".into(),
            ops: vec![
                op(0, 0, 1, 1, false),
                op(1, 500, 1, 1, true),
                op(2, 700, 0, 3, false),
            ],
            fires: vec![1_500],
            highlight: vec![0, 1],
            events: vec![(600, "replica promoted".into())],
        };
        let svg = svg(&t, "racy-rmw <room-round 3>");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.contains("worker 2"));
        assert!(svg.contains("→1"));
        assert_eq!(svg.matches("#d7191c").count(), 2, "the two witness bars");
        assert!(svg.contains("endQuizTime"));
        assert!(svg.contains("&lt;room-round 3&gt;"), "the title is escaped");
        assert!(
            svg.contains(r#"stroke-dasharray="4 3""#),
            "the unknown call is open"
        );
        assert!(svg.contains("replica promoted"), "fault events are drawn");
    }

    /// The title has its own row: an `endQuizTime` label at the very start
    /// of the axis (where the title runs) sits below it, never on it.
    #[test]
    fn an_end_label_under_the_title_does_not_touch_it() {
        let t = Timeline {
            slot: 1,
            why: "duplicate end".into(),
            ops: vec![HistOp {
                took_ns: 10,
                fired: true,
                fate: 1,
                value: 1,
                ..HistOp::default()
            }],
            fires: vec![0],
            highlight: vec![],
            events: vec![],
        };
        let svg = svg(&t, "default — check-then-act: room-round 1 (duplicate end)");
        let baseline = |text: &str| -> f64 {
            let at = svg.find(&format!(">{text}<")).expect(text);
            let tag = &svg[svg[..at].rfind("<text").unwrap()..at];
            let y = tag.split(" y=\"").nth(1).unwrap();
            y[..y.find('"').unwrap()].parse().unwrap()
        };
        let title = baseline("default — check-then-act: room-round 1 (duplicate end)");
        let end = baseline("endQuizTime");
        // 13 px bold title (descent ~4 px) over an 11 px label (ascent ~11).
        assert!(end - 11.0 > title + 4.0, "title at {title}, label at {end}");
    }
}
