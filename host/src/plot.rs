//! PNG charts (plotters on an RGB buffer, DejaVu Sans embedded so no system font
//! is needed), written atomically.

use std::{io, path::Path, sync::Once};

use image::{codecs::png::PngEncoder, ImageEncoder};
use plotters::prelude::*;

/// One line of a chart.
pub struct Series<'a> {
    pub name: &'a str,
    /// `(x, y)` points, in x order.
    pub points: &'a [(f64, f64)],
    pub color: RGBColor,
    /// Draw markers at the points (sparse series such as per-epoch values).
    pub markers: bool,
}

const WIDTH: u32 = 960;
const HEIGHT: u32 = 600;

static FONT: Once = Once::new();

fn register_font() {
    FONT.call_once(|| {
        // The embedded font is valid; on failure plotters draws no text, nothing worse.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

/// A line chart of `series` with a legend, saved as PNG at `path`.
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series<'_>],
) -> io::Result<()> {
    register_font();
    let points = series.iter().flat_map(|s| s.points.iter());
    let (mut x_min, mut x_max, mut y_min, mut y_max) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in points.filter(|(x, y)| x.is_finite() && y.is_finite()) {
        x_min = x_min.min(x);
        x_max = x_max.max(x);
        y_min = y_min.min(y);
        y_max = y_max.max(y);
    }
    if x_min > x_max {
        (x_min, x_max, y_min, y_max) = (0.0, 1.0, 0.0, 1.0);
    }
    let pad = ((y_max - y_min) * 0.05).max(1e-6);
    let mut buffer = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(io::Error::other)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 24))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(x_min..x_max.max(x_min + 1.0), (y_min - pad)..(y_max + pad))
            .map_err(io::Error::other)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .label_style(("sans-serif", 15))
            .draw()
            .map_err(io::Error::other)?;
        for s in series {
            let color = s.color;
            chart
                .draw_series(LineSeries::new(
                    s.points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(io::Error::other)?
                .label(s.name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            if s.markers {
                chart
                    .draw_series(s.points.iter().map(|&p| Circle::new(p, 4, color.filled())))
                    .map_err(io::Error::other)?;
            }
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 15))
            .draw()
            .map_err(io::Error::other)?;
        root.present().map_err(io::Error::other)?;
    }
    save_png(path, &buffer, WIDTH, HEIGHT)
}

/// Encodes an RGB buffer as PNG and writes it atomically.
fn save_png(path: &Path, rgb: &[u8], width: u32, height: u32) -> io::Result<()> {
    let mut png = Vec::new();
    PngEncoder::new(&mut png)
        .write_image(rgb, width, height, image::ExtendedColorType::Rgb8)
        .map_err(io::Error::other)?;
    crate::atomic::write(path, &png)
}

/// A scatter of `points` with the line y = x, axes spanning both: predictions
/// against true values.
pub fn parity_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    points: &[(f64, f64)],
    color: RGBColor,
) -> io::Result<()> {
    register_font();
    let finite = points
        .iter()
        .filter(|(x, y)| x.is_finite() && y.is_finite());
    let (lo, hi) = finite.fold((f64::MAX, f64::MIN), |(lo, hi), &(x, y)| {
        (lo.min(x).min(y), hi.max(x).max(y))
    });
    let (lo, hi) = if lo > hi {
        (0.0, 1.0)
    } else {
        (lo, hi.max(lo + 1e-6))
    };
    let pad = (hi - lo) * 0.05;
    let range = (lo - pad)..(hi + pad);
    let side = HEIGHT;
    let mut buffer = vec![0u8; (side * side * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (side, side)).into_drawing_area();
        root.fill(&WHITE).map_err(io::Error::other)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(range.clone(), range.clone())
            .map_err(io::Error::other)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(io::Error::other)?;
        chart
            .draw_series(LineSeries::new(
                [(range.start, range.start), (range.end, range.end)],
                BLACK.mix(0.5).stroke_width(1),
            ))
            .map_err(io::Error::other)?;
        chart
            .draw_series(
                points
                    .iter()
                    .map(|&p| Circle::new(p, 3, color.mix(0.6).filled())),
            )
            .map_err(io::Error::other)?;
        root.present().map_err(io::Error::other)?;
    }
    save_png(path, &buffer, side, side)
}
