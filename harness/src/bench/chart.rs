//! The chart for a pull request: time against rows, one line per
//! statement (and server), both axes logarithmic so 10k and 1M share a
//! plot. SVG, deterministic for given measurements.

use std::path::Path;

use plotters::prelude::*;

use super::BenchError;
use super::report::BenchReport;

pub fn write_svg(report: &BenchReport, path: &Path) -> Result<(), BenchError> {
    let failed = |message: String| BenchError::Chart {
        path: path.to_path_buf(),
        message,
    };
    let points = report.statements.iter().flat_map(|s| s.points.iter());
    let (mut x_min, mut x_max, mut y_min, mut y_max) = (f64::MAX, 0f64, f64::MAX, 0f64);
    for &(rows, ms) in points {
        x_min = x_min.min(rows.max(1) as f64);
        x_max = x_max.max(rows.max(1) as f64);
        y_min = y_min.min(ms.max(0.01));
        y_max = y_max.max(ms.max(0.01));
    }
    if x_max == 0.0 {
        return Err(failed("nothing was measured".into()));
    }
    let root = SVGBackend::new(path, (960, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| failed(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("migcheck bench: {} — time vs rows", report.set),
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(
            (x_min / 1.5..x_max * 1.5).log_scale(),
            (y_min / 2.0..y_max * 2.0).log_scale(),
        )
        .map_err(|e| failed(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc("rows per table")
        .y_desc("statement time (ms)")
        .x_label_formatter(&|x| count(*x))
        .y_label_formatter(&|y| {
            format!("{y:.3}")
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_owned()
        })
        .draw()
        .map_err(|e| failed(e.to_string()))?;
    let several = report.postgres.len() > 1;
    for (i, series) in report.statements.iter().enumerate() {
        let color = COLORS[i % COLORS.len()].to_rgba();
        let sql: String = series.sql.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut label: String = sql.chars().take(60).collect();
        if sql.chars().count() > 60 {
            label.push('…');
        }
        if several {
            label = format!("pg {}: {label}", series.postgres);
        }
        label.push_str(&format!(" ({})", series.growth.as_str()));
        let data: Vec<(f64, f64)> = series
            .points
            .iter()
            .map(|&(rows, ms)| (rows.max(1) as f64, ms.max(0.01)))
            .collect();
        chart
            .draw_series(LineSeries::new(data.clone(), color.stroke_width(2)))
            .map_err(|e| failed(e.to_string()))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart
            .draw_series(data.into_iter().map(|p| Circle::new(p, 3, color.filled())))
            .map_err(|e| failed(e.to_string()))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(|e| failed(e.to_string()))?;
    root.present().map_err(|e| failed(e.to_string()))?;
    Ok(())
}

/// Distinct on white, and none too pale to read (Tableau 10).
const COLORS: [RGBColor; 10] = [
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
];

fn count(x: f64) -> String {
    if x >= 1e6 {
        format!("{}M", x / 1e6)
    } else if x >= 1e3 {
        format!("{}k", x / 1e3)
    } else {
        format!("{x}")
    }
}
