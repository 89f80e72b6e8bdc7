//! Batches of materials for the encoders, shared by pretraining, fine-tuning and
//! embedding: the epoch order, balanced batch sizes, and a loader thread that
//! featurizes batches ahead of the encoders (reading the dataset's feature cache,
//! computing and caching what is missing on worker threads) and hands them over a
//! bounded crossbeam channel.

use std::{sync::Arc, thread};

use crossbeam_channel::{bounded, Receiver};
use mmhost_plugin_api::Record;
use rand::{seq::SliceRandom, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{
    backprop::ModalityBatch,
    dataset::{Dataset, DatasetError},
    featurize::featurize_cached,
    session::ModalitySource,
};

/// One featurized batch.
pub struct LoadedBatch {
    /// Position of the batch in its epoch.
    pub index: usize,
    /// Material ids, in batch order.
    pub ids: Vec<String>,
    /// One entry per source, same order.
    pub modalities: Vec<ModalityBatch>,
    /// Records featurized now rather than read from the cache.
    pub computed: usize,
    /// `modality id: reason` of records the featurizer refused; those materials
    /// count as missing that modality.
    pub failed: Vec<String>,
}

/// Featurizes `ids` for every source, from the cache where present.
pub fn load_batch(
    dataset: &Dataset,
    sources: &[ModalitySource],
    index: usize,
    ids: &[String],
    threads: usize,
) -> Result<LoadedBatch, DatasetError> {
    let mut batch = LoadedBatch {
        index,
        ids: ids.to_vec(),
        modalities: Vec::with_capacity(sources.len()),
        computed: 0,
        failed: Vec::new(),
    };
    for source in sources {
        let wanted: Vec<String> = ids
            .iter()
            .filter(|id| source.available.contains(*id))
            .cloned()
            .collect();
        let (records, report) = featurize_cached(
            dataset,
            &source.featurizer,
            &source.cache_key,
            &source.input,
            &wanted,
            threads,
        )?;
        batch.computed += report.computed;
        batch.failed.extend(
            report
                .failed
                .into_iter()
                .map(|(id, reason)| format!("{} {id}: {reason}", source.modality)),
        );
        let mut by_id = wanted.into_iter().zip(records);
        let mut present = Vec::with_capacity(ids.len());
        let mut kept: Vec<Record> = Vec::new();
        let mut next = by_id.next();
        for id in ids {
            match &mut next {
                Some((wanted_id, record)) if wanted_id == id => {
                    present.push(record.is_some());
                    kept.extend(record.take());
                    next = by_id.next();
                }
                _ => present.push(false),
            }
        }
        batch.modalities.push(ModalityBatch {
            records: kept,
            present,
        });
    }
    Ok(batch)
}

/// Starts a loader thread over `batches[first..]`, keeping up to `prefetch`
/// featurized batches ready. Dropping the receiver stops the thread.
pub fn spawn(
    dataset: Arc<Dataset>,
    sources: Arc<Vec<ModalitySource>>,
    batches: Vec<Vec<String>>,
    first: usize,
    prefetch: usize,
    threads: usize,
) -> Receiver<Result<LoadedBatch, DatasetError>> {
    let (sender, receiver) = bounded(prefetch.max(1));
    thread::spawn(move || {
        for (index, ids) in batches.iter().enumerate().skip(first) {
            let loaded = load_batch(&dataset, &sources, index, ids, threads);
            let failed = loaded.is_err();
            if sender.send(loaded).is_err() || failed {
                break;
            }
        }
    });
    receiver
}

/// `ids` cut into `ceil(len / batch_size)` batches whose sizes differ by at most
/// one: a contrastive loss's scale depends on the batch size, so no small last batch.
pub fn balanced_batches(ids: &[String], batch_size: usize) -> Vec<Vec<String>> {
    let count = ids.len().div_ceil(batch_size.max(1));
    let mut batches = Vec::with_capacity(count);
    let mut start = 0;
    for b in 0..count {
        let size = (ids.len() - start) / (count - b);
        batches.push(ids[start..start + size].to_vec());
        start += size;
    }
    batches
}

/// The training materials in the order of `epoch` under `seed`: a shuffle driven by
/// ChaCha8 seeded with `seed`, on its own stream per epoch, so the same on every
/// machine and after a resume.
pub fn epoch_order(ids: &[String], seed: u64, epoch: usize) -> Vec<String> {
    let mut order = ids.to_vec();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(epoch as u64);
    order.shuffle(&mut rng);
    order
}
