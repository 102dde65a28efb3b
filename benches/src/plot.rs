//! SVG plots (plotters' SVG backend, no system fonts or C libraries): throughput per workload
//! per engine, latency CDFs, and write amplification over the data written.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::FontTransform;

use crate::driver::results;
use crate::result::{Line, WorkloadResult};

type PlotResult = Result<(), String>;

/// One engine's line: its index (for the color), name and points.
type Series<'a> = (usize, &'a str, Vec<(f64, f64)>);

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// A stable color per engine.
fn color(engine: &str, i: usize) -> RGBColor {
    match engine {
        "strata-lsm" => RGBColor(31, 119, 180),
        "strata-btree" => RGBColor(23, 190, 207),
        "rocksdb" => RGBColor(214, 39, 40),
        "fjall" => RGBColor(255, 127, 14),
        "redb" => RGBColor(148, 103, 189),
        "lmdb" => RGBColor(44, 160, 44),
        _ => {
            let p = [
                RGBColor(140, 86, 75),
                RGBColor(227, 119, 194),
                RGBColor(127, 127, 127),
            ];
            p[i % p.len()]
        }
    }
}

fn ok_results<'a>(lines: &'a [Line], engine: &'a str) -> impl Iterator<Item = &'a WorkloadResult> {
    results(lines).filter(move |r| r.engine == engine && r.error.is_none() && r.ops > 0)
}

/// Writes `throughput.svg`, `latency_cdf.svg` and `write_amp.svg` into `out`.
pub fn all(out: &Path, engines: &[String], lines: &[Line]) -> PlotResult {
    throughput(&out.join("throughput.svg"), engines, lines)?;
    latency_cdf(&out.join("latency_cdf.svg"), engines, lines)?;
    write_amp(&out.join("write_amp.svg"), engines, lines)
}

fn workloads(lines: &[Line]) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for r in results(lines) {
        if !v.contains(&r.workload) {
            v.push(r.workload.clone());
        }
    }
    v
}

/// Grouped bars, log-scale ops/s.
fn throughput(path: &Path, engines: &[String], lines: &[Line]) -> PlotResult {
    let wls = workloads(lines);
    if wls.is_empty() {
        return Ok(());
    }
    let slots = engines.len() + 1;
    let max = results(lines)
        .map(|r| r.ops_per_sec)
        .fold(10.0f64, f64::max)
        * 2.0;
    let width = (140 + wls.len() * slots * 14).max(800) as u32;
    let root = SVGBackend::new(path, (width, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Throughput per workload (ops/s, log scale)",
            ("sans-serif", 22),
        )
        .margin(12)
        .x_label_area_size(130)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..(wls.len() * slots) as f64, (1f64..max).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc("ops/s")
        .y_label_formatter(&|v| crate::report::human_rate(*v))
        .draw()
        .map_err(err)?;
    for (ei, engine) in engines.iter().enumerate() {
        let c = color(engine, ei);
        let bars: Vec<_> = ok_results(lines, engine)
            .filter_map(|r| {
                let wi = wls.iter().position(|w| *w == r.workload)?;
                let x0 = (wi * slots + ei) as f64 + 0.5;
                Some(Rectangle::new(
                    [(x0, 1.0), (x0 + 1.0, r.ops_per_sec.max(1.0))],
                    c.filled(),
                ))
            })
            .collect();
        chart
            .draw_series(bars)
            .map_err(err)?
            .label(engine.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], c.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(err)?;
    let font = ("sans-serif", 13)
        .into_font()
        .transform(FontTransform::Rotate90)
        .color(&BLACK);
    for (wi, w) in wls.iter().enumerate() {
        let center = (wi * slots) as f64 + 0.5 + engines.len() as f64 / 2.0;
        let (px, py) = chart.backend_coord(&(center, 1.0));
        root.draw(&Text::new(w.clone(), (px - 6, py + 8), font.clone()))
            .map_err(err)?;
    }
    root.present().map_err(err)
}

/// One panel per workload: quantile over latency (log scale), a line per engine.
fn latency_cdf(path: &Path, engines: &[String], lines: &[Line]) -> PlotResult {
    let wls = workloads(lines);
    if wls.is_empty() {
        return Ok(());
    }
    let cols = 4usize.min(wls.len());
    let rows = wls.len().div_ceil(cols);
    let root = SVGBackend::new(path, (cols as u32 * 420, rows as u32 * 300)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let panels = root.split_evenly((rows, cols));
    for (wi, (w, area)) in wls.iter().zip(panels.iter()).enumerate() {
        let series: Vec<Series<'_>> = engines
            .iter()
            .enumerate()
            .filter_map(|(ei, e)| {
                let r = ok_results(lines, e).find(|r| r.workload == *w)?;
                let pts = r
                    .latency
                    .cdf
                    .iter()
                    .map(|&(ns, q)| (ns as f64 / 1000.0, q))
                    .collect();
                Some((ei, e.as_str(), pts))
            })
            .collect();
        let (lo, hi) = series
            .iter()
            .flat_map(|(_, _, p)| p.iter().map(|&(x, _)| x))
            .fold((f64::MAX, 0f64), |(lo, hi), x| (lo.min(x), hi.max(x)));
        if series.is_empty() || hi <= 0.0 {
            continue;
        }
        let lo = (lo * 0.8).max(0.001);
        let hi = (hi * 1.25).max(lo * 10.0);
        let mut chart = ChartBuilder::on(area)
            .caption(w.as_str(), ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(32)
            .y_label_area_size(40)
            .build_cartesian_2d((lo..hi).log_scale(), 0f64..1f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("latency (µs)")
            .y_desc("quantile")
            .x_labels(6)
            .y_labels(6)
            .x_label_formatter(&|v| format!("{v}"))
            .draw()
            .map_err(err)?;
        for (ei, e, pts) in series {
            let c = color(e, ei);
            chart
                .draw_series(LineSeries::new(pts, c.stroke_width(2)))
                .map_err(err)?
                .label(e)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], c));
        }
        if wi == 0 {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(SeriesLabelPosition::LowerRight)
                .draw()
                .map_err(err)?;
        }
    }
    root.present().map_err(err)
}

/// One panel per write workload: cumulative device bytes / user bytes over the MiB written.
fn write_amp(path: &Path, engines: &[String], lines: &[Line]) -> PlotResult {
    let wls: Vec<String> = workloads(lines)
        .into_iter()
        .filter(|w| results(lines).any(|r| r.workload == *w && !r.wa_series.is_empty()))
        .collect();
    let cols = 3usize.min(wls.len()).max(1);
    let rows = wls.len().div_ceil(cols).max(1);
    let root = SVGBackend::new(path, (cols as u32 * 480, rows as u32 * 320)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let panels = root.split_evenly((rows, cols));
    for (wi, (w, area)) in wls.iter().zip(panels.iter()).enumerate() {
        let series: Vec<Series<'_>> = engines
            .iter()
            .enumerate()
            .filter_map(|(ei, e)| {
                let r = ok_results(lines, e).find(|r| r.workload == *w)?;
                // The first MiB (or tenth of a small run) is noise: page-cache rounding.
                let floor = (r.user_bytes / 10).clamp(1, 1 << 20);
                let pts: Vec<(f64, f64)> = r
                    .wa_series
                    .iter()
                    .filter(|&&(user, _)| user >= floor)
                    .map(|&(user, dev)| (user as f64 / 1048576.0, dev as f64 / user as f64))
                    .collect();
                (!pts.is_empty()).then_some((ei, e.as_str(), pts))
            })
            .collect();
        if series.is_empty() {
            continue;
        }
        let xmax = series
            .iter()
            .flat_map(|(_, _, p)| p.iter().map(|&(x, _)| x))
            .fold(1f64, f64::max);
        let ymax = series
            .iter()
            .flat_map(|(_, _, p)| p.iter().map(|&(_, y)| y))
            .fold(1f64, f64::max)
            * 1.15;
        let mut chart = ChartBuilder::on(area)
            .caption(format!("{w}: write amplification"), ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(32)
            .y_label_area_size(40)
            .build_cartesian_2d(0f64..xmax * 1.02, 0f64..ymax)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("user data written (MiB)")
            .y_desc("device / user bytes")
            .draw()
            .map_err(err)?;
        for (ei, e, pts) in series {
            let c = color(e, ei);
            chart
                .draw_series(LineSeries::new(pts, c.stroke_width(2)))
                .map_err(err)?
                .label(e)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], c));
        }
        if wi == 0 {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(SeriesLabelPosition::UpperRight)
                .draw()
                .map_err(err)?;
        }
    }
    root.present().map_err(err)
}
