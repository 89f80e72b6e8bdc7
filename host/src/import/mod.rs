//! `mmhost data import`: reads files and folders in any supported format and writes
//! each file's materials, records and labels into the dataset in one transaction.
//! Unchanged files (same content hash) are not imported again, so an interrupted
//! import can simply be rerun.

mod formats;
mod npy;

use std::{
    collections::HashSet,
    ops::ControlFlow,
    path::{Path, PathBuf},
    time::Instant,
};

use serde::Serialize;

use mmhost_materials::records::{structure_from_record, text_record};

use crate::dataset::{Dataset, DatasetError, ImportBatch, ImportLog, Rejected};

pub use formats::read_structure;

/// What happened to one source file.
#[derive(Clone, Debug, Serialize)]
pub struct FileReport {
    pub path: String,
    pub format: String,
    pub outcome: Outcome,
}

/// The outcome of importing one file.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Written: counts, records refused (with reasons) and seconds taken.
    Imported {
        materials: usize,
        records: usize,
        rejected: Vec<Rejected>,
        seconds: f64,
    },
    /// Already imported with the same content.
    Unchanged,
    /// Not a format mmhost reads (or a companion file read with another).
    Skipped { reason: String },
    /// Unreadable as a whole; nothing from it was written.
    Failed { reason: String },
}

/// Imports every file under `sources` (files or folders, recursively, in name
/// order), calling `progress` after each file; it stops after a file when
/// `progress` breaks (each file's import is a transaction of its own).
pub fn import_sources(
    dataset: &Dataset,
    sources: &[PathBuf],
    mut progress: impl FnMut(&FileReport) -> ControlFlow<()>,
) -> Result<Vec<FileReport>, DatasetError> {
    let files = files_under(sources);
    let mut reports = Vec::with_capacity(files.len());
    for path in files {
        let report = import_file(dataset, &path)?;
        let flow = progress(&report);
        reports.push(report);
        if flow.is_break() {
            break;
        }
    }
    Ok(reports)
}

/// Reads one file in any supported format (auto-detected) without a dataset: its
/// materials, records and refused records. `Err` names why the file as a whole
/// cannot be read.
pub fn read_file(path: &Path) -> Result<ImportBatch, String> {
    let bytes = formats::read_limited(path)?;
    read_bytes(path, &bytes)
}

/// [`read_file`] of `bytes` as the content of a file named `path` (its name picks the
/// format; an `.npy` file's id list is still read from beside it). The fuzzing
/// harnesses (`fuzz/`) drive the readers through this.
pub fn read_bytes(path: &Path, bytes: &[u8]) -> Result<ImportBatch, String> {
    let format = formats::detect(path).ok_or_else(|| "not a format mmhost reads".to_string())?;
    formats::read(format, path, bytes)
}

/// Files under `sources` (folders recursively, in name order; a folder reached again,
/// through a symbolic link or as another source, is not read twice).
pub fn files_under(sources: &[PathBuf]) -> Vec<PathBuf> {
    let mut lister = FileLister::default();
    sources
        .iter()
        .flat_map(|source| lister.files_under(source))
        .collect()
}

/// Lists the files under paths, reading each folder (by canonical path) once over
/// all the paths it is given.
#[derive(Default)]
pub struct FileLister {
    folders_read: HashSet<PathBuf>,
}

impl FileLister {
    /// The files under `path` (itself if a file; a folder recursively, in name
    /// order), skipping the folders this lister has read before.
    pub fn files_under(&mut self, path: &Path) -> Vec<PathBuf> {
        let mut files = Vec::new();
        self.collect(path, &mut files);
        files
    }

    fn collect(&mut self, path: &Path, out: &mut Vec<PathBuf>) {
        if path.is_dir() {
            let folder = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
            if !self.folders_read.insert(folder) {
                return;
            }
            let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
                .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
                .unwrap_or_default();
            entries.sort();
            for entry in entries {
                self.collect(&entry, out);
            }
        } else {
            out.push(path.to_path_buf());
        }
    }
}

fn import_file(dataset: &Dataset, path: &Path) -> Result<FileReport, DatasetError> {
    let key = std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string();
    let report = |format: &str, outcome| FileReport {
        path: path.display().to_string(),
        format: format.to_string(),
        outcome,
    };
    let Some(format) = formats::detect(path) else {
        let reason = if formats::is_companion(path) {
            "read together with its .npy file"
        } else {
            "not a format mmhost reads"
        };
        return Ok(report(
            "-",
            Outcome::Skipped {
                reason: reason.into(),
            },
        ));
    };
    let bytes = match formats::read_limited(path) {
        Ok(b) => b,
        Err(e) => return Ok(report(format.name(), Outcome::Failed { reason: e })),
    };
    let hash = format!("{:016x}", crate::hash::fnv1a(&bytes));
    if dataset
        .import_log(&key)?
        .is_some_and(|log| log.hash == hash)
    {
        return Ok(report(format.name(), Outcome::Unchanged));
    }
    let started = Instant::now();
    let batch = match formats::read(format, path, &bytes) {
        Ok(batch) => batch,
        Err(reason) => return Ok(report(format.name(), Outcome::Failed { reason })),
    };
    let log = ImportLog {
        hash,
        format: format.name().to_string(),
        materials: batch.materials.len(),
        records: batch.records.len(),
        rejected: batch.rejected.clone(),
    };
    dataset.apply(&key, &batch, &log)?;
    Ok(report(
        format.name(),
        Outcome::Imported {
            materials: log.materials,
            records: log.records,
            rejected: log.rejected,
            seconds: started.elapsed().as_secs_f64(),
        },
    ))
}

/// Writes a generated description (`mmhost describe`) as the `text` record of every
/// material that has a structure and no text, in one transaction. Returns how many
/// were written and the materials whose structure could not be described.
pub fn describe_missing(dataset: &Dataset) -> Result<(usize, Vec<Rejected>), DatasetError> {
    let texts: std::collections::HashSet<String> = dataset.ids_with("text")?.into_iter().collect();
    let mut batch = crate::dataset::ImportBatch::default();
    for id in dataset.ids_with("crystal")? {
        if texts.contains(&id) {
            continue;
        }
        let described = dataset
            .record("crystal", &id)?
            .ok_or_else(|| "no structure".to_string())
            .and_then(|record| {
                let structure = structure_from_record(&record).map_err(|e| e.to_string())?;
                mmhost_materials::describe(&structure).map_err(|e| e.to_string())
            });
        match described {
            Ok(text) => batch
                .records
                .push(("text".into(), id, text_record(text.trim_end()))),
            Err(reason) => batch.rejected.push(Rejected {
                record: id,
                reason,
                modality: Some("text".into()),
            }),
        }
    }
    let written = batch.records.len();
    let log = ImportLog {
        hash: format!("{written}"),
        format: "describe".into(),
        materials: 0,
        records: written,
        rejected: batch.rejected.clone(),
    };
    dataset.apply("generated:describe", &batch, &log)?;
    Ok((written, batch.rejected))
}
