//! `mmhost retrieve`: how well one modality's embeddings find the same material's
//! other modality over a split, and the nearest materials to one query (a file or
//! a sentence).

use std::{collections::HashMap, path::Path};

use mmhost_plugin_api::Record;
use serde::Serialize;

use super::{
    embed::{embed_record, Embedded},
    retrieval::{own_target_ranks, top_k, RetrievalScores},
    DownstreamError, EmbedProgress, ModelOnData,
};
use mmhost_materials::records::text_record;

use crate::{import::read_file, plugins::PluginSearch};

/// Retrieval scores of `query` → `target` embeddings over the materials of `on`
/// that have both modalities: each query must find its own material among all
/// targets.
pub fn score_split(
    on: &ModelOnData,
    search: &PluginSearch,
    query: &str,
    target: &str,
    progress: EmbedProgress<'_>,
) -> Result<RetrievalScores, DownstreamError> {
    let queries = on.embed(&on.ids, search, query, progress)?;
    let targets = on.embed(&on.ids, search, target, progress)?;
    same_dim(query, queries.dim, target, targets.dim)?;
    let (q, t) = paired_rows(&queries, &targets);
    if q.is_empty() {
        return Err(DownstreamError::Invalid(format!(
            "no material of {} has both {query} and {target}",
            on.materials_name()
        )));
    }
    Ok(RetrievalScores::from_ranks(&own_target_ranks(
        &q,
        &t,
        queries.dim,
    )))
}

/// The rows of `query` and `target` of the materials in both, aligned: `[n, dim]`
/// each, in `query`'s order.
fn paired_rows(query: &Embedded, target: &Embedded) -> (Vec<f32>, Vec<f32>) {
    let target_rows: HashMap<&str, usize> = target
        .ids
        .iter()
        .enumerate()
        .map(|(row, id)| (id.as_str(), row))
        .collect();
    let dim = query.dim;
    let (mut q, mut t) = (Vec::new(), Vec::new());
    for (row, id) in query.ids.iter().enumerate() {
        if let Some(&target_row) = target_rows.get(id.as_str()) {
            q.extend_from_slice(&query.values[row * dim..(row + 1) * dim]);
            t.extend_from_slice(&target.values[target_row * dim..(target_row + 1) * dim]);
        }
    }
    (q, t)
}

fn same_dim(query: &str, q: usize, target: &str, t: usize) -> Result<(), DownstreamError> {
    if q == t {
        Ok(())
    } else {
        Err(DownstreamError::Invalid(format!(
            "{query} embeddings are {q}-d, {target} embeddings {t}-d"
        )))
    }
}

/// One query: the record of the query modality in a file, or a sentence.
#[derive(Clone, Copy, Debug)]
pub enum Query<'a> {
    /// A DOS (DOSCAR, vasprun.xml, pymatgen JSON), a CHGCAR, a structure (CIF,
    /// POSCAR, …).
    File(&'a Path),
    /// A description, for the text modality.
    Text(&'a str),
}

/// A material found for a query.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Candidate {
    pub id: String,
    /// Reduced formula (empty when unknown).
    pub formula: String,
    /// Cosine similarity of the embeddings.
    pub similarity: f32,
}

/// The nearest materials to one query.
#[derive(Clone, Debug, Serialize)]
pub struct Candidates {
    /// The query as shown to users: the file path or the quoted sentence.
    pub query: String,
    pub target: String,
    /// Materials searched.
    pub among: usize,
    /// Best first.
    pub candidates: Vec<Candidate>,
}

/// The `top` materials of `on` whose `target` embedding is nearest to `query`
/// embedded as `query_modality`.
pub fn nearest(
    on: &ModelOnData,
    search: &PluginSearch,
    query_modality: &str,
    query: Query<'_>,
    target: &str,
    top: usize,
    progress: EmbedProgress<'_>,
) -> Result<Candidates, DownstreamError> {
    let (mut encoder, source) = on.run.encoder(query_modality, search, &on.dataset)?;
    let (raw, what) = query_record(query, query_modality, &source.input)?;
    let query_values = embed_record(&mut encoder, &source, &raw, &what)?;
    let targets = on.embed(&on.ids, search, target, progress)?;
    same_dim(query_modality, query_values.len(), target, targets.dim)?;
    let hits = top_k(&query_values, &targets.values, targets.dim, top).swap_remove(0);
    let mut candidates = Vec::with_capacity(hits.len());
    for hit in hits {
        let id = targets.ids[hit.row].clone();
        candidates.push(Candidate {
            formula: on.formula(&id)?,
            id,
            similarity: hit.similarity,
        });
    }
    Ok(Candidates {
        query: what,
        target: target.to_string(),
        among: targets.ids.len(),
        candidates,
    })
}

/// The raw record of `query` (of modality `input`, the one the query encoder's
/// featurizer reads), and how to name it.
fn query_record(
    query: Query<'_>,
    query_modality: &str,
    input: &str,
) -> Result<(Record, String), DownstreamError> {
    match query {
        Query::Text(sentence) => {
            if query_modality != "text" {
                return Err(DownstreamError::Invalid(format!(
                    "--text needs --query text (got --query {query_modality})"
                )));
            }
            Ok((text_record(sentence), format!("\"{sentence}\"")))
        }
        Query::File(file) => {
            let batch = read_file(file)
                .map_err(|e| DownstreamError::Invalid(format!("{}: {e}", file.display())))?;
            let record = batch
                .records
                .into_iter()
                .find(|(modality, _, _)| modality == input)
                .map(|(_, _, raw)| raw)
                .ok_or_else(|| {
                    DownstreamError::Invalid(format!("{}: holds no {input} record", file.display()))
                })?;
            Ok((record, file.display().to_string()))
        }
    }
}
