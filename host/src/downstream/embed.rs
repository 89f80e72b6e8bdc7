//! Embedding the materials of a dataset with a trained encoder, and writing the
//! result for other tools: `[n, dim]` float32 `.npy` with the ids beside it.

use std::{
    io::Cursor,
    ops::ControlFlow,
    path::{Path, PathBuf},
};

use npyz::WriterBuilder;

use mmhost_plugin_api::Record;

use super::DownstreamError;
use crate::{
    batches::{balanced_batches, load_batch},
    dataset::Dataset,
    plugins::EncoderHandle,
    run::ModelError,
    session::ModalitySource,
};

/// Embeddings of the materials that have the modality.
pub struct Embedded {
    /// Material ids, one per row.
    pub ids: Vec<String>,
    pub dim: usize,
    /// `[ids.len(), dim]`, row-major.
    pub values: Vec<f32>,
    /// `modality id: reason` of records that could not be featurized.
    pub failed: Vec<String>,
}

/// Embeds every id of `ids` that has a record of the encoder's modality, in batches
/// of `batch_size`, featurizing through the dataset's cache; `progress` sees the
/// number done after each batch and stops it by breaking.
pub fn embed_ids(
    dataset: &Dataset,
    encoder: &mut EncoderHandle,
    source: &ModalitySource,
    ids: &[String],
    batch_size: usize,
    threads: usize,
    progress: &mut dyn FnMut(usize, usize) -> ControlFlow<()>,
) -> Result<Embedded, ModelError> {
    let wanted: Vec<String> = ids
        .iter()
        .filter(|id| source.available.contains(*id))
        .cloned()
        .collect();
    let dim = encoder.embed_dim();
    let mut out = Embedded {
        ids: Vec::with_capacity(wanted.len()),
        dim,
        values: Vec::with_capacity(wanted.len() * dim),
        failed: Vec::new(),
    };
    let mut done = 0;
    for (index, batch_ids) in balanced_batches(&wanted, batch_size).iter().enumerate() {
        let batch = load_batch(
            dataset,
            std::slice::from_ref(source),
            index,
            batch_ids,
            threads,
        )?;
        out.failed.extend(batch.failed);
        let modality = &batch.modalities[0];
        if !modality.records.is_empty() {
            let z = encoder.embed(&modality.records)?;
            out.values.extend_from_slice(&z.values);
            out.ids.extend(
                batch_ids
                    .iter()
                    .zip(&modality.present)
                    .filter(|(_, &p)| p)
                    .map(|(id, _)| id.clone()),
            );
        }
        done += batch_ids.len();
        if progress(done, wanted.len()).is_break() {
            return Err(ModelError::Invalid("embedding interrupted".into()));
        }
    }
    Ok(out)
}

/// The id list written beside `npy`: `emb.npy` → `emb_ids.txt` (the convention
/// `mmhost data import` reads).
pub fn ids_path(npy: &Path) -> PathBuf {
    let stem = npy
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "embeddings".into());
    npy.with_file_name(format!("{stem}_ids.txt"))
}

/// Writes `embedded` as float32 `.npy` `[n, dim]` at `npy` and the ids, one per
/// line, beside it; both atomically.
pub fn write_embeddings(npy: &Path, embedded: &Embedded) -> std::io::Result<PathBuf> {
    let mut bytes = Cursor::new(Vec::new());
    {
        let mut writer = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&[embedded.ids.len() as u64, embedded.dim as u64])
            .writer(&mut bytes)
            .begin_nd()?;
        writer.extend(embedded.values.iter().copied())?;
        writer.finish()?;
    }
    crate::atomic::write(npy, bytes.get_ref())?;
    let ids = ids_path(npy);
    let mut text = embedded.ids.join("\n");
    text.push('\n');
    crate::atomic::write(&ids, text.as_bytes())?;
    Ok(ids)
}

/// One raw record (from a file, or a sentence) featurized by `source` and embedded
/// by `encoder`: `[dim]`. `what` names the record in errors.
pub fn embed_record(
    encoder: &mut EncoderHandle,
    source: &ModalitySource,
    raw: &Record,
    what: &str,
) -> Result<Vec<f32>, DownstreamError> {
    let featurized = source
        .featurizer
        .featurize(raw)
        .map_err(|e| DownstreamError::Invalid(format!("featurizing {what}: {e}")))?;
    Ok(encoder.embed(&[featurized])?.values.into_vec())
}
