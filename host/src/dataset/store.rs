//! The redb-backed dataset store.

use std::{collections::BTreeMap, path::Path};

use mmhost_plugin_api::Record;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::{decode_record, encode_record};

/// id → material (JSON).
const MATERIALS: TableDefinition<&str, &[u8]> = TableDefinition::new("materials");
/// (modality, id) → raw record.
const RECORDS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("records");
/// source path → import log entry (JSON).
const IMPORTS: TableDefinition<&str, &[u8]> = TableDefinition::new("imports");
/// (featurizer key, id) → featurized record: the featurization cache.
const FEATURES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("features");

/// A dataset operation that failed.
#[derive(Debug, Error)]
pub enum DatasetError {
    #[error("dataset {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("dataset: {0}")]
    Storage(String),
    #[error("dataset: {0}")]
    Corrupt(String),
}

fn storage(e: impl std::fmt::Display) -> DatasetError {
    DatasetError::Storage(e.to_string())
}

/// One material: what is known of it besides its modality records.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Material {
    pub id: String,
    /// Reduced formula, from its structure.
    pub formula: Option<String>,
    /// Space group number (moyo, symprec 0.1 Å), from its structure.
    pub space_group: Option<u32>,
    pub crystal_system: Option<String>,
    /// Scalar labels: formation energy (eV/atom), band gap (eV), moduli (GPa), …
    pub labels: BTreeMap<String, f64>,
    /// Files that contributed to it.
    pub sources: Vec<String>,
}

impl Material {
    /// Merges `update` into this material: set fields and labels overwrite.
    fn merge(&mut self, update: &Material) {
        if update.formula.is_some() {
            self.formula.clone_from(&update.formula);
            self.space_group = update.space_group;
            self.crystal_system.clone_from(&update.crystal_system);
        }
        self.labels
            .extend(update.labels.iter().map(|(k, v)| (k.clone(), *v)));
        for source in &update.sources {
            if !self.sources.contains(source) {
                self.sources.push(source.clone());
            }
        }
    }
}

/// A record of a source file that could not be imported.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rejected {
    /// Which record: `row 17 (mp-123)`, `material mp-5`, ….
    pub record: String,
    pub reason: String,
    /// The modality whose record was refused (`crystal`, `dos`, `charge`, `text`);
    /// `None` for a whole row or document, or a label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modality: Option<String>,
}

/// Everything one source file contributes, written in one transaction.
#[derive(Default)]
pub struct ImportBatch {
    pub materials: Vec<Material>,
    /// `(modality, material id, raw record)`.
    pub records: Vec<(String, String, Record)>,
    pub rejected: Vec<Rejected>,
}

/// The import log entry of one source file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportLog {
    /// FNV-1a of the file's bytes: an unchanged file is not imported again.
    pub hash: String,
    pub format: String,
    pub materials: usize,
    pub records: usize,
    pub rejected: Vec<Rejected>,
}

/// Counts for `mmhost data info`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DatasetSummary {
    pub materials: u64,
    /// Records per modality.
    pub modalities: BTreeMap<String, u64>,
    /// Materials per label.
    pub labels: BTreeMap<String, u64>,
    /// Materials per crystal system.
    pub crystal_systems: BTreeMap<String, u64>,
    /// Source files imported.
    pub sources: u64,
}

/// An open dataset file.
pub struct Dataset {
    db: Database,
}

impl Dataset {
    /// Opens `path`, creating an empty dataset if it does not exist.
    pub fn open(path: &Path) -> Result<Self, DatasetError> {
        let db = Database::create(path).map_err(|e| DatasetError::Open {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let txn = db.begin_write().map_err(storage)?;
        txn.open_table(MATERIALS).map_err(storage)?;
        txn.open_table(RECORDS).map_err(storage)?;
        txn.open_table(IMPORTS).map_err(storage)?;
        txn.open_table(FEATURES).map_err(storage)?;
        txn.commit().map_err(storage)?;
        Ok(Self { db })
    }

    /// Writes a source file's batch and its log entry atomically: after a crash
    /// either all of it is in the dataset or none of it.
    pub fn apply(
        &self,
        source: &str,
        batch: &ImportBatch,
        log: &ImportLog,
    ) -> Result<(), DatasetError> {
        let txn = self.db.begin_write().map_err(storage)?;
        {
            let mut materials = txn.open_table(MATERIALS).map_err(storage)?;
            for update in &batch.materials {
                let mut material = match materials.get(update.id.as_str()).map_err(storage)? {
                    Some(bytes) => decode_material(bytes.value())?,
                    None => Material {
                        id: update.id.clone(),
                        ..Material::default()
                    },
                };
                material.merge(update);
                let bytes = serde_json::to_vec(&material).map_err(storage)?;
                materials
                    .insert(update.id.as_str(), bytes.as_slice())
                    .map_err(storage)?;
            }
            let mut records = txn.open_table(RECORDS).map_err(storage)?;
            for (modality, id, record) in &batch.records {
                let bytes = encode_record(record);
                records
                    .insert((modality.as_str(), id.as_str()), bytes.as_slice())
                    .map_err(storage)?;
            }
            let mut imports = txn.open_table(IMPORTS).map_err(storage)?;
            let bytes = serde_json::to_vec(log).map_err(storage)?;
            imports.insert(source, bytes.as_slice()).map_err(storage)?;
        }
        txn.commit().map_err(storage)
    }

    /// The import log entry of `source`, if it was imported.
    pub fn import_log(&self, source: &str) -> Result<Option<ImportLog>, DatasetError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let table = txn.open_table(IMPORTS).map_err(storage)?;
        match table.get(source).map_err(storage)? {
            Some(bytes) => serde_json::from_slice(bytes.value())
                .map(Some)
                .map_err(|e| DatasetError::Corrupt(format!("import log of {source}: {e}"))),
            None => Ok(None),
        }
    }

    /// Cached featurized records of `ids` under `key` (`None` where not cached).
    pub fn cached_features(
        &self,
        key: &str,
        ids: &[String],
    ) -> Result<Vec<Option<Record>>, DatasetError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let table = txn.open_table(FEATURES).map_err(storage)?;
        ids.iter()
            .map(|id| match table.get((key, id.as_str())).map_err(storage)? {
                Some(bytes) => decode_record(bytes.value())
                    .map(Some)
                    .map_err(|e| DatasetError::Corrupt(format!("cached features of {id}: {e}"))),
                None => Ok(None),
            })
            .collect()
    }

    /// Stores featurized records under `key`, in one transaction.
    pub fn store_features(
        &self,
        key: &str,
        items: &[(String, Record)],
    ) -> Result<(), DatasetError> {
        let txn = self.db.begin_write().map_err(storage)?;
        {
            let mut table = txn.open_table(FEATURES).map_err(storage)?;
            for (id, record) in items {
                let bytes = encode_record(record);
                table
                    .insert((key, id.as_str()), bytes.as_slice())
                    .map_err(storage)?;
            }
        }
        txn.commit().map_err(storage)
    }

    /// The material `id`.
    pub fn material(&self, id: &str) -> Result<Option<Material>, DatasetError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let table = txn.open_table(MATERIALS).map_err(storage)?;
        let found = table.get(id).map_err(storage)?;
        found
            .map(|bytes| decode_material(bytes.value()))
            .transpose()
    }

    /// Every material id, sorted.
    pub fn material_ids(&self) -> Result<Vec<String>, DatasetError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let table = txn.open_table(MATERIALS).map_err(storage)?;
        let mut ids = Vec::new();
        for entry in table.iter().map_err(storage)? {
            let (key, _) = entry.map_err(storage)?;
            ids.push(key.value().to_string());
        }
        Ok(ids)
    }

    /// The raw `modality` record of material `id`.
    pub fn record(&self, modality: &str, id: &str) -> Result<Option<Record>, DatasetError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let table = txn.open_table(RECORDS).map_err(storage)?;
        let found = table.get((modality, id)).map_err(storage)?;
        found
            .map(|bytes| {
                decode_record(bytes.value())
                    .map_err(|e| DatasetError::Corrupt(format!("{modality} record of {id}: {e}")))
            })
            .transpose()
    }

    /// The modalities material `id` has records for.
    pub fn modalities_of(&self, id: &str) -> Result<Vec<String>, DatasetError> {
        Ok(self
            .record_keys()?
            .into_iter()
            .filter(|(_, i)| i == id)
            .map(|(m, _)| m)
            .collect())
    }

    /// Material ids that have a `modality` record, sorted.
    pub fn ids_with(&self, modality: &str) -> Result<Vec<String>, DatasetError> {
        Ok(self
            .record_keys()?
            .into_iter()
            .filter(|(m, _)| m == modality)
            .map(|(_, id)| id)
            .collect())
    }

    /// Every material (in id order) with the modalities it has records of; with
    /// `modality`, only the materials that have that one.
    pub fn listing(
        &self,
        modality: Option<&str>,
    ) -> Result<Vec<(Material, Vec<String>)>, DatasetError> {
        let mut modalities: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (m, id) in self.record_keys()? {
            modalities.entry(id).or_default().push(m);
        }
        let txn = self.db.begin_read().map_err(storage)?;
        let table = txn.open_table(MATERIALS).map_err(storage)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(storage)? {
            let (_, bytes) = entry.map_err(storage)?;
            let material = decode_material(bytes.value())?;
            let has = modalities.remove(&material.id).unwrap_or_default();
            if modality.is_none_or(|m| has.iter().any(|h| h == m)) {
                out.push((material, has));
            }
        }
        Ok(out)
    }

    fn record_keys(&self) -> Result<Vec<(String, String)>, DatasetError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let table = txn.open_table(RECORDS).map_err(storage)?;
        let mut keys = Vec::new();
        for entry in table.iter().map_err(storage)? {
            let (key, _) = entry.map_err(storage)?;
            let (modality, id) = key.value();
            keys.push((modality.to_string(), id.to_string()));
        }
        Ok(keys)
    }

    /// Counts per modality, label and crystal system.
    pub fn summary(&self) -> Result<DatasetSummary, DatasetError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let mut summary = DatasetSummary::default();
        let materials = txn.open_table(MATERIALS).map_err(storage)?;
        summary.materials = materials.len().map_err(storage)?;
        for entry in materials.iter().map_err(storage)? {
            let (_, bytes) = entry.map_err(storage)?;
            let material = decode_material(bytes.value())?;
            for label in material.labels.keys() {
                *summary.labels.entry(label.clone()).or_default() += 1;
            }
            if let Some(system) = material.crystal_system {
                *summary.crystal_systems.entry(system).or_default() += 1;
            }
        }
        for (modality, _) in self.record_keys()? {
            *summary.modalities.entry(modality).or_default() += 1;
        }
        summary.sources = txn
            .open_table(IMPORTS)
            .map_err(storage)?
            .len()
            .map_err(storage)?;
        Ok(summary)
    }
}

fn decode_material(bytes: &[u8]) -> Result<Material, DatasetError> {
    serde_json::from_slice(bytes).map_err(|e| DatasetError::Corrupt(format!("material: {e}")))
}
