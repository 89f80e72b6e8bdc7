//! Featurization with the dataset's cache: records featurized once per featurizer
//! configuration are read back from the store; the rest are featurized on worker
//! threads and cached.

use mmhost_plugin_api::Record;
use rayon::prelude::*;
use serde::Serialize;

use crate::{
    dataset::{Dataset, DatasetError},
    plugins::FeaturizerHandle,
};

/// The cache key of a featurizer: plugin name, version and configuration.
pub fn cache_key(plugin: &str, version: &str, config: &str) -> String {
    let hash = crate::hash::fnv1a(config.as_bytes());
    format!("{plugin}@{version}:{hash:016x}")
}

/// What one featurization pass did.
#[derive(Debug, Serialize)]
pub struct FeaturizeReport {
    /// Read from the cache.
    pub cached: usize,
    /// Featurized now (and cached).
    pub computed: usize,
    /// `(id, reason)` of records the featurizer refused or that have no raw record.
    pub failed: Vec<(String, String)>,
}

/// The featurized `modality` records of `ids` (same order; `None` for failures),
/// from the cache under `key` or computed with `featurizer` on `threads` threads.
pub fn featurize_cached(
    dataset: &Dataset,
    featurizer: &FeaturizerHandle,
    key: &str,
    modality: &str,
    ids: &[String],
    threads: usize,
) -> Result<(Vec<Option<Record>>, FeaturizeReport), DatasetError> {
    let mut records = dataset.cached_features(key, ids)?;
    let missing: Vec<usize> = (0..ids.len()).filter(|&i| records[i].is_none()).collect();
    let cached = ids.len() - missing.len();
    let mut raw = Vec::with_capacity(missing.len());
    for &i in &missing {
        raw.push(dataset.record(modality, &ids[i])?);
    }
    let featurize_all = || -> Vec<Result<Record, String>> {
        raw.par_iter()
            .map(|r| match r {
                Some(raw) => featurizer.featurize(raw).map_err(|e| e.to_string()),
                None => Err(format!("no {modality} record")),
            })
            .collect()
    };
    let results = match rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
    {
        Ok(pool) => pool.install(featurize_all),
        // No threads to spare: the global pool does the work.
        Err(_) => featurize_all(),
    };
    let mut fresh = Vec::new();
    let mut failed = Vec::new();
    for (&i, result) in missing.iter().zip(results) {
        match result {
            Ok(record) => {
                fresh.push((ids[i].clone(), record.clone()));
                records[i] = Some(record);
            }
            Err(reason) => failed.push((ids[i].clone(), reason)),
        }
    }
    dataset.store_features(key, &fresh)?;
    let report = FeaturizeReport {
        cached,
        computed: fresh.len(),
        failed,
    };
    Ok((records, report))
}

/// Records featurized per pass of [`fill_cache`] (and per progress report).
const FILL_CHUNK: usize = 256;

/// Featurizes every one of `ids` not yet in the cache under `key` (in chunks of
/// [`FILL_CHUNK`] records on `threads` threads) so that later passes read the cache;
/// `progress` sees `(done, computed so far)` after each chunk. Returns what was
/// cached, computed and refused.
pub fn fill_cache(
    dataset: &Dataset,
    featurizer: &FeaturizerHandle,
    key: &str,
    modality: &str,
    ids: &[String],
    threads: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<FeaturizeReport, DatasetError> {
    let mut total = FeaturizeReport {
        cached: 0,
        computed: 0,
        failed: Vec::new(),
    };
    let mut done = 0;
    for part in ids.chunks(FILL_CHUNK) {
        let (_, report) = featurize_cached(dataset, featurizer, key, modality, part, threads)?;
        total.cached += report.cached;
        total.computed += report.computed;
        total.failed.extend(report.failed);
        done += part.len();
        progress(done, total.computed);
    }
    Ok(total)
}
