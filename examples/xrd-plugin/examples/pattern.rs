//! Computes the powder XRD pattern of crystal structures, outside any training run.
//!
//! ```sh
//! cargo run --release --example pattern -- STRUCTURE.json... [--out DIR]
//! ```
//!
//! Each input is a pymatgen structure dict as JSON (`Structure.as_dict()`, or a
//! Materials Project API `structure`). Writes `DIR/<stem>.peaks.csv` (2θ in degrees,
//! intensity 0–100, d in Å, multiplicity, Miller indices) and `DIR/<stem>.pattern.csv`
//! (the broadened pattern on the encoder's 2θ grid), with the reference settings:
//! Cu Kα, 2θ 5–90°, 1701 points, FWHM 0.2°.

use std::{fmt::Write as _, fs, path::PathBuf, process::ExitCode};

use mmhost_xrd::{Crystal, XrdEncoderConfig, XrdPlugin};

fn main() -> ExitCode {
    let mut inputs = Vec::new();
    let mut out = PathBuf::from(".");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" => match args.next() {
                Some(dir) => out = PathBuf::from(dir),
                None => return fail("--out needs a directory"),
            },
            _ => inputs.push(PathBuf::from(arg)),
        }
    }
    if inputs.is_empty() {
        return fail("usage: pattern STRUCTURE.json... [--out DIR]");
    }
    if let Err(e) = fs::create_dir_all(&out) {
        return fail(&format!("{}: {e}", out.display()));
    }
    let config = XrdEncoderConfig::new();
    let grid = config.grid();
    let mut failed = false;
    for input in &inputs {
        let crystal = match fs::read(input)
            .map_err(|e| e.to_string())
            .and_then(|bytes| Crystal::from_pymatgen_json(&bytes).map_err(|e| e.to_string()))
        {
            Ok(crystal) => crystal,
            Err(reason) => {
                eprintln!("{}: {reason}", input.display());
                failed = true;
                continue;
            }
        };
        let (peaks, pattern) = match XrdPlugin::pattern(&config, &crystal) {
            Ok(computed) => computed,
            Err(reason) => {
                eprintln!("{}: {reason}", input.display());
                failed = true;
                continue;
            }
        };
        let mut peaks_csv = String::from("two_theta_deg,intensity,d_angstrom,multiplicity,hkl\n");
        for peak in &peaks {
            let hkl: Vec<String> = peak
                .reflections
                .iter()
                .map(|[h, k, l]| format!("({h} {k} {l})"))
                .collect();
            let _ = writeln!(
                peaks_csv,
                "{:.6},{:.6},{:.6},{},{}",
                peak.two_theta,
                peak.intensity,
                peak.d_spacing,
                peak.reflections.len(),
                hkl.join(" ")
            );
        }
        let mut pattern_csv = String::from("two_theta_deg,intensity\n");
        for (i, value) in pattern.iter().enumerate() {
            let _ = writeln!(pattern_csv, "{:.3},{value:.6}", grid.angle(i));
        }
        let stem = input
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("structure");
        for (suffix, text) in [("peaks", &peaks_csv), ("pattern", &pattern_csv)] {
            let path = out.join(format!("{stem}.{suffix}.csv"));
            if let Err(e) = fs::write(&path, text) {
                return fail(&format!("{}: {e}", path.display()));
            }
        }
        println!(
            "{}: {} peaks -> {}/{stem}.{{peaks,pattern}}.csv",
            input.display(),
            peaks.len(),
            out.display()
        );
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("{message}");
    ExitCode::FAILURE
}
