//! Charts as inline SVG, drawn on the server: pure functions from figures to markup, readable
//! without JavaScript and printable. Every text that goes into the markup is escaped here, since
//! the templates insert a chart as it is. Colours come from the stylesheet's classes (no inline
//! style, which the Content-Security-Policy forbids).

use std::fmt::Write;

const WIDTH: f64 = 640.0;
/// The line chart spans the page: twice as wide, so its text keeps the size of the others'.
const WIDE: f64 = 1280.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 34.0;

/// `text` safe inside SVG/HTML text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The smallest of 1, 2, 5 × 10ⁿ at least `max` (and at least 1): the top of a value axis.
pub fn nice_ceiling(max: u64) -> u64 {
    let mut scale = 1u64;
    loop {
        for step in [1, 2, 5] {
            let candidate = step * scale;
            if candidate >= max {
                return candidate;
            }
        }
        scale = scale.saturating_mul(10);
    }
}

fn open(out: &mut String, title: &str, width: f64, height: f64) {
    let title = escape(title);
    let _ = write!(
        out,
        "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" \
         role=\"img\" aria-label=\"{title}\"><title>{title}</title>"
    );
}

/// Horizontal grid lines and value labels for a vertical axis from 0 to `top`.
fn value_axis(out: &mut String, top: u64, width: f64) {
    let plot = HEIGHT - TOP - BOTTOM;
    let ticks: u64 = if top >= 4 && top.is_multiple_of(4) {
        4
    } else if top >= 2 && top.is_multiple_of(2) {
        2
    } else {
        1
    };
    for i in 0..=ticks {
        let value = top * i / ticks;
        let y = TOP + plot - plot * value as f64 / top as f64;
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{value}</text>",
            width - RIGHT,
            LEFT - 6.0,
            y + 4.0
        );
    }
}

/// Labels under the x axis, centred at each `x`; `every` thins them out, and `keep_last` shows
/// the last one whatever (a line's latest point).
fn category_labels(out: &mut String, labels: &[(f64, &str)], every: usize, keep_last: bool) {
    for (index, (x, label)) in labels.iter().enumerate() {
        if index % every.max(1) != 0 && !(keep_last && index + 1 == labels.len()) {
            continue;
        }
        let _ = write!(
            out,
            "<text class=\"tick\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            HEIGHT - BOTTOM + 16.0,
            escape(label)
        );
    }
}

/// One vertical bar per label, its count on top.
pub fn bar_chart(title: &str, bars: &[(String, u64)]) -> String {
    let mut out = String::new();
    open(&mut out, title, WIDTH, HEIGHT);
    let top = nice_ceiling(bars.iter().map(|(_, v)| *v).max().unwrap_or(0));
    value_axis(&mut out, top, WIDTH);
    let plot_width = WIDTH - LEFT - RIGHT;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let slot = plot_width / bars.len().max(1) as f64;
    let mut labels = Vec::with_capacity(bars.len());
    for (index, (label, value)) in bars.iter().enumerate() {
        let height = plot_height * *value as f64 / top as f64;
        let x = LEFT + slot * index as f64 + slot * 0.15;
        let y = TOP + plot_height - height;
        let _ = write!(
            out,
            "<rect class=\"bar\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{height:.1}\">\
             <title>{}: {value}</title></rect>",
            slot * 0.7,
            escape(label)
        );
        if *value > 0 && slot >= 18.0 {
            let _ = write!(
                out,
                "<text class=\"value\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{value}</text>",
                x + slot * 0.35,
                y - 3.0
            );
        }
        labels.push((LEFT + slot * (index as f64 + 0.5), label.as_str()));
    }
    let every = (bars.len() / 12).max(1);
    category_labels(&mut out, &labels, every, false);
    out.push_str("</svg>");
    out
}

/// A line through the points, left to right, with a dot on each.
pub fn line_chart(title: &str, points: &[(String, u64)]) -> String {
    let mut out = String::new();
    open(&mut out, title, WIDE, HEIGHT);
    let top = nice_ceiling(points.iter().map(|(_, v)| *v).max().unwrap_or(0));
    value_axis(&mut out, top, WIDE);
    let plot_width = WIDE - LEFT - RIGHT - 16.0;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let step = plot_width / (points.len().max(2) - 1) as f64;
    let position = |index: usize, value: u64| {
        (
            LEFT + 8.0 + step * index as f64,
            TOP + plot_height - plot_height * value as f64 / top as f64,
        )
    };
    let path: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(index, (_, value))| {
            let (x, y) = position(index, *value);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    let _ = write!(
        out,
        "<polyline class=\"line\" points=\"{}\"/>",
        path.join(" ")
    );
    let mut labels = Vec::with_capacity(points.len());
    for (index, (label, value)) in points.iter().enumerate() {
        let (x, y) = position(index, *value);
        let _ = write!(
            out,
            "<circle class=\"dot\" cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\"><title>{}: {value}</title></circle>",
            escape(label)
        );
        labels.push((x, label.as_str()));
    }
    let every = points.len().div_ceil(16).max(1);
    category_labels(&mut out, &labels, every, true);
    out.push_str("</svg>");
    out
}

/// One row per group: the share of SLA targets met (green) and missed (red), with the counts.
/// A group with no decided target shows "no target decided".
pub fn compliance_chart(title: &str, rows: &[(String, u64, u64)]) -> String {
    let row_height = 26.0;
    let height = TOP + row_height * rows.len().max(1) as f64 + 8.0;
    let mut out = String::new();
    open(&mut out, title, WIDTH, height);
    let label_width = 150.0;
    let bar_width = WIDTH - label_width - 150.0;
    if rows.is_empty() {
        let _ = write!(
            out,
            "<text class=\"tick\" x=\"{label_width}\" y=\"{:.1}\">no SLA target decided in this period</text>",
            TOP + 16.0
        );
    }
    for (index, (group, met, missed)) in rows.iter().enumerate() {
        let y = TOP + row_height * index as f64;
        let decided = met + missed;
        let _ = write!(
            out,
            "<text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            label_width - 8.0,
            y + 15.0,
            escape(group)
        );
        if decided == 0 {
            let _ = write!(
                out,
                "<text class=\"tick\" x=\"{label_width}\" y=\"{:.1}\">no target decided</text>",
                y + 15.0
            );
            continue;
        }
        let met_width = bar_width * *met as f64 / decided as f64;
        let percent = met * 100 / decided;
        let _ = write!(
            out,
            "<rect class=\"met\" x=\"{label_width}\" y=\"{y:.1}\" width=\"{met_width:.1}\" height=\"18\">\
             <title>{group_text}: {met} met</title></rect>\
             <rect class=\"missed\" x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"18\">\
             <title>{group_text}: {missed} missed</title></rect>\
             <text class=\"value\" x=\"{:.1}\" y=\"{:.1}\">{percent}% met ({met}/{decided})</text>",
            label_width + met_width,
            bar_width - met_width,
            label_width + bar_width + 8.0,
            y + 14.0,
            group_text = escape(group),
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(haystack: &str, needle: &str) -> usize {
        haystack.matches(needle).count()
    }

    #[test]
    fn nice_ceilings() {
        for (max, top) in [
            (0, 1),
            (1, 1),
            (3, 5),
            (7, 10),
            (10, 10),
            (11, 20),
            (180, 200),
            (501, 1000),
        ] {
            assert_eq!(nice_ceiling(max), top, "{max}");
        }
    }

    #[test]
    fn a_bar_chart_has_one_bar_per_value_scaled_to_the_axis() {
        let svg = bar_chart(
            "Tickets by weekday",
            &[("Mon".into(), 4), ("Tue".into(), 2), ("Wed".into(), 0)],
        );
        assert!(svg.starts_with("<svg class=\"chart\""));
        assert!(svg.ends_with("</svg>"));
        assert_eq!(count(&svg, "<rect class=\"bar\""), 3);
        // The axis tops at 5: the tallest bar (4) is 4/5 of the 174-pixel plot.
        assert!(svg.contains("height=\"139.2\""), "{svg}");
        assert!(svg.contains("<title>Tue: 2</title>"));
        assert!(svg.contains(">Wed</text>"));
        assert!(svg.contains("aria-label=\"Tickets by weekday\""));
    }

    #[test]
    fn a_line_chart_passes_through_every_point() {
        let points: Vec<(String, u64)> = (0..20).map(|d| (format!("11-{d:02}"), d)).collect();
        let svg = line_chart("Backlog", &points);
        assert_eq!(count(&svg, "<circle class=\"dot\""), 20);
        let polyline = svg
            .split("points=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(polyline.split(' ').count(), 20);
        // Labels are thinned to about sixteen, the last always shown.
        assert!(svg.contains(">11-19</text>"));
        assert!(!svg.contains(">11-01</text>"));
        // An empty series still draws an axis.
        assert!(line_chart("Backlog", &[]).contains("class=\"grid\""));
    }

    #[test]
    fn compliance_shows_the_share_met() {
        let svg = compliance_chart("SLA", &[("it".into(), 3, 1), ("sales".into(), 0, 0)]);
        assert!(svg.contains("75% met (3/4)"));
        assert!(svg.contains("no target decided"));
        assert_eq!(count(&svg, "<rect class=\"met\""), 1);
        assert!(compliance_chart("SLA", &[]).contains("no SLA target decided"));
    }

    #[test]
    fn every_text_is_escaped() {
        let hostile = "<script>alert(1)</script>\"'&";
        for svg in [
            bar_chart(hostile, &[(hostile.into(), 1)]),
            line_chart(hostile, &[(hostile.into(), 1)]),
            compliance_chart(hostile, &[(hostile.into(), 1, 1)]),
        ] {
            assert!(!svg.contains("<script>"), "{svg}");
            assert!(!svg.contains("\"'&"), "{svg}");
            assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;"));
        }
    }
}
