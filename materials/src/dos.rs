//! Total densities of states from VASP DOSCAR and vasprun.xml, and pymatgen
//! `Dos`/`CompleteDos` JSON.

use serde_json::Value;

use crate::{text_lines::bounded_lines, ParseError};

/// A total density of states: energies (eV, absolute) and one density row per spin
/// (states/eV/cell; spin up first), with the Fermi energy when the source gives it.
#[derive(Clone, Debug, PartialEq)]
pub struct Dos {
    pub energies: Vec<f64>,
    /// `[spins][energies]`: one row (non-spin-polarized) or two (up, down).
    pub densities: Vec<Vec<f64>>,
    pub efermi: Option<f64>,
}

impl Dos {
    /// Spin-up + spin-down (or the single row): the total DOS.
    pub fn total(&self) -> Vec<f64> {
        (0..self.energies.len())
            .map(|i| self.densities.iter().map(|d| d[i]).sum())
            .collect()
    }

    fn validated(self) -> Result<Self, ParseError> {
        // Stored as f32, so each value must be finite there too.
        let finite = |x: f64| (x as f32).is_finite();
        if let Some(efermi) = self.efermi.filter(|&e| !finite(e)) {
            return Err(ParseError::invalid(format!(
                "E_Fermi is {efermi}, not a finite energy"
            )));
        }
        if let Some(bad) = self
            .energies
            .iter()
            .chain(self.densities.iter().flatten())
            .find(|&&x| !finite(x))
        {
            return Err(ParseError::invalid(format!(
                "an energy or density is {bad}, not a finite number"
            )));
        }
        if self.energies.len() < 2 {
            return Err(ParseError::invalid("a DOS needs at least two energies"));
        }
        if self.densities.is_empty()
            || self
                .densities
                .iter()
                .any(|d| d.len() != self.energies.len())
        {
            return Err(ParseError::invalid(format!(
                "{} energies but density rows of lengths {:?}",
                self.energies.len(),
                self.densities.iter().map(Vec::len).collect::<Vec<_>>()
            )));
        }
        Ok(self)
    }
}

/// Most energies of a vasprun.xml DOS (VASP's NEDOS is some thousands).
const MAX_DOS_POINTS: usize = 1 << 20;

/// Reads a VASP DOSCAR: line 6 holds `Emax Emin NEDOS Efermi weight`, then NEDOS rows
/// `E dos [dos_down] int [int_down]` (3 columns without spin, 5 with).
pub fn read_doscar(text: &str) -> Result<Dos, ParseError> {
    let lines = bounded_lines(text)?;
    let header: Vec<f64> = lines
        .get(5)
        .ok_or_else(|| ParseError::at(6, "file ends before the DOS header"))?
        .split_whitespace()
        .map(|t| t.parse())
        .collect::<Result<_, _>>()
        .map_err(|_| ParseError::at(6, "DOS header is not numeric"))?;
    if header.len() < 4 {
        return Err(ParseError::at(6, "DOS header needs Emax Emin NEDOS Efermi"));
    }
    let declared = header[2];
    // Every row is a line of the file: a count beyond the lines present is refused
    // before anything is allocated for it.
    let present = lines.len().saturating_sub(6);
    if !(declared >= 0.0 && declared <= present as f64 && declared.fract() == 0.0) {
        return Err(ParseError::at(
            6,
            format!("NEDOS is {declared}, but the file has {present} lines of DOS rows"),
        ));
    }
    let points = declared as usize;
    let mut energies = Vec::with_capacity(points);
    let mut up = Vec::with_capacity(points);
    let mut down = Vec::new();
    for k in 0..points {
        let number = 7 + k;
        let row: Vec<f64> = lines
            .get(6 + k)
            .ok_or_else(|| {
                ParseError::at(number, format!("file ends after {k} of {points} DOS rows"))
            })?
            .split_whitespace()
            .map(|t| t.parse())
            .collect::<Result<_, _>>()
            .map_err(|_| ParseError::at(number, "DOS row is not numeric"))?;
        match row.len() {
            3 => {}
            5 => down.push(row[2]),
            n => {
                return Err(ParseError::at(
                    number,
                    format!("DOS row has {n} columns, expected 3 or 5"),
                ))
            }
        }
        energies.push(row[0]);
        up.push(row[1]);
    }
    let mut densities = vec![up];
    if !down.is_empty() {
        densities.push(down);
    }
    Dos {
        energies,
        densities,
        efermi: Some(header[3]),
    }
    .validated()
}

/// Reads the total DOS and E_Fermi of a vasprun.xml (`<dos>` → `<total>` → one
/// `<set comment="spin N">` of `<r>E dos integrated</r>` rows per spin).
pub fn read_vasprun_dos(text: &str) -> Result<Dos, ParseError> {
    let dos = section(text, "<dos>", "</dos>").ok_or_else(|| {
        ParseError::invalid("vasprun.xml has no <dos> section (was LORBIT/NEDOS set?)")
    })?;
    let efermi = dos
        .find("name=\"efermi\"")
        .and_then(|i| section(&dos[i..], ">", "</i>"))
        .and_then(|t| t.trim().parse().ok());
    let total = section(dos, "<total>", "</total>")
        .ok_or_else(|| ParseError::invalid("vasprun.xml <dos> has no <total>"))?;
    let mut energies = Vec::new();
    let mut densities = Vec::new();
    for spin in 1..=2 {
        let marker = format!("<set comment=\"spin {spin}\">");
        let Some(set) = section(total, &marker, "</set>") else {
            break;
        };
        let rows = element_bodies(set, "r", MAX_DOS_POINTS).map_err(|n| {
            ParseError::invalid(format!(
                "spin {spin}: more than {n} DOS rows, mmhost's limit"
            ))
        })?;
        let mut e = Vec::new();
        let mut d = Vec::new();
        for body in rows {
            let values: Vec<f64> = body
                .split_whitespace()
                .map(str::parse)
                .collect::<Result<_, _>>()
                .map_err(|_| {
                    ParseError::invalid(format!(
                        "spin {spin}: DOS row '{}' is not numeric",
                        body.trim()
                    ))
                })?;
            if values.len() < 2 {
                return Err(ParseError::invalid(format!(
                    "spin {spin}: DOS row '{}' is short",
                    body.trim()
                )));
            }
            e.push(values[0]);
            d.push(values[1]);
        }
        if spin == 1 {
            energies = e;
        }
        densities.push(d);
    }
    Dos {
        energies,
        densities,
        efermi,
    }
    .validated()
}

/// The text between `start` and the following `end`.
pub(crate) fn section<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(&text[from..to])
}

/// The bodies of the `<tag>` elements of vasprun.xml text (each up to its closing tag
/// or the next element), at most `limit`: more are refused (`Err(limit)`), counted
/// before any is kept.
pub(crate) fn element_bodies<'a>(
    text: &'a str,
    tag: &str,
    limit: usize,
) -> Result<Vec<&'a str>, usize> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let rows = text.split(open.as_str()).skip(1);
    if rows.clone().nth(limit).is_some() {
        return Err(limit);
    }
    Ok(rows
        .map(|row| row.split(close.as_str()).next().unwrap_or(""))
        .collect())
}

/// Reads a pymatgen `Dos` or `CompleteDos` dictionary (`energies`, `densities` keyed
/// `"1"` and `"-1"`, `efermi`).
pub fn dos_from_pymatgen(value: &Value) -> Result<Dos, ParseError> {
    let numbers = |v: &Value, what: &str| -> Result<Vec<f64>, ParseError> {
        v.as_array()
            .ok_or_else(|| ParseError::invalid(format!("'{what}' is not a list")))?
            .iter()
            .map(|x| {
                x.as_f64()
                    .ok_or_else(|| ParseError::invalid(format!("'{what}' holds a non-number")))
            })
            .collect()
    };
    let energies = numbers(
        value
            .get("energies")
            .ok_or_else(|| ParseError::invalid("no 'energies'"))?,
        "energies",
    )?;
    let densities_map = value
        .get("densities")
        .and_then(Value::as_object)
        .ok_or_else(|| ParseError::invalid("no 'densities' mapping"))?;
    let mut densities = Vec::new();
    for key in ["1", "-1"] {
        if let Some(d) = densities_map.get(key) {
            densities.push(numbers(d, &format!("densities[{key}]"))?);
        }
    }
    Dos {
        energies,
        densities,
        efermi: value.get("efermi").and_then(Value::as_f64),
    }
    .validated()
}
