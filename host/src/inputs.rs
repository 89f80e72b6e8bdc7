//! Inputs handed over by a caller rather than imported into a dataset (`mmhost
//! predict`'s files, the Python package's objects): each becomes the raw records of
//! one modality, through the same readers and validation as import, then featurized
//! and embedded in batches. What cannot be used is listed with its reason.

use std::{
    collections::BTreeSet,
    ops::ControlFlow,
    path::{Path, PathBuf},
};

use rayon::prelude::*;

use mmhost_materials::{
    records::{charge_record_from_grid, crystal_elements, text_record},
    Element, MAX_GRID_POINTS,
};
use mmhost_plugin_api::Record;

use crate::{
    import::{read_bytes, read_file, FileLister},
    plugins::{EncoderHandle, FeaturizerHandle, PluginCallError},
};

/// Rows embedded per encoder call (as `mmhost embed` and `predict` batch).
pub const EMBED_BATCH: usize = 64;

/// One input of a caller.
#[derive(Clone, Debug)]
pub enum RawInput {
    /// A file in any format import reads (detected from its name), or a folder of
    /// them (read recursively, in name order).
    File(PathBuf),
    /// A file's content, with the name its format is detected from (`x.cif`,
    /// `POSCAR`, `x.json` for pymatgen JSON).
    Bytes { name: String, bytes: Vec<u8> },
    /// A charge-density grid ρ·V indexed `[a][b][c]` (NumPy C order), flattened.
    ChargeGrid {
        name: String,
        values: Vec<f32>,
        shape: [usize; 3],
    },
    /// A text description.
    Sentence { name: String, text: String },
}

impl RawInput {
    /// The name used in messages.
    pub fn name(&self) -> String {
        match self {
            RawInput::File(path) => path.display().to_string(),
            RawInput::Bytes { name, .. }
            | RawInput::ChargeGrid { name, .. }
            | RawInput::Sentence { name, .. } => name.clone(),
        }
    }
}

/// A raw record with the material id its source gave and the input it came from.
#[derive(Clone, Debug)]
pub struct Gathered {
    pub id: String,
    pub input: String,
    pub record: Record,
    /// The elements of a `crystal` record's structure, read when it was gathered
    /// (featurization replaces the record); `None` for other modalities.
    pub elements: Option<BTreeSet<Element>>,
}

/// The records of `modality` in `inputs`, in input order, and `input: reason` for
/// each input (or record of one) that cannot be used. Folders are read recursively,
/// each once however often given or reached; files named are read as given.
pub fn gather(inputs: &[RawInput], modality: &str) -> (Vec<Gathered>, Vec<String>) {
    let mut found = Vec::new();
    let mut refused = Vec::new();
    let mut folders = FileLister::default();
    let expanded: Vec<RawInput> = inputs
        .iter()
        .flat_map(|input| match input {
            RawInput::File(path) if path.is_dir() => folders
                .files_under(path)
                .into_iter()
                .map(RawInput::File)
                .collect(),
            other => vec![other.clone()],
        })
        .collect();
    for input in &expanded {
        let name = input.name();
        let batch = match input {
            RawInput::File(path) => read_file(path),
            RawInput::Bytes { name, bytes } => read_bytes(Path::new(name), bytes),
            RawInput::ChargeGrid {
                name,
                values,
                shape,
            } => {
                if modality != "charge" {
                    refused.push(wrong_kind(name, "charge", modality));
                    continue;
                }
                match charge_grid_record(values, *shape) {
                    Ok(record) => found.push(Gathered {
                        id: name.clone(),
                        input: name.clone(),
                        record,
                        elements: None,
                    }),
                    Err(reason) => refused.push(format!("{name}: {reason}")),
                }
                continue;
            }
            RawInput::Sentence { name, text } => {
                if modality == "text" {
                    found.push(Gathered {
                        id: name.clone(),
                        input: name.clone(),
                        record: text_record(text),
                        elements: None,
                    });
                } else {
                    refused.push(wrong_kind(name, "text", modality));
                }
                continue;
            }
        };
        let batch = match batch {
            Ok(batch) => batch,
            Err(reason) => {
                refused.push(format!("{name}: {reason}"));
                continue;
            }
        };
        let before = (found.len(), refused.len());
        // A rejected record of another modality (a vasprun's DOS when its structure
        // is asked for) is not this input's concern.
        refused.extend(
            batch
                .rejected
                .iter()
                .filter(|r| r.modality.as_deref().is_none_or(|m| m == modality))
                .map(|r| format!("{name}, {}: {}", r.record, r.reason)),
        );
        found.extend(
            batch
                .records
                .into_iter()
                .filter(|(m, _, _)| m == modality)
                .map(|(_, id, record)| Gathered {
                    id,
                    input: name.clone(),
                    elements: (modality == "crystal")
                        .then(|| crystal_elements(&record))
                        .flatten(),
                    record,
                }),
        );
        if (found.len(), refused.len()) == before {
            refused.push(format!("{name}: holds no {modality} record"));
        }
    }
    (found, refused)
}

fn wrong_kind(name: &str, given: &str, asked: &str) -> String {
    format!("{name}: a {given} input, but {asked} inputs were asked for")
}

/// The `charge` record of a grid, refused when its shape does not account for its
/// values, it is larger than import allows, or it holds no positive finite density.
fn charge_grid_record(values: &[f32], shape: [usize; 3]) -> Result<Record, String> {
    let points = shape
        .iter()
        .try_fold(1usize, |n, &s| n.checked_mul(s))
        .filter(|&n| n <= MAX_GRID_POINTS)
        .ok_or_else(|| {
            format!("grid {shape:?} has more points than the limit of {MAX_GRID_POINTS}")
        })?;
    if shape.iter().any(|&s| s < 2) {
        return Err(format!(
            "grid {shape:?} needs at least 2 points along each axis"
        ));
    }
    if points != values.len() {
        return Err(format!(
            "grid {shape:?} has {points} points, but {} values were given",
            values.len()
        ));
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(format!("non-finite value at index {i}"));
    }
    if values.iter().all(|&v| v <= 0.0) {
        return Err("charge grid has no positive density (all values ≤ 0)".into());
    }
    Ok(charge_record_from_grid(values, shape))
}

/// Featurizes every gathered record on all cores; a record the featurizer refuses
/// goes to `refused` as `input, id: reason`.
pub fn featurize(
    featurizer: &FeaturizerHandle,
    gathered: Vec<Gathered>,
    refused: &mut Vec<String>,
) -> Vec<Gathered> {
    let results: Vec<Result<Gathered, String>> = gathered
        .into_par_iter()
        .map(|g| match featurizer.featurize(&g.record) {
            Ok(record) => Ok(Gathered { record, ..g }),
            Err(e) => Err(format!("{}, {}: {}", g.input, g.id, e.error.message)),
        })
        .collect();
    let mut ready = Vec::with_capacity(results.len());
    for result in results {
        match result {
            Ok(g) => ready.push(g),
            Err(reason) => refused.push(reason),
        }
    }
    ready
}

/// Embeds featurized records in batches of [`EMBED_BATCH`], calling `progress` with
/// the rows done after each (`None` when it breaks); `[records.len(), dim]` row-major.
pub fn embed(
    encoder: &mut EncoderHandle,
    records: &[Gathered],
    progress: &mut dyn FnMut(usize, usize) -> ControlFlow<()>,
) -> Result<Option<Vec<f32>>, PluginCallError> {
    let mut values = Vec::with_capacity(records.len() * encoder.embed_dim());
    let mut done = 0;
    for chunk in records.chunks(EMBED_BATCH) {
        let batch: Vec<Record> = chunk.iter().map(|g| g.record.clone()).collect();
        values.extend_from_slice(&encoder.embed(&batch)?.values);
        done += chunk.len();
        if progress(done, records.len()).is_break() {
            return Ok(None);
        }
    }
    Ok(Some(values))
}
