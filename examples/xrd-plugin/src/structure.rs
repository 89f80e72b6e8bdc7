//! The crystal structure as X-ray diffraction needs it: lattice vectors and, on each
//! site, the scattering factors of its species. Read from the host's raw `crystal`
//! record through the SDK's record schema.

use mmhost_plugin_sdk::{
    api::Record,
    materials::{structure_from_pymatgen, ParseError, Structure},
    records::{structure_from_record, RecordError},
};

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
    /// The JSON is not a pymatgen structure.
    #[error("structure: {0}")]
    Parse(#[from] ParseError),
    /// The raw record does not hold a structure.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The structure has something this plugin cannot diffract.
    #[error("structure {0}")]
    Invalid(String),
}

impl Crystal {
    /// The crystal of a raw `crystal` record, as the host stores it.
    pub fn from_record(record: &Record) -> Result<Self, StructureError> {
        Self::from_structure(&structure_from_record(record)?)
    }

    /// The crystal of pymatgen's structure dict as JSON text (a `Structure.as_dict()`).
    pub fn from_pymatgen_json(bytes: &[u8]) -> Result<Self, StructureError> {
        Self::from_structure(&structure_from_pymatgen(&serde_json::from_slice(bytes)?)?)
    }

    /// The crystal of a structure: its elements looked up in the scattering-factor
    /// table, its lattice checked to enclose a volume.
    pub fn from_structure(structure: &Structure) -> Result<Self, StructureError> {
        let invalid = |message: String| StructureError::Invalid(message);
        let sites = structure
            .sites
            .iter()
            .enumerate()
            .map(|(i, site)| {
                let species = site
                    .occupants
                    .iter()
                    .map(|occupant| {
                        let symbol = occupant.element.symbol();
                        let element = element(symbol).ok_or_else(|| {
                            invalid(format!(
                                "site {i}: no X-ray scattering factors for element '{symbol}'"
                            ))
                        })?;
                        let occupancy = occupant.occupancy;
                        if !(0.0..=1.0 + 1e-6).contains(&occupancy) {
                            return Err(invalid(format!(
                                "site {i}: occupancy {occupancy} of {symbol} is outside [0, 1]"
                            )));
                        }
                        Ok((element, occupancy))
                    })
                    .collect::<Result<Vec<_>, StructureError>>()?;
                Ok(Site {
                    frac: site.frac,
                    species,
                })
            })
            .collect::<Result<Vec<_>, StructureError>>()?;
        if sites.is_empty() {
            return Err(invalid("has no sites".into()));
        }
        let crystal = Self {
            lattice: structure.lattice.matrix,
            sites,
        };
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
