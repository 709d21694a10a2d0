//! `--chart`: kept output and per-policy rates against the budget, over time.
//!
//! Three panels sharing the time axis, each value an interval's average drawn as a step:
//! 1. kept output, stacked by the policy that kept it (the first of its reasons, in priority
//!    order), against the budget (dashed);
//! 2. the rate the controller set for each policy (log scale when rates go low);
//! 3. incoming traffic, for scale.
//!
//! The SVG is written by hand (a few dozen elements; no plotting crate needed). The PNG is the
//! same SVG rasterized by `resvg`, with the Noto Sans font the `notosans` crate bundles loaded
//! as the only font: no system font is read, so a fresh machine draws the same picture.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::CliError;
use crate::series::Series;

const WIDTH: f64 = 1000.0;
const HEIGHT: f64 = 760.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 190.0;
const FONT: &str = "Noto Sans, DejaVu Sans, Helvetica, Arial, sans-serif";
const PALETTE: [&str; 10] = [
    "#d62728", "#ff7f0e", "#2ca02c", "#1f77b4", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// Writes the chart as an SVG and a PNG: at `path` and beside it with the other extension.
/// Returns the files written.
pub fn write(path: &Path, series: &Series, title: &str) -> Result<Vec<PathBuf>, CliError> {
    let is_png = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    let (svg_path, png_path) = if is_png {
        (path.with_extension("svg"), path.to_path_buf())
    } else {
        (path.to_path_buf(), path.with_extension("png"))
    };
    let text = svg(series, title);
    std::fs::write(&svg_path, &text).map_err(|e| CliError::io(&svg_path, e))?;
    let bytes = png(&text).map_err(CliError::Chart)?;
    std::fs::write(&png_path, bytes).map_err(|e| CliError::io(&png_path, e))?;
    Ok(vec![svg_path, png_path])
}

/// Rasterizes an SVG at 1.5× with the bundled font.
pub fn png(svg: &str) -> Result<Vec<u8>, String> {
    use resvg::{tiny_skia, usvg};
    let mut fonts = usvg::fontdb::Database::new();
    fonts.load_font_data(notosans::REGULAR_TTF.to_vec());
    fonts.load_font_data(notosans::BOLD_TTF.to_vec());
    fonts.set_sans_serif_family("Noto Sans");
    let options = usvg::Options {
        font_family: "Noto Sans".into(),
        fontdb: Arc::new(fonts),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(svg, &options).map_err(|e| format!("invalid SVG: {e}"))?;
    let scale = 1.5;
    let size = tree.size();
    let (w, h) = (
        (size.width() * scale).ceil() as u32,
        (size.height() * scale).ceil() as u32,
    );
    let mut pixmap =
        tiny_skia::Pixmap::new(w, h).ok_or_else(|| format!("cannot make a {w}×{h} image"))?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    pixmap
        .encode_png()
        .map_err(|e| format!("cannot encode the PNG: {e}"))
}

/// A panel: a plot area and its value ranges.
struct Panel {
    top: f64,
    height: f64,
    t_max: f64,
    y_max: f64,
    /// Log scale from `y_min` (rates).
    log_from: Option<f64>,
}

impl Panel {
    fn x(&self, t: f64) -> f64 {
        LEFT + (WIDTH - LEFT - RIGHT) * (t / self.t_max.max(1e-9))
    }

    fn y(&self, v: f64) -> f64 {
        let f = match self.log_from {
            Some(min) => (v.max(min).log10() - min.log10()) / (0.0 - min.log10()),
            None => v / self.y_max.max(1e-9),
        };
        self.top + self.height * (1.0 - f.clamp(0.0, 1.05))
    }

    fn right(&self) -> f64 {
        WIDTH - RIGHT
    }

    fn bottom(&self) -> f64 {
        self.top + self.height
    }
}

/// The chart as SVG text.
pub fn svg(series: &Series, title: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="{FONT}" font-size="12">"#
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    text(&mut s, LEFT, 28.0, 17.0, "start", "bold", title);
    let t_max = series.points.last().map_or(1.0, |p| p.at.as_secs_f64());
    let bytes_only = series.budget_spans.is_none() && series.budget_bytes.is_some();
    let budget = if bytes_only {
        series.budget_bytes
    } else {
        series.budget_spans
    };
    let kept_max = series
        .points
        .iter()
        .map(|p| if bytes_only { p.kept_bytes } else { p.kept })
        .fold(0.0, f64::max);
    let y_max = nice_max(kept_max.max(budget.unwrap_or(0.0) * 1.25));
    let unit = if bytes_only { "bytes/s" } else { "spans/s" };

    // Panel 1: kept output by policy against the budget.
    let p1 = Panel {
        top: 60.0,
        height: 330.0,
        t_max,
        y_max,
        log_from: None,
    };
    frame(
        &mut s,
        &p1,
        &format!("kept output, {unit}"),
        &ticks(y_max),
        false,
    );
    let mut legend: Vec<(String, String, bool)> = Vec::new();
    if bytes_only {
        let values: Vec<f64> = series.points.iter().map(|p| p.kept_bytes).collect();
        step_line(&mut s, &p1, series, &values, "#222222", 2.0, None);
        legend.push(("kept".into(), "#222222".into(), false));
    } else {
        let n = series.names.len() + 1;
        let mut lower = vec![0.0; series.points.len()];
        for i in 0..n {
            let values: Vec<f64> = series
                .points
                .iter()
                .zip(&lower)
                .map(|(p, l)| l + p.kept_by_policy.get(i).copied().unwrap_or(0.0))
                .collect();
            if values.iter().zip(&lower).all(|(v, l)| v <= l) {
                continue;
            }
            let color = color(i, n);
            step_area(&mut s, &p1, series, &lower, &values, &color);
            let name = series
                .names
                .get(i)
                .cloned()
                .unwrap_or_else(|| "default_keep".into());
            legend.push((format!("kept by {name}"), color, false));
            lower = values;
        }
        step_line(&mut s, &p1, series, &lower, "#222222", 1.5, None);
        legend.push(("kept, total".into(), "#222222".into(), false));
    }
    if let Some(b) = budget {
        let y = p1.y(b);
        let _ = writeln!(
            s,
            r##"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#000000" stroke-width="2" stroke-dasharray="8 5"/>"##,
            p1.x(0.0),
            p1.right()
        );
        legend.push(("budget".into(), "#000000".into(), true));
    }
    legend_box(&mut s, p1.right() + 16.0, p1.top + 4.0, &legend);

    // Panel 2: the controller's rate per policy.
    let min_rate = series
        .points
        .iter()
        .flat_map(|p| p.rate_by_policy.iter().flatten())
        .fold(1.0f64, |a, &b| a.min(b));
    let log_from = (min_rate < 0.05).then(|| 10f64.powf(min_rate.max(1e-4).log10().floor()));
    let p2 = Panel {
        top: 430.0,
        height: 170.0,
        t_max,
        y_max: 1.05,
        log_from,
    };
    let rate_ticks: Vec<f64> = match log_from {
        Some(min) => {
            let mut v = Vec::new();
            let mut t = min;
            while t <= 1.0 + 1e-9 {
                v.push(t);
                t *= 10.0;
            }
            v
        }
        None => vec![0.0, 0.25, 0.5, 0.75, 1.0],
    };
    frame(&mut s, &p2, "controller rate", &rate_ticks, false);
    let mut legend2 = Vec::new();
    let n = series.names.len() + 1;
    for (i, name) in series.names.iter().enumerate() {
        if series
            .points
            .iter()
            .all(|p| p.rate_by_policy.get(i).copied().flatten().is_none())
        {
            continue;
        }
        let values: Vec<f64> = series
            .points
            .iter()
            .map(|p| p.rate_by_policy.get(i).copied().flatten().unwrap_or(1.0))
            .collect();
        let color = color(i, n);
        step_line(&mut s, &p2, series, &values, &color, 2.0, None);
        legend2.push((format!("rate of {name}"), color, false));
    }
    if legend2.is_empty() {
        text(
            &mut s,
            p2.x(t_max / 2.0),
            p2.top + p2.height / 2.0,
            13.0,
            "middle",
            "normal",
            "no budget: rates are the configured ones",
        );
    }
    legend_box(&mut s, p2.right() + 16.0, p2.top + 4.0, &legend2);

    // Panel 3: incoming traffic.
    let in_max = nice_max(series.points.iter().map(|p| p.spans_in).fold(0.0, f64::max));
    let p3 = Panel {
        top: 640.0,
        height: 80.0,
        t_max,
        y_max: in_max,
        log_from: None,
    };
    frame(
        &mut s,
        &p3,
        "incoming, spans/s",
        &[0.0, in_max / 2.0, in_max],
        true,
    );
    let zeros = vec![0.0; series.points.len()];
    let incoming: Vec<f64> = series.points.iter().map(|p| p.spans_in).collect();
    step_area(&mut s, &p3, series, &zeros, &incoming, "#9e9e9e");
    if let (Some(b), false) = (series.budget_spans, bytes_only) {
        let y = p3.y(b);
        if b <= in_max {
            let _ = writeln!(
                s,
                r##"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#000000" stroke-width="1.5" stroke-dasharray="8 5"/>"##,
                p3.x(0.0),
                p3.right()
            );
        }
    }
    legend_box(
        &mut s,
        p3.right() + 16.0,
        p3.top + 4.0,
        &[("spans in".into(), "#9e9e9e".into(), false)],
    );
    s.push_str("</svg>\n");
    s
}

fn color(i: usize, n: usize) -> String {
    if i + 1 == n {
        "#bdbdbd".into()
    } else {
        PALETTE[i % PALETTE.len()].into()
    }
}

/// A round upper bound for an axis.
fn nice_max(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|&m| m >= v)
        .unwrap_or(10.0 * magnitude)
}

fn ticks(max: f64) -> Vec<f64> {
    (0..=4).map(|i| max * i as f64 / 4.0).collect()
}

fn fmt_value(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v >= 10_000.0 {
        format!("{}k", trim(v / 1000.0))
    } else if v >= 1.0 {
        trim(v)
    } else {
        format!("{v}")
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

fn fmt_time(t: f64, t_max: f64) -> String {
    if t_max >= 180.0 {
        format!("{}m", trim(t / 60.0))
    } else {
        format!("{}s", trim(t))
    }
}

fn text(s: &mut String, x: f64, y: f64, size: f64, anchor: &str, weight: &str, body: &str) {
    let body = body
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let _ = writeln!(
        s,
        r##"<text x="{x:.1}" y="{y:.1}" font-size="{size}" text-anchor="{anchor}" font-weight="{weight}" fill="#333333">{body}</text>"##
    );
}

/// Axes, grid, tick labels and the panel's title; time labels under the last panel.
fn frame(s: &mut String, p: &Panel, title: &str, y_ticks: &[f64], time_labels: bool) {
    text(s, LEFT, p.top - 8.0, 13.0, "start", "bold", title);
    for &v in y_ticks {
        let y = p.y(v);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e6e6e6"/>"##,
            p.right()
        );
        text(s, LEFT - 6.0, y + 4.0, 11.0, "end", "normal", &fmt_value(v));
    }
    let step = time_step(p.t_max);
    let mut t = 0.0;
    while t <= p.t_max + 1e-9 {
        let x = p.x(t);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#f0f0f0"/>"##,
            p.top,
            p.bottom()
        );
        if time_labels {
            text(
                s,
                x,
                p.bottom() + 16.0,
                11.0,
                "middle",
                "normal",
                &fmt_time(t, p.t_max),
            );
        }
        t += step;
    }
    let _ = writeln!(
        s,
        r##"<rect x="{LEFT}" y="{:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="#999999"/>"##,
        p.top,
        p.right() - LEFT,
        p.height
    );
    if time_labels {
        text(
            s,
            (LEFT + p.right()) / 2.0,
            p.bottom() + 34.0,
            12.0,
            "middle",
            "normal",
            "simulated time",
        );
    }
}

fn time_step(t_max: f64) -> f64 {
    let raw = t_max / 10.0;
    [
        1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0,
    ]
    .into_iter()
    .find(|&s| s >= raw)
    .unwrap_or(7200.0)
}

/// The step outline of `values` (one per point, each over its interval).
fn step_points(p: &Panel, series: &Series, values: &[f64]) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(values.len() * 2);
    let mut start = 0.0;
    for (point, &v) in series.points.iter().zip(values) {
        let end = point.at.as_secs_f64();
        out.push((p.x(start), p.y(v)));
        out.push((p.x(end), p.y(v)));
        start = end;
    }
    out
}

fn step_line(
    s: &mut String,
    p: &Panel,
    series: &Series,
    values: &[f64],
    color: &str,
    width: f64,
    dash: Option<&str>,
) {
    let pts = step_points(p, series, values);
    if pts.is_empty() {
        return;
    }
    let d: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
    let dash = dash.map_or(String::new(), |d| format!(r#" stroke-dasharray="{d}""#));
    let _ = writeln!(
        s,
        r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="{width}"{dash}/>"#,
        d.join(" ")
    );
}

fn step_area(
    s: &mut String,
    p: &Panel,
    series: &Series,
    lower: &[f64],
    upper: &[f64],
    color: &str,
) {
    let mut pts = step_points(p, series, upper);
    if pts.is_empty() {
        return;
    }
    let mut bottom = step_points(p, series, lower);
    bottom.reverse();
    pts.extend(bottom);
    let d: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
    let _ = writeln!(
        s,
        r#"<polygon points="{}" fill="{color}" fill-opacity="0.75" stroke="none"/>"#,
        d.join(" ")
    );
}

fn legend_box(s: &mut String, x: f64, y: f64, items: &[(String, String, bool)]) {
    for (i, (label, color, dashed)) in items.iter().enumerate() {
        let cy = y + 8.0 + 20.0 * i as f64;
        let dash = if *dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let _ = writeln!(
            s,
            r#"<line x1="{x:.1}" y1="{cy:.1}" x2="{:.1}" y2="{cy:.1}" stroke="{color}" stroke-width="6"{dash}/>"#,
            x + 22.0
        );
        text(s, x + 28.0, cy + 4.0, 12.0, "start", "normal", label);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::Point;
    use std::time::Duration;

    fn series() -> Series {
        Series {
            names: vec!["errors".into(), "baseline".into()],
            interval: Duration::from_secs(5),
            budget_spans: Some(100.0),
            budget_bytes: None,
            points: (1..=10)
                .map(|i| Point {
                    at: Duration::from_secs(5 * i),
                    spans_in: 1000.0,
                    kept: 90.0,
                    kept_bytes: 9000.0,
                    kept_by_policy: vec![30.0, 60.0, 0.0],
                    matched_by_policy: vec![30.0, 1000.0],
                    rate_by_policy: vec![Some(1.0), Some(0.06)],
                })
                .collect(),
        }
    }

    #[test]
    fn svg_parses_and_rasterizes() {
        let text = svg(&series(), "test <chart>");
        assert!(text.contains("kept by errors") && text.contains("budget"));
        let png = png(&text).expect("renders");
        assert_eq!(&png[1..4], b"PNG");
    }

    #[test]
    fn nice_bounds() {
        assert_eq!(nice_max(1870.0), 2000.0);
        assert_eq!(nice_max(1.0), 1.0);
        assert_eq!(nice_max(0.0), 1.0);
    }
}
