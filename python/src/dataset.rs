//! A materials dataset file (`mmhost data import` writes it): import, summary,
//! materials.

use std::path::PathBuf;

use mmhost::{
    dataset::Dataset as Store,
    import::{describe_missing, import_sources, FileReport},
    run::Interrupt,
};
use pyo3::prelude::*;

use crate::{errors, interrupt};

/// A dataset file, created when missing. The file is locked while this is alive:
/// the Python side opens it for each call, so that models can open it too.
#[pyclass(module = "mmhost._native", frozen)]
pub struct Dataset {
    store: Store,
}

#[pymethods]
impl Dataset {
    #[new]
    fn new(path: PathBuf) -> PyResult<Self> {
        let store = Store::open(&path).map_err(errors::from_dataset)?;
        Ok(Self { store })
    }

    /// Imports files or folders (recursively) as `mmhost data import` does;
    /// `on_file(report_json)` is called after each file; Ctrl-C stops after the
    /// file being imported. Returns the reports as JSON.
    fn import_files(
        &self,
        py: Python<'_>,
        sources: Vec<PathBuf>,
        on_file: Py<PyAny>,
    ) -> PyResult<String> {
        if let Some(missing) = sources.iter().find(|s| !s.exists()) {
            return Err(pyo3::exceptions::PyFileNotFoundError::new_err(format!(
                "{} does not exist",
                missing.display()
            )));
        }
        let stop = Interrupt::default();
        let reports = interrupt::run(py, &stop, Some(&on_file), |report| {
            import_sources(&self.store, &sources, |file: &FileReport| {
                report(serde_json::to_string(file).unwrap_or_default());
                stop.flow()
            })
        })?
        .map_err(errors::from_dataset)?;
        serde_json::to_string(&reports).map_err(errors::failed)
    }

    /// Gives every material with a structure but no description a generated one;
    /// returns the count written and the refusals as JSON.
    fn describe_missing(&self, py: Python<'_>) -> PyResult<(usize, String)> {
        let stop = Interrupt::default();
        let (written, rejected) =
            interrupt::run(py, &stop, None, |_| describe_missing(&self.store))?
                .map_err(errors::from_dataset)?;
        Ok((
            written,
            serde_json::to_string(&rejected).map_err(errors::failed)?,
        ))
    }

    /// Counts per modality, label and crystal system, as JSON.
    fn summary_json(&self) -> PyResult<String> {
        let summary = self.store.summary().map_err(errors::from_dataset)?;
        serde_json::to_string(&summary).map_err(errors::failed)
    }

    /// Every material id, in dataset order.
    fn material_ids(&self) -> PyResult<Vec<String>> {
        self.store.material_ids().map_err(errors::from_dataset)
    }

    /// Every material as [`Dataset::material_json`] gives it, in dataset order.
    fn materials_json(&self) -> PyResult<Vec<(String, Vec<String>)>> {
        let mut all = Vec::new();
        for id in self.store.material_ids().map_err(errors::from_dataset)? {
            all.extend(self.material_json(&id)?);
        }
        Ok(all)
    }

    /// One material (formula, symmetry, labels, sources) as JSON, with its
    /// modalities; `None` when the id is unknown.
    fn material_json(&self, id: &str) -> PyResult<Option<(String, Vec<String>)>> {
        let Some(material) = self.store.material(id).map_err(errors::from_dataset)? else {
            return Ok(None);
        };
        let modalities = self.store.modalities_of(id).map_err(errors::from_dataset)?;
        Ok(Some((
            serde_json::to_string(&material).map_err(errors::failed)?,
            modalities,
        )))
    }
}
