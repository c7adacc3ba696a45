//! SVG charts, drawn with plotters' SVG backend into strings.
//!
//! plotters is built without `ttf`, so text is not measured: its naive font
//! estimates a label at 0.7 em per byte and the browser renders the
//! `<text>` elements with its own sans-serif font. Label areas are sized
//! from that estimate with some slack. plotters' SVG backend escapes text
//! and attribute values itself (`<`, `>`, `&`, quotes), so strings are
//! passed to it raw; escaping them here as well would show `&lt;` literally.
//!
//! Legends are drawn by this module below the plot, in pixel coordinates,
//! instead of plotters' in-plot series labels: a sweep can have a line for
//! each of ~19 strategies, and an in-plot box that large would hide the data.

use std::error::Error;
use std::ops::Range;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::summary::SweepSeries;
use super::ReportError;
use crate::format::{duration_ns, rate};
use crate::result::{Class, Percentiles};

/// Chart width in SVG pixels; the page scales charts down to fit (`max-width: 100%`).
const WIDTH: u32 = 900;
/// plotters divides font sizes by 1.24 when writing SVG (its pt → px
/// convention): 15 gives about 12 px text.
const LABEL_FONT: u32 = 15;
const TITLE_FONT: u32 = 20;
/// Approximate advance of one character at [`LABEL_FONT`], matching
/// plotters' naive estimate (0.7 em, with em = size / 1.24²).
const CHAR_PX: u32 = 7;

/// Line colours for series, chosen to stay distinguishable from each other
/// and on white; cycled when there are more series than colours.
const PALETTE: [RGBColor; 20] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(0, 65, 130),
    RGBColor(180, 90, 0),
    RGBColor(0, 110, 60),
    RGBColor(150, 20, 60),
    RGBColor(90, 50, 140),
    RGBColor(95, 60, 40),
    RGBColor(170, 60, 140),
    RGBColor(60, 60, 60),
    RGBColor(120, 120, 0),
    RGBColor(0, 120, 140),
];

/// Colours of the three verdict classes (also used by the page's CSS).
pub(crate) fn class_color(class: Class) -> RGBColor {
    match class {
        Class::Exact => RGBColor(26, 127, 55),
        Class::Expected => RGBColor(191, 135, 0),
        Class::Unexpected => RGBColor(207, 34, 46),
        Class::Inconclusive => RGBColor(130, 80, 223),
    }
}

const GRID: RGBColor = RGBColor(225, 225, 225);

#[derive(Clone, Copy, Debug)]
enum Marker {
    Circle,
    Triangle,
    Square,
    Diamond,
}

impl Marker {
    fn nth(i: usize) -> Marker {
        [
            Marker::Circle,
            Marker::Triangle,
            Marker::Square,
            Marker::Diamond,
        ][i % 4]
    }
}

type DrawResult = Result<(), Box<dyn Error>>;

/// A legend entry: label, colour, marker.
struct Entry {
    label: String,
    color: RGBColor,
    marker: Marker,
}

/// Draws `marker` centred at `at` on any area.
fn draw_marker<DB, CT>(
    area: &DrawingArea<DB, CT>,
    at: CT::From,
    m: Marker,
    c: RGBColor,
) -> DrawResult
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
    CT: plotters::coord::CoordTranslate,
{
    let style = c.filled();
    match m {
        Marker::Circle => area.draw(&(EmptyElement::at(at) + Circle::new((0, 0), 4, style)))?,
        Marker::Triangle => area
            .draw(&(EmptyElement::at(at) + Polygon::new(vec![(0, -5), (5, 4), (-5, 4)], style)))?,
        Marker::Square => {
            area.draw(&(EmptyElement::at(at) + Rectangle::new([(-4, -4), (4, 4)], style)))?
        }
        Marker::Diamond => area.draw(
            &(EmptyElement::at(at) + Polygon::new(vec![(0, -5), (5, 0), (0, 5), (-5, 0)], style)),
        )?,
    }
    Ok(())
}

/// Height a legend of `entries` needs when wrapped to [`WIDTH`].
fn legend_height(entries: &[Entry]) -> u32 {
    legend_layout(entries)
        .last()
        .map_or(0, |&(_, y)| y as u32 + 22)
}

/// Top-left position of each entry, wrapping rows at the chart width.
fn legend_layout(entries: &[Entry]) -> Vec<(i32, i32)> {
    let (mut x, mut y) = (60i32, 8i32);
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let w = (30 + CHAR_PX * e.label.len() as u32 + 18) as i32;
        if x + w > WIDTH as i32 - 10 && x > 60 {
            x = 60;
            y += 22;
        }
        out.push((x, y));
        x += w;
    }
    out
}

fn draw_legend<DB>(area: &DrawingArea<DB, Shift>, entries: &[Entry]) -> DrawResult
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
{
    let font = ("sans-serif", LABEL_FONT).into_font().color(&BLACK);
    for (e, (x, y)) in entries.iter().zip(legend_layout(entries)) {
        area.draw(&PathElement::new(
            vec![(x, y + 8), (x + 24, y + 8)],
            e.color.stroke_width(2),
        ))?;
        draw_marker(area, (x + 12, y + 8), e.marker, e.color)?;
        area.draw(&Text::new(e.label.clone(), (x + 30, y + 1), font.clone()))?;
    }
    Ok(())
}

/// Renders one chart into an SVG string: the plot on top, the legend below.
fn render(
    title: &str,
    plot_height: u32,
    legend: &[Entry],
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> DrawResult,
) -> Result<String, ReportError> {
    let legend_h = legend_height(legend);
    let mut svg = String::new();
    let result = (|| -> DrawResult {
        let root =
            SVGBackend::with_string(&mut svg, (WIDTH, plot_height + legend_h)).into_drawing_area();
        root.fill(&WHITE)?;
        let (plot, legend_area) = root.split_vertically(plot_height);
        draw(&plot)?;
        draw_legend(&legend_area, legend)?;
        root.present()?;
        Ok(())
    })();
    result.map_err(|e| ReportError::Chart {
        chart: title.to_string(),
        reason: e.to_string(),
    })?;
    Ok(without_repeated_texts(&svg))
}

/// `svg` without a `<text>` element that repeats an earlier one exactly
/// (same place, same words): plotters draws a log axis's label twice where
/// two of its key points coincide, and the copies only thicken the glyphs.
fn without_repeated_texts(svg: &str) -> String {
    let mut seen = std::collections::HashSet::new();
    let mut out = String::with_capacity(svg.len());
    let mut rest = svg;
    while let Some(start) = rest.find("<text") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find("</text>") else {
            break;
        };
        let element = &rest[start..start + len + "</text>".len()];
        if seen.insert(element) {
            out.push_str(element);
        }
        rest = &rest[start + element.len()..];
    }
    out.push_str(rest);
    out
}

/// A log-scale range covering `values` (all > 0), widened to whole powers of
/// `base` (10 for latency and rate axes, 2 for worker counts), so plotters'
/// log axis always has labelled powers inside it.
fn whole_powers(base: f64, values: impl Iterator<Item = f64>) -> Option<Range<f64>> {
    let (lo, hi) = min_max(values)?;
    let lo = base.powf(lo.log(base).floor());
    let mut hi = base.powf(hi.log(base).ceil());
    if hi <= lo {
        hi = lo * base;
    }
    // plotters loops forever on an infinite axis end; no chart instead.
    (lo.is_finite() && hi.is_finite() && lo > 0.0).then_some(lo..hi)
}

fn decades(values: impl Iterator<Item = f64>) -> Option<Range<f64>> {
    whole_powers(10.0, values)
}

/// Labels for a log axis: plotters puts ticks at every integer multiple of
/// a power of ten when the range spans few decades, and those crowd
/// together at the top of each decade. Only 1, 2 and 5 times a power of ten
/// get a label; the other ticks keep their grid line.
fn log_label(v: f64, fmt: fn(f64) -> String) -> String {
    if v <= 0.0 {
        return String::new();
    }
    let mantissa = v / 10f64.powf(v.log10().floor());
    if [1.0, 2.0, 5.0, 10.0]
        .iter()
        .any(|m| (mantissa - m).abs() < 1e-6)
    {
        fmt(v)
    } else {
        String::new()
    }
}

/// Throughput against workers, one line per series. `series` must not be
/// empty (the page says "no sweep data" instead of drawing an empty chart).
pub(crate) fn sweep_chart(title: &str, series: &[SweepSeries]) -> Result<String, ReportError> {
    let entries: Vec<Entry> = series
        .iter()
        .enumerate()
        .map(|(i, s)| Entry {
            label: s.label.clone(),
            color: PALETTE[i % PALETTE.len()],
            marker: Marker::nth(i),
        })
        .collect();
    let all = || series.iter().flat_map(|s| s.points.iter());
    // Workers are usually swept in powers of two: a log2 axis spaces them
    // evenly, where a linear one would crowd the small counts together.
    let x = powers_of_two(all().map(|p| p.0 as f64)).unwrap_or(1.0..2.0);
    let y = decades(all().map(|p| p.1)).unwrap_or(1.0..10.0);
    render(title, 420, &entries, |area| {
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", TITLE_FONT))
            .margin(12)
            .margin_right(24)
            .x_label_area_size(48)
            .y_label_area_size(78)
            .build_cartesian_2d(x.clone().log_scale().base(2.0), y.log_scale())?;
        chart
            .configure_mesh()
            .x_desc("workers per process (log₂ scale)")
            .y_desc("throughput (answers/s, log scale)")
            .x_labels(8)
            .y_labels(30)
            .x_label_formatter(&|w| {
                if (w - w.round()).abs() < 1e-6 {
                    format!("{w:.0}")
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|v| log_label(*v, rate))
            .label_style(("sans-serif", LABEL_FONT))
            .axis_desc_style(("sans-serif", LABEL_FONT))
            .max_light_lines(0)
            .bold_line_style(GRID)
            .draw()?;
        for (s, e) in series.iter().zip(&entries) {
            let pts: Vec<(f64, f64)> = s
                .points
                .iter()
                .filter(|p| p.0 > 0 && p.1 > 0.0)
                .map(|&(w, v)| (w as f64, v))
                .collect();
            chart.draw_series(LineSeries::new(
                pts.iter().copied(),
                e.color.stroke_width(2),
            ))?;
            for &p in &pts {
                draw_marker(chart.plotting_area(), p, e.marker, e.color)?;
            }
        }
        Ok(())
    })
}

fn powers_of_two(values: impl Iterator<Item = f64>) -> Option<Range<f64>> {
    whole_powers(2.0, values)
}

/// Smallest and largest of the finite, positive `values`.
fn min_max(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((f64::min(lo, v), f64::max(hi, v))),
        })
}

/// Reads one percentile out of a [`Percentiles`].
type Pick = fn(&Percentiles) -> u64;

/// The percentiles drawn by [`percentile_chart`], with their legend labels.
const PERCENTILES: [(&str, Pick); 4] = [
    ("p50", |p| p.p50),
    ("p90", |p| p.p90),
    ("p99", |p| p.p99),
    ("p99.9", |p| p.p999),
];

/// A dot plot of latency percentiles: one row per strategy, p50/p90/p99/p99.9
/// on a log axis, joined by a line showing the spread. Zero values (nothing
/// measured) are not drawn. `None` when no row has any non-zero value.
pub(crate) fn percentile_chart(
    title: &str,
    x_desc: &str,
    rows: &[(String, Percentiles)],
) -> Result<Option<String>, ReportError> {
    let Some(x) = decades(
        rows.iter()
            .flat_map(|(_, p)| PERCENTILES.iter().map(move |(_, f)| f(p) as f64)),
    ) else {
        return Ok(None);
    };
    let entries: Vec<Entry> = PERCENTILES
        .iter()
        .enumerate()
        .map(|(i, (label, _))| Entry {
            label: (*label).to_string(),
            color: [PALETTE[0], PALETTE[2], PALETTE[1], PALETTE[3]][i],
            marker: Marker::nth(i),
        })
        .collect();
    let n = rows.len() as f64;
    let name_w = rows.iter().map(|(s, _)| s.len() as u32).max().unwrap_or(4);
    let height = 110 + 26 * rows.len() as u32;
    // Rows sit at integer y values, row 0 at the top (the axis runs
    // bottom-up, so the index is flipped), each in a band of height 1. A
    // plain numeric axis is used rather than plotters' segmented one, whose
    // key points vanish for a single row: with `rows + 1` requested labels
    // plotters picks a step of 1, so exactly the rows get labels.
    let row_y = |i: usize| n - 1.0 - i as f64;
    render(title, height, &entries, |area| {
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", TITLE_FONT))
            .margin(12)
            // The last axis label is centred on the right edge: leave it room.
            .margin_right(30)
            .x_label_area_size(48)
            .y_label_area_size(name_w * CHAR_PX + 16)
            .build_cartesian_2d(x.clone().log_scale(), -0.5..n - 0.5)?;
        let label = |v: &f64| {
            let row = n - 1.0 - v.round();
            if (v - v.round()).abs() > 1e-6 || row < 0.0 {
                return String::new();
            }
            rows.get(row as usize)
                .map_or_else(String::new, |(name, _)| name.clone())
        };
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .x_labels(30)
            .y_labels(rows.len() + 1)
            .x_label_formatter(&|v| log_label(*v, duration_ns))
            .y_label_formatter(&label)
            .label_style(("sans-serif", LABEL_FONT))
            .axis_desc_style(("sans-serif", LABEL_FONT))
            .max_light_lines(0)
            .bold_line_style(GRID)
            .draw()?;
        for (i, (_, p)) in rows.iter().enumerate() {
            let vals: Vec<f64> = PERCENTILES
                .iter()
                .map(|(_, f)| f(p) as f64)
                .filter(|v| *v > 0.0)
                .collect();
            if let (Some(lo), Some(hi)) = (
                vals.iter().copied().reduce(f64::min),
                vals.iter().copied().reduce(f64::max),
            ) {
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(lo, row_y(i)), (hi, row_y(i))],
                    RGBColor(170, 170, 170).stroke_width(2),
                )))?;
            }
            for ((_, f), e) in PERCENTILES.iter().zip(&entries) {
                let v = f(p) as f64;
                if v > 0.0 {
                    draw_marker(chart.plotting_area(), (v, row_y(i)), e.marker, e.color)?;
                }
            }
        }
        Ok(())
    })
    .map(Some)
}

/// Font size of point names in the scatter (about 10.5 px in the SVG).
const NAME_FONT: u32 = 13;

/// A label's box in backend pixels: `(left, top, right, bottom)`.
type Rect = (i32, i32, i32, i32);

/// Picks where a point's name goes, relative to the point: the first of
/// right-above, right-below, left-above, left-below whose estimated box
/// overlaps no label placed so far (`None`: every place is taken, and the
/// name is left out). Without this, names
/// of strategies with similar cost pile up into an unreadable smear.
fn place_label(point: (i32, i32), name: &str, placed: &mut Vec<Rect>) -> Option<(i32, i32)> {
    // plotters' naive estimate at NAME_FONT: 0.7 em per byte, em = size / 1.24².
    let w = (f64::from(NAME_FONT) / 1.5376 * 0.7 * name.len() as f64).ceil() as i32;
    // The box a browser gives the text (ascent and descent), with a pixel
    // to spare: about 1.3 times its font size of ~10.5 px.
    let h = 15;
    let candidates = [(7, -h - 1), (7, 2), (-7 - w, -h - 1), (-7 - w, 2)];
    let rect = |(dx, dy): (i32, i32)| {
        let (x, y) = (point.0 + dx, point.1 + dy);
        (x, y, x + w, y + h)
    };
    let overlaps = |a: Rect, b: Rect| a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3;
    let chosen = candidates
        .into_iter()
        .find(|&c| placed.iter().all(|&r| !overlaps(rect(c), r)))?;
    placed.push(rect(chosen));
    Some(chosen)
}

/// One point of the cost-against-correctness chart.
#[derive(Clone, Debug)]
pub(crate) struct CostPoint {
    /// Strategy name (drawn next to the point).
    pub(crate) name: String,
    /// p99 of one record call, ns.
    pub(crate) p99_ns: f64,
    /// Answers per second.
    pub(crate) answers_per_s: f64,
    /// Verdict class (the point's colour).
    pub(crate) class: Class,
}

/// Throughput against p99 latency, coloured by verdict. Points with a zero
/// coordinate cannot sit on log axes and are left out. `None` when no point
/// remains.
pub(crate) fn cost_chart(title: &str, points: &[CostPoint]) -> Result<Option<String>, ReportError> {
    let drawable: Vec<&CostPoint> = points
        .iter()
        .filter(|p| p.p99_ns > 0.0 && p.answers_per_s > 0.0)
        .collect();
    let (Some(x), Some(y)) = (
        decades(drawable.iter().map(|p| p.p99_ns)),
        decades(drawable.iter().map(|p| p.answers_per_s)),
    ) else {
        return Ok(None);
    };
    let classes = [
        Class::Exact,
        Class::Expected,
        Class::Unexpected,
        Class::Inconclusive,
    ];
    let entries: Vec<Entry> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| Entry {
            label: match c {
                Class::Exact => "exact".to_string(),
                Class::Expected => "anomalies (expected: racy)".to_string(),
                Class::Unexpected => "anomalies (UNEXPECTED: correct strategy)".to_string(),
                Class::Inconclusive => "inconclusive (too few rounds judged)".to_string(),
            },
            color: class_color(*c),
            marker: Marker::nth(i),
        })
        .collect();
    render(title, 460, &entries, |area| {
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", TITLE_FONT))
            .margin(12)
            // Room on the right for the names of the rightmost points.
            .margin_right(110)
            .x_label_area_size(48)
            .y_label_area_size(78)
            .build_cartesian_2d(x.clone().log_scale(), y.clone().log_scale())?;
        chart
            .configure_mesh()
            .x_desc("p99 latency of one record call (log scale)")
            .y_desc("throughput (answers/s, log scale)")
            .x_labels(30)
            .y_labels(30)
            .x_label_formatter(&|v| log_label(*v, duration_ns))
            .y_label_formatter(&|v| log_label(*v, rate))
            .label_style(("sans-serif", LABEL_FONT))
            .axis_desc_style(("sans-serif", LABEL_FONT))
            .max_light_lines(0)
            .bold_line_style(GRID)
            .draw()?;
        let font = ("sans-serif", NAME_FONT)
            .into_font()
            .color(&RGBColor(50, 50, 50));
        let mut placed: Vec<Rect> = Vec::new();
        for p in &drawable {
            let i = classes.iter().position(|c| *c == p.class).unwrap_or(0);
            let e = &entries[i];
            let at = (p.p99_ns, p.answers_per_s);
            draw_marker(chart.plotting_area(), at, e.marker, e.color)?;
            // A name with no free place is left out rather than drawn over
            // another; the results table above the chart has every figure.
            if let Some(offset) = place_label(chart.backend_coord(&at), &p.name, &mut placed) {
                chart.plotting_area().draw(
                    &(EmptyElement::at(at) + Text::new(p.name.clone(), offset, font.clone())),
                )?;
            }
        }
        Ok(())
    })
    .map(Some)
}
