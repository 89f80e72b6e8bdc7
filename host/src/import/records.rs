//! Raw modality records as stored in the dataset and handed to featurizers.
//!
//! * `crystal`: `structure` — u8, the pymatgen `Structure` dictionary as JSON text;
//! * `dos`: `dos` — f32 `(2, N)`, energies (eV, absolute) and total DOS
//!   (states/eV/cell, spins summed); `efermi` — f32 `(1)` when known;
//! * `charge`: `charge` — f32 `(32, 32, 32)`, ρ·V_cell on a periodic grid, index
//!   `[a][b][c]` (the layout of MultiMat's `charge_density.npy`);
//! * `text`: `text` — u8, UTF-8.

use mmhost_materials::{resample_periodic, structure_to_pymatgen, Dos, Structure, VolumetricData};
use mmhost_plugin_api::{Array, Record};

/// Points per axis of stored charge densities.
pub const CHARGE_GRID: usize = 32;

/// The `crystal` record of a structure.
pub fn crystal_record(structure: &Structure) -> Record {
    let json = structure_to_pymatgen(structure).to_string();
    Record::single("structure", Array::from_u8(&[json.len()], json.as_bytes()))
}

/// The `dos` record of a DOS.
pub fn dos_record(dos: &Dos) -> Record {
    let mut values: Vec<f32> = dos.energies.iter().map(|&e| e as f32).collect();
    values.extend(dos.total().iter().map(|&d| d as f32));
    let mut record = Record::single("dos", Array::from_f32(&[2, dos.energies.len()], &values));
    if let Some(efermi) = dos.efermi {
        record.push("efermi", Array::from_f32(&[1], &[efermi as f32]));
    }
    record
}

/// The `charge` record of a volumetric file: `total` resampled to 32³.
pub fn charge_record(data: &VolumetricData) -> Record {
    resampled_record(&data.total, data.grid)
}

/// The `charge` record of a grid indexed `[a][b][c]` (NumPy C order) of ρ·V,
/// resampled to 32³ unless it already is.
pub fn charge_record_from_grid(values: &[f32], shape: [usize; 3]) -> Record {
    let n = CHARGE_GRID;
    if shape == [n, n, n] {
        return Record::single("charge", Array::from_f32(&[n, n, n], values));
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
    resampled_record(&x_fastest, shape)
}

/// Resamples an x-fastest grid to 32³ and stores it `[a][b][c]`.
fn resampled_record(x_fastest: &[f64], grid: [usize; 3]) -> Record {
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
    Record::single("charge", Array::from_f32(&[n, n, n], &values))
}

/// The `text` record of a description.
pub fn text_record(text: &str) -> Record {
    Record::single("text", Array::from_u8(&[text.len()], text.as_bytes()))
}
