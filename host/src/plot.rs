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

/// The training loss of a run as two series: per optimizer step (`steps`, light) and
/// the epoch means (`epochs`, at the step each epoch ended, with markers).
pub fn training_loss_series<'a>(
    steps: &'a [(f64, f64)],
    epochs: &'a [(f64, f64)],
) -> [Series<'a>; 2] {
    [
        Series {
            name: "training loss (step)",
            points: steps,
            color: RGBColor(160, 190, 230),
            markers: false,
        },
        Series {
            name: "training loss (epoch mean)",
            points: epochs,
            color: RGBColor(31, 119, 180),
            markers: true,
        },
    ]
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

/// One chart of a figure: a title, axis labels and its lines.
pub struct Panel<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub series: &'a [Series<'a>],
}

/// A line chart of `series` with a legend, saved as PNG at `path`.
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series<'_>],
) -> io::Result<()> {
    line_charts(
        path,
        &[Panel {
            title,
            x_label,
            y_label,
            series,
        }],
    )
}

/// Line charts stacked top to bottom in one PNG at `path`, each with its own axes
/// and legend (e.g. a loss and a validation error over the same steps).
pub fn line_charts(path: &Path, panels: &[Panel<'_>]) -> io::Result<()> {
    register_font();
    let height = HEIGHT * panels.len().max(1) as u32;
    let mut buffer = vec![0u8; (WIDTH * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(io::Error::other)?;
        let areas = root.split_evenly((panels.len().max(1), 1));
        for (panel, area) in panels.iter().zip(&areas) {
            draw_panel(area, panel)?;
        }
        root.present().map_err(io::Error::other)?;
    }
    save_png(path, &buffer, WIDTH, height)
}

/// Draws one line chart into `area`.
fn draw_panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    panel: &Panel<'_>,
) -> io::Result<()> {
    let points = panel.series.iter().flat_map(|s| s.points.iter());
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
    let mut chart = ChartBuilder::on(area)
        .caption(panel.title, ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(x_min..x_max.max(x_min + 1.0), (y_min - pad)..(y_max + pad))
        .map_err(io::Error::other)?;
    chart
        .configure_mesh()
        .x_desc(panel.x_label)
        .y_desc(panel.y_label)
        .label_style(("sans-serif", 15))
        .draw()
        .map_err(io::Error::other)?;
    for s in panel.series {
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
    Ok(())
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

/// Category colours (matplotlib's tab10).
const PALETTE: [RGBColor; 10] = [
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

/// The range of `points` with a 5 % margin.
fn extent(points: &[(f64, f64)]) -> (std::ops::Range<f64>, std::ops::Range<f64>) {
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in points
        .iter()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
    {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if x0 > x1 {
        return (0.0..1.0, 0.0..1.0);
    }
    let (px, py) = (((x1 - x0) * 0.05).max(1e-6), ((y1 - y0) * 0.05).max(1e-6));
    ((x0 - px)..(x1 + px), (y0 - py)..(y1 + py))
}

/// A 2D scatter (a map: no axis labels) coloured by category, with a legend;
/// `labels[i]` is point `i`'s category (empty: unknown, drawn grey).
pub fn scatter_categories(
    path: &Path,
    title: &str,
    points: &[(f64, f64)],
    labels: &[String],
) -> io::Result<()> {
    register_font();
    let mut categories: Vec<&String> = labels.iter().filter(|l| !l.is_empty()).collect();
    categories.sort();
    categories.dedup();
    let (xs, ys) = extent(points);
    let mut buffer = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(io::Error::other)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(16)
            .build_cartesian_2d(xs, ys)
            .map_err(io::Error::other)?;
        let unknown: Vec<(f64, f64)> = points
            .iter()
            .zip(labels)
            .filter(|(_, l)| l.is_empty())
            .map(|(p, _)| *p)
            .collect();
        chart
            .draw_series(
                unknown
                    .iter()
                    .map(|&p| Circle::new(p, 3, RGBColor(200, 200, 200).filled())),
            )
            .map_err(io::Error::other)?;
        for (c, category) in categories.iter().enumerate() {
            let color = PALETTE[c % PALETTE.len()];
            let members: Vec<(f64, f64)> = points
                .iter()
                .zip(labels)
                .filter(|(_, l)| l == category)
                .map(|(p, _)| *p)
                .collect();
            chart
                .draw_series(
                    members
                        .iter()
                        .map(|&p| Circle::new(p, 3, color.mix(0.8).filled())),
                )
                .map_err(io::Error::other)?
                .label(format!("{category} ({})", members.len()))
                .legend(move |(x, y)| Circle::new((x + 6, y), 4, color.filled()));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(io::Error::other)?;
        root.present().map_err(io::Error::other)?;
    }
    save_png(path, &buffer, WIDTH, HEIGHT)
}

/// A 2D scatter coloured by a continuous value (viridis), with a colour bar;
/// non-finite values are drawn grey.
pub fn scatter_values(
    path: &Path,
    title: &str,
    points: &[(f64, f64)],
    values: &[f64],
    value_label: &str,
) -> io::Result<()> {
    use plotters::style::colors::colormaps::{ColorMap, ViridisRGB};
    register_font();
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = if lo > hi {
        (0.0, 1.0)
    } else {
        (lo, hi.max(lo + 1e-12))
    };
    let colour = |v: f64| -> RGBColor { ViridisRGB.get_color(((v - lo) / (hi - lo)) as f32) };
    let (xs, ys) = extent(points);
    let mut buffer = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(io::Error::other)?;
        let (left, right) = root.split_horizontally(WIDTH - 170);
        let mut chart = ChartBuilder::on(&left)
            .caption(title, ("sans-serif", 22))
            .margin(16)
            .build_cartesian_2d(xs, ys)
            .map_err(io::Error::other)?;
        // Grey (unknown) first, then by value so high values stay visible.
        let mut order: Vec<usize> = (0..points.len()).collect();
        order.sort_by(|&i, &j| {
            let key = |k: usize| {
                if values[k].is_finite() {
                    values[k]
                } else {
                    f64::MIN
                }
            };
            key(i).total_cmp(&key(j))
        });
        chart
            .draw_series(order.iter().map(|&i| {
                let c = if values[i].is_finite() {
                    colour(values[i])
                } else {
                    RGBColor(200, 200, 200)
                };
                Circle::new(points[i], 3, c.filled())
            }))
            .map_err(io::Error::other)?;
        let mut bar = ChartBuilder::on(&right)
            .margin_top(60)
            .margin_bottom(40)
            .margin_left(10)
            .margin_right(10)
            .y_label_area_size(0)
            .right_y_label_area_size(100)
            .build_cartesian_2d(0.0..1.0, lo..hi)
            .map_err(io::Error::other)?;
        bar.configure_mesh()
            .disable_x_mesh()
            .disable_y_mesh()
            .disable_x_axis()
            .y_desc(value_label)
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(io::Error::other)?;
        let steps = 100;
        bar.draw_series((0..steps).map(|s| {
            let v0 = lo + (hi - lo) * f64::from(s) / f64::from(steps);
            let v1 = lo + (hi - lo) * f64::from(s + 1) / f64::from(steps);
            Rectangle::new([(0.0, v0), (1.0, v1)], colour((v0 + v1) / 2.0).filled())
        }))
        .map_err(io::Error::other)?;
        root.present().map_err(io::Error::other)?;
    }
    save_png(path, &buffer, WIDTH, HEIGHT)
}
