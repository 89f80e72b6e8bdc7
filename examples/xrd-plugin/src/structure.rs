//! The crystal structure as the host stores it: pymatgen's `Structure.as_dict()`
//! JSON in the raw record's `structure` field.

use serde_json::Value;

use crate::scattering::{element, Element};

/// A periodic crystal: lattice vectors and sites in fractional coordinates.
#[derive(Clone, Debug)]
pub struct Crystal {
    /// Lattice vectors as rows, Å.
    pub lattice: [[f64; 3]; 3],
    /// The sites of one unit cell.
    pub sites: Vec<Site>,
}

/// One site: its fractional position and the elements on it with occupancies.
#[derive(Clone, Debug)]
pub struct Site {
    /// Fractional coordinates.
    pub frac: [f64; 3],
    /// `(element, occupancy)`; several entries for a disordered site.
    pub species: Vec<(Element, f64)>,
}

/// Why a structure could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StructureError {
    /// The bytes are not JSON.
    #[error("structure is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A field is missing or malformed.
    #[error("structure {0}")]
    Invalid(String),
}

impl Crystal {
    /// Parses pymatgen's structure dict (`lattice.matrix`, `sites[].abc`,
    /// `sites[].species[].element`/`occu`).
    pub fn from_pymatgen_json(bytes: &[u8]) -> Result<Self, StructureError> {
        let json: Value = serde_json::from_slice(bytes)?;
        let invalid = |message: String| StructureError::Invalid(message);
        let matrix = json
            .pointer("/lattice/matrix")
            .and_then(Value::as_array)
            .filter(|rows| rows.len() == 3)
            .ok_or_else(|| invalid("has no 3×3 lattice.matrix".into()))?;
        let mut lattice = [[0.0; 3]; 3];
        for (row, value) in lattice.iter_mut().zip(matrix) {
            *row = three_numbers(value)
                .ok_or_else(|| invalid("has a malformed lattice.matrix row".into()))?;
        }
        let sites = json
            .get("sites")
            .and_then(Value::as_array)
            .filter(|sites| !sites.is_empty())
            .ok_or_else(|| invalid("has no sites".into()))?;
        let sites = sites
            .iter()
            .enumerate()
            .map(|(i, site)| {
                parse_site(site).map_err(|reason| invalid(format!("site {i}: {reason}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let crystal = Self { lattice, sites };
        let volume = crystal.volume();
        if volume.is_nan() || volume <= 1e-6 {
            return Err(invalid(format!(
                "has a degenerate lattice (volume {volume:.3e} Å³)"
            )));
        }
        Ok(crystal)
    }

    /// Unit-cell volume, Å³.
    pub fn volume(&self) -> f64 {
        let [a, b, c] = self.lattice;
        dot(a, cross(b, c)).abs()
    }

    /// The crystallographic reciprocal lattice (rows b_i with a_i · b_j = δ_ij, no
    /// factor 2π), Å⁻¹.
    pub fn reciprocal_lattice(&self) -> [[f64; 3]; 3] {
        let [a, b, c] = self.lattice;
        let volume = dot(a, cross(b, c));
        [cross(b, c), cross(c, a), cross(a, b)].map(|v| v.map(|x| x / volume))
    }
}

fn parse_site(site: &Value) -> Result<Site, String> {
    let frac = site
        .get("abc")
        .and_then(three_numbers)
        .ok_or("has no fractional coordinates 'abc'")?;
    let species = site
        .get("species")
        .and_then(Value::as_array)
        .filter(|s| !s.is_empty())
        .ok_or("has no species")?
        .iter()
        .map(|entry| {
            let symbol = entry.get("element").and_then(Value::as_str).unwrap_or("");
            let element = element(symbol)
                .ok_or_else(|| format!("no X-ray scattering factors for element '{symbol}'"))?;
            let occupancy = entry.get("occu").and_then(Value::as_f64).unwrap_or(1.0);
            if !(0.0..=1.0 + 1e-6).contains(&occupancy) {
                return Err(format!(
                    "occupancy {occupancy} of {symbol} is outside [0, 1]"
                ));
            }
            Ok((element, occupancy))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Site { frac, species })
}

fn three_numbers(value: &Value) -> Option<[f64; 3]> {
    let items = value.as_array().filter(|items| items.len() == 3)?;
    let mut out = [0.0; 3];
    for (x, item) in out.iter_mut().zip(items) {
        *x = item.as_f64().filter(|x| x.is_finite())?;
    }
    Some(out)
}

/// `a · b`.
pub fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}
