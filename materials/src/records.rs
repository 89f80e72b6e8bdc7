//! The raw records of the built-in modalities, written and read in one place: what the
//! host stores at import and hands to every featurizer, built-in or third-party.
//!
//! | modality  | field       | type, shape      | meaning                                       |
//! |-----------|-------------|------------------|-----------------------------------------------|
//! | `crystal` | `structure` | u8 `(bytes)`     | pymatgen `Structure.as_dict()` as JSON text   |
//! | `dos`     | `dos`       | f32 `(2, N)`     | energies (eV, absolute, increasing), total DOS (states/eV/cell, spins summed) |
//! | `dos`     | `efermi`    | f32 `(1)`        | Fermi energy, eV, when known                  |
//! | `charge`  | `charge`    | f32 `(32, 32, 32)` | ρ·V_cell on a periodic grid, index `[a][b][c]` (MultiMat's `charge_density.npy`) |
//! | `text`    | `text`      | u8 `(bytes)`     | UTF-8 description                             |

use std::collections::BTreeSet;

use mmhost_plugin_api::{Array, ErrorKind, PluginError, Record};

use crate::{
    resample_periodic, structure_from_pymatgen, structure_to_pymatgen, validate_structure, Dos,
    Element, InvalidStructure, Structure, VolumetricData,
};

/// Field of a `crystal` record holding the structure's JSON.
pub const STRUCTURE_FIELD: &str = "structure";
/// Field of a `dos` record holding energies and densities.
pub const DOS_FIELD: &str = "dos";
/// Optional field of a `dos` record holding the Fermi energy.
pub const EFERMI_FIELD: &str = "efermi";
/// Field of a `charge` record holding the grid.
pub const CHARGE_FIELD: &str = "charge";
/// Field of a `text` record holding the description.
pub const TEXT_FIELD: &str = "text";
/// Points per axis of stored charge densities.
pub const CHARGE_GRID: usize = 32;

/// Why a raw record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// A field the modality needs is absent.
    #[error("the record has no field '{0}'")]
    Missing(&'static str),
    /// The structure fails [`validate_structure`](crate::validate_structure).
    #[error("invalid structure: {0}")]
    InvalidStructure(#[from] InvalidStructure),
    /// A field has the wrong element type or shape.
    #[error("field '{field}' {reason}")]
    Malformed {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl From<RecordError> for PluginError {
    fn from(error: RecordError) -> Self {
        PluginError::new(ErrorKind::InvalidInput, error.to_string())
    }
}

fn field<'r>(record: &'r Record, name: &'static str) -> Result<&'r Array, RecordError> {
    record.get(name).ok_or(RecordError::Missing(name))
}

fn malformed(field: &'static str, reason: impl ToString) -> RecordError {
    RecordError::Malformed {
        field,
        reason: reason.to_string(),
    }
}

fn f32_values(array: &Array, name: &'static str) -> Result<Vec<f32>, RecordError> {
    array.to_f32().map_err(|e| malformed(name, e.message))
}

/// The `crystal` record of a structure.
pub fn crystal_record(structure: &Structure) -> Record {
    let json = structure_to_pymatgen(structure).to_string();
    Record::single(
        STRUCTURE_FIELD,
        Array::from_u8(&[json.len()], json.as_bytes()),
    )
}

/// The structure of a `crystal` record, checked by
/// [`validate_structure`](crate::validate_structure).
pub fn structure_from_record(record: &Record) -> Result<Structure, RecordError> {
    let bytes = &field(record, STRUCTURE_FIELD)?.bytes;
    let json: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| malformed(STRUCTURE_FIELD, format!("is not JSON: {e}")))?;
    let structure = structure_from_pymatgen(&json).map_err(|e| malformed(STRUCTURE_FIELD, e))?;
    validate_structure(&structure)?;
    Ok(structure)
}

/// The elements of the structure in a `crystal` record (`None` when it holds no
/// readable structure).
pub fn crystal_elements(record: &Record) -> Option<BTreeSet<Element>> {
    let structure = structure_from_record(record).ok()?;
    Some(
        structure
            .composition()
            .into_iter()
            .map(|(e, _)| e)
            .collect(),
    )
}

/// The `dos` record of a DOS.
pub fn dos_record(dos: &Dos) -> Record {
    let mut values: Vec<f32> = dos.energies.iter().map(|&e| e as f32).collect();
    values.extend(dos.total().iter().map(|&d| d as f32));
    let mut record = Record::single(
        DOS_FIELD,
        Array::from_f32(&[2, dos.energies.len()], &values),
    );
    if let Some(efermi) = dos.efermi {
        record.push(EFERMI_FIELD, Array::from_f32(&[1], &[efermi as f32]));
    }
    record
}

/// A DOS as a `dos` record holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct DosSpectrum {
    /// Energies, eV. // [N]
    pub energies: Vec<f32>,
    /// Total density of states, states/eV/cell. // [N]
    pub density: Vec<f32>,
    /// Fermi energy, eV, when the record states it.
    pub efermi: Option<f32>,
}

/// The spectrum of a `dos` record: shape `(2, N)` with N ≥ 2 checked.
pub fn dos_from_record(record: &Record) -> Result<DosSpectrum, RecordError> {
    let array = field(record, DOS_FIELD)?;
    let dims = array.dims();
    if dims.len() != 2 || dims[0] != 2 || dims[1] < 2 {
        return Err(malformed(
            DOS_FIELD,
            format!("has shape {dims:?}, expected (2, N) with N >= 2"),
        ));
    }
    let mut energies = f32_values(array, DOS_FIELD)?;
    let density = energies.split_off(dims[1]);
    let efermi = match record.get(EFERMI_FIELD) {
        Some(array) => Some(
            *f32_values(array, EFERMI_FIELD)?
                .first()
                .ok_or_else(|| malformed(EFERMI_FIELD, "is empty"))?,
        ),
        None => None,
    };
    Ok(DosSpectrum {
        energies,
        density,
        efermi,
    })
}

/// The `charge` record of a volumetric file: `total` resampled to 32³.
pub fn charge_record(data: &VolumetricData) -> Record {
    resampled_charge_record(&data.total, data.grid)
}

/// The `charge` record of a grid indexed `[a][b][c]` (NumPy C order) of ρ·V,
/// resampled to 32³ unless it already is.
pub fn charge_record_from_grid(values: &[f32], shape: [usize; 3]) -> Record {
    let n = CHARGE_GRID;
    if shape == [n, n, n] {
        return Record::single(CHARGE_FIELD, Array::from_f32(&[n, n, n], values));
    }
    let [a, b, c] = shape;
    let mut x_fastest = vec![0f64; values.len()];
    for x in 0..a {
        for y in 0..b {
            for z in 0..c {
                x_fastest[x + a * (y + b * z)] = f64::from(values[(x * b + y) * c + z]);
            }
        }
    }
    resampled_charge_record(&x_fastest, shape)
}

/// Resamples an x-fastest grid to 32³ and stores it `[a][b][c]`.
fn resampled_charge_record(x_fastest: &[f64], grid: [usize; 3]) -> Record {
    let n = CHARGE_GRID;
    let resampled = resample_periodic(x_fastest, grid, n); // x fastest
    let mut values = vec![0f32; n * n * n];
    for z in 0..n {
        for y in 0..n {
            for x in 0..n {
                values[(x * n + y) * n + z] = resampled[x + n * (y + n * z)] as f32;
            }
        }
    }
    Record::single(CHARGE_FIELD, Array::from_f32(&[n, n, n], &values))
}

/// The grid of a `charge` record, `[a][b][c]`, with its shape checked against
/// `points`³. // [points³]
pub fn charge_grid_from_record(record: &Record, points: usize) -> Result<Vec<f32>, RecordError> {
    let array = field(record, CHARGE_FIELD)?;
    if array.dims() != [points, points, points] {
        return Err(malformed(
            CHARGE_FIELD,
            format!(
                "has shape {:?}, expected ({points}, {points}, {points}) (import resamples to {CHARGE_GRID}³)",
                array.dims()
            ),
        ));
    }
    f32_values(array, CHARGE_FIELD)
}

/// The `text` record of a description.
pub fn text_record(text: &str) -> Record {
    Record::single(TEXT_FIELD, Array::from_u8(&[text.len()], text.as_bytes()))
}

/// The description of a `text` record.
pub fn text_from_record(record: &Record) -> Result<&str, RecordError> {
    let bytes = &field(record, TEXT_FIELD)?.bytes;
    std::str::from_utf8(bytes).map_err(|e| malformed(TEXT_FIELD, format!("is not UTF-8: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Element, Lattice, Site};

    #[test]
    fn a_structure_survives_its_record() {
        let structure = Structure {
            lattice: Lattice::from_parameters(4.2, 4.2, 4.2, 90.0, 90.0, 90.0),
            sites: vec![
                Site::ordered(Element::from_symbol("Na").unwrap(), [0.0; 3], "Na"),
                Site::ordered(Element::from_symbol("Cl").unwrap(), [0.5; 3], "Cl"),
            ],
        };
        let back = structure_from_record(&crystal_record(&structure)).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back.sites[1].element(), structure.sites[1].element());
        assert!((back.lattice.volume() - 4.2f64.powi(3)).abs() < 1e-9);
    }

    #[test]
    fn records_without_their_fields_or_of_wrong_shape_are_refused() {
        let text = text_record("rock salt");
        assert!(matches!(
            structure_from_record(&text),
            Err(RecordError::Missing(STRUCTURE_FIELD))
        ));
        assert_eq!(text_from_record(&text).unwrap(), "rock salt");
        let flat = Record::single(DOS_FIELD, Array::from_f32(&[4], &[0.0; 4]));
        let error = dos_from_record(&flat).unwrap_err().to_string();
        assert!(error.contains("expected (2, N)"), "{error}");
        let grid = Record::single(CHARGE_FIELD, Array::from_f32(&[2, 2, 2], &[1.0; 8]));
        assert!(charge_grid_from_record(&grid, 2).is_ok());
        assert!(charge_grid_from_record(&grid, 32).is_err());
    }

    #[test]
    fn a_dos_record_keeps_energies_density_and_fermi_level() {
        let mut record = Record::single(
            DOS_FIELD,
            Array::from_f32(&[2, 3], &[-1.0, 0.0, 1.0, 0.5, 1.5, 2.5]),
        );
        record.push(EFERMI_FIELD, Array::from_f32(&[1], &[0.25]));
        let dos = dos_from_record(&record).unwrap();
        assert_eq!(dos.energies, [-1.0, 0.0, 1.0]);
        assert_eq!(dos.density, [0.5, 1.5, 2.5]);
        assert_eq!(dos.efermi, Some(0.25));
    }
}
