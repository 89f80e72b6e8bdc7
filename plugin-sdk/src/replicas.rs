//! Data parallelism inside one plugin: one replica of the encoder per device.
//!
//! A training forward splits the batch into contiguous row shares, one per replica,
//! runs the replicas concurrently (a thread each) and concatenates their embeddings
//! in batch order, so the host and the loss plugin see the whole global batch: every
//! CLIP negative comes from it, as with the reference's all-gather. `backward` hands
//! each replica its rows of dL/dZ; the replicas' parameter gradients are then summed
//! by burn-collective's all-reduce (each replica's gradient is the sum over its own
//! rows, so the sum is the whole batch's gradient) and every replica takes the same
//! AdamW step, so the replicas stay equal.
//!
//! Batch norm: each replica normalizes with its own rows' statistics (as PyTorch's
//! DistributedDataParallel without SyncBatchNorm), so a model with batch norm does
//! not compute exactly what one replica on the whole batch would; weights and
//! running statistics are saved from replica 0 (as DDP broadcasts rank 0's buffers).
//!
//! burn-collective keeps one group per backend and library: one replicated encoder
//! at a time per plugin library.

use std::{
    ops::Range,
    sync::atomic::{AtomicBool, Ordering},
    thread,
};

use burn::{
    collective::{finish_collective, register, reset_collective, CollectiveConfig, PeerId},
    module::AutodiffModule,
    tensor::backend::AutodiffBackend,
};
use mmhost_plugin_api::{Embeddings, ErrorKind, PluginError, Record, StepSettings};

use crate::{DeviceSpec, EncoderModel, NamedTensor, RuntimeSettings, Trainer, TrainerOps};

/// Whether a replicated encoder holds this library's collective group.
static GROUP_IN_USE: AtomicBool = AtomicBool::new(false);

/// One encoder replicated over several devices of backend `B`.
pub struct Replicated<B: AutodiffBackend, S: EncoderModel>
where
    S::Model<B>: AutodiffModule<B, InnerModule = S::Model<B::InnerBackend>>,
{
    replicas: Vec<Trainer<B, S>>,
    /// Rows of the last training batch, per replica.
    shares: Vec<Range<usize>>,
}

impl<B: AutodiffBackend, S: EncoderModel> Replicated<B, S>
where
    S::Model<B>: AutodiffModule<B, InnerModule = S::Model<B::InnerBackend>>,
{
    /// Replicas on `devices` (at least two), all with replica 0's initial weights,
    /// registered as one burn-collective group.
    pub fn new(
        config: S::Config,
        runtime: &RuntimeSettings,
        devices: Vec<B::Device>,
    ) -> Result<Self, PluginError> {
        if GROUP_IN_USE
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(PluginError::new(
                ErrorKind::Unsupported,
                format!(
                    "plugin '{}' already holds a replicated encoder; one at a time per library",
                    S::NAME
                ),
            ));
        }
        let registered = Self::register_all(&devices);
        // From here on, dropping `replicated` releases the group.
        let mut replicated = Replicated {
            replicas: Vec::new(),
            shares: Vec::new(),
        };
        if registered.is_err() {
            reset_collective::<B::InnerBackend>();
        }
        registered?;
        for device in devices {
            replicated
                .replicas
                .push(Trainer::new(config.clone(), runtime, device));
        }
        let weights = replicated.replicas[0].save_weights()?;
        for replica in &mut replicated.replicas[1..] {
            replica.load_weights(&weights)?;
        }
        Ok(replicated)
    }

    /// Registers one peer per device, each from its own thread (registration
    /// returns once every peer has registered).
    fn register_all(devices: &[B::Device]) -> Result<(), PluginError> {
        let config = CollectiveConfig::default().with_num_devices(devices.len());
        let results: Vec<_> = thread::scope(|scope| {
            let handles: Vec<_> = devices
                .iter()
                .enumerate()
                .map(|(peer, device)| {
                    let config = config.clone();
                    scope.spawn(move || {
                        register::<B::InnerBackend>(peer_id(peer), device.clone(), config)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join()).collect()
        });
        for result in results {
            match result {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(collective_error("registering replicas", e)),
                Err(_) => return Err(collective_error("registering replicas", "panicked")),
            }
        }
        Ok(())
    }

    /// Runs `work` on every replica concurrently, with its index; results in order.
    fn each<T: Send>(
        &mut self,
        work: impl Fn(usize, &mut Trainer<B, S>) -> Result<T, PluginError> + Sync,
    ) -> Result<Vec<T>, PluginError> {
        let work = &work;
        let results: Vec<_> = thread::scope(|scope| {
            let handles: Vec<_> = self
                .replicas
                .iter_mut()
                .enumerate()
                .map(|(index, replica)| scope.spawn(move || work(index, replica)))
                .collect();
            handles.into_iter().map(|h| h.join()).collect()
        });
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|_| {
                    Err(PluginError::new(ErrorKind::Internal, "a replica panicked"))
                })
            })
            .collect()
    }

    /// Contiguous, near-equal row ranges of a batch of `rows`, one per replica.
    fn split(&self, rows: usize) -> Result<Vec<Range<usize>>, PluginError> {
        let n = self.replicas.len();
        if rows < n {
            return Err(PluginError::new(
                ErrorKind::InvalidInput,
                format!("a batch of {rows} cannot be split across {n} replicas"),
            ));
        }
        Ok((0..n)
            .map(|i| (i * rows / n)..((i + 1) * rows / n))
            .collect())
    }

    fn first(&self) -> &Trainer<B, S> {
        &self.replicas[0]
    }
}

impl<B: AutodiffBackend, S: EncoderModel> Drop for Replicated<B, S>
where
    S::Model<B>: AutodiffModule<B, InnerModule = S::Model<B::InnerBackend>>,
{
    fn drop(&mut self) {
        if !self.replicas.is_empty() {
            for peer in 0..self.replicas.len() {
                // Unregistering only fails for a peer that never registered.
                let _ = finish_collective::<B::InnerBackend>(peer_id(peer));
            }
        }
        GROUP_IN_USE.store(false, Ordering::Release);
    }
}

impl<B: AutodiffBackend, S: EncoderModel> TrainerOps for Replicated<B, S>
where
    S::Model<B>: AutodiffModule<B, InnerModule = S::Model<B::InnerBackend>>,
    Trainer<B, S>: TrainerOps,
{
    fn embed_dim(&self) -> usize {
        self.first().embed_dim()
    }

    fn parameter_count(&self) -> usize {
        self.first().parameter_count()
    }

    fn device(&self) -> DeviceSpec {
        self.first().device()
    }

    fn forward(&mut self, batch: &[Record], train: bool) -> Result<Embeddings, PluginError> {
        let shares = self.split(batch.len())?;
        let parts = self.each(|i, replica| replica.forward(&batch[shares[i].clone()], train))?;
        self.shares = shares;
        Ok(concatenate(parts))
    }

    fn backward(&mut self, grad: &Embeddings) -> Result<(), PluginError> {
        let rows: usize = self.shares.iter().map(|s| s.len()).sum();
        if grad.rows as usize != rows || self.shares.is_empty() {
            return Err(PluginError::new(
                ErrorKind::InvalidInput,
                format!(
                    "dL/dZ has {} rows; the last training batch had {rows}",
                    grad.rows
                ),
            ));
        }
        let dim = grad.dim as usize;
        let shares = std::mem::take(&mut self.shares);
        self.each(|i, replica| {
            let share = shares[i].clone();
            let values = grad.values[share.start * dim..share.end * dim].to_vec();
            replica.backward(&Embeddings::new(share.len(), dim, values))
        })?;
        // Only once every replica has its gradients: a peer that failed before the
        // all-reduce would leave the others waiting in it.
        self.each(|i, replica| replica.all_reduce_gradients(peer_id(i)))?;
        Ok(())
    }

    fn gradients(&self) -> Result<Vec<NamedTensor>, PluginError> {
        self.first().gradients()
    }

    fn step(&mut self, settings: &StepSettings) -> Result<f64, PluginError> {
        let norms = self.each(|_, replica| replica.step(settings))?;
        Ok(norms[0])
    }

    fn embed(&mut self, batch: &[Record]) -> Result<Embeddings, PluginError> {
        let shares = self.split(batch.len())?;
        let parts = self.each(|i, replica| replica.embed(&batch[shares[i].clone()]))?;
        Ok(concatenate(parts))
    }

    fn save_weights(&self) -> Result<Vec<u8>, PluginError> {
        self.first().save_weights()
    }

    fn load_weights(&mut self, bytes: &[u8]) -> Result<(), PluginError> {
        self.each(|_, replica| replica.load_weights(bytes))?;
        self.shares.clear();
        Ok(())
    }

    fn save_optimizer(&self) -> Result<Vec<u8>, PluginError> {
        self.first().save_optimizer()
    }

    fn load_optimizer(&mut self, bytes: &[u8]) -> Result<(), PluginError> {
        self.each(|_, replica| replica.load_optimizer(bytes))?;
        Ok(())
    }
}

fn peer_id(index: usize) -> PeerId {
    PeerId(index as u32)
}

/// Row blocks stacked in order: `[Σ rows, dim]`.
fn concatenate(parts: Vec<Embeddings>) -> Embeddings {
    let dim = parts.first().map_or(0, |p| p.dim as usize);
    let rows = parts.iter().map(|p| p.rows as usize).sum();
    let mut values = Vec::with_capacity(rows * dim);
    for part in parts {
        values.extend_from_slice(&part.values);
    }
    Embeddings::new(rows, dim, values)
}

fn collective_error(doing: &str, error: impl std::fmt::Debug) -> PluginError {
    PluginError::new(
        ErrorKind::Internal,
        format!("burn-collective, {doing}: {error:?}"),
    )
}
