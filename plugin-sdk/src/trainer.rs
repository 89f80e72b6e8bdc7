//! Split back-propagation for one encoder on one backend.

use std::sync::Mutex;

use burn::{
    collective::{PeerId, ReduceOperation},
    module::{AutodiffModule, Module},
    optim::{adaptor::OptimizerAdaptor, GradientsAccumulator, GradientsParams, Optimizer},
    record::{BinBytesRecorder, FullPrecisionSettings, Recorder},
    tensor::{backend::AutodiffBackend, Tensor},
};
use burn_store::{ModuleSnapshot, SafetensorsStore};
use mmhost_plugin_api::{Embeddings, ErrorKind, PluginError, Record, StepSettings};

use crate::{
    embeddings_from_tensor, fused_adamw::FusedAdamW, optimizer_state::OptimizerState, params,
    tensor_from_embeddings, DeviceSpec, EncoderModel, NamedTensor, RuntimeSettings,
};

/// The encoder operations the ABI adapter needs, with the backend erased.
pub trait TrainerOps: Send {
    /// Embedding width.
    fn embed_dim(&self) -> usize;
    /// Number of trainable scalars.
    fn parameter_count(&self) -> usize;
    /// Where the model runs.
    fn device(&self) -> DeviceSpec;
    /// `[batch, dim]` embeddings; with `train` the graph is kept for `backward`.
    fn forward(&mut self, batch: &[Record], train: bool) -> Result<Embeddings, PluginError>;
    /// Back-propagates `sum(Z ⊙ G)` for the last training forward.
    fn backward(&mut self, grad: &Embeddings) -> Result<(), PluginError>;
    /// Gradients stored by the last `backward`, by parameter path.
    fn gradients(&self) -> Result<Vec<NamedTensor>, PluginError>;
    /// One AdamW step; returns the gradient norm before clipping.
    fn step(&mut self, settings: &StepSettings) -> Result<f64, PluginError>;
    /// Embeddings without a graph.
    fn embed(&mut self, batch: &[Record]) -> Result<Embeddings, PluginError>;
    /// Weights as safetensors bytes.
    fn save_weights(&self) -> Result<Vec<u8>, PluginError>;
    /// Loads weights written by `save_weights`.
    fn load_weights(&mut self, bytes: &[u8]) -> Result<(), PluginError>;
    /// Optimizer state bytes (empty before the first step).
    fn save_optimizer(&self) -> Result<Vec<u8>, PluginError>;
    /// Restores optimizer state written by `save_optimizer`.
    fn load_optimizer(&mut self, bytes: &[u8]) -> Result<(), PluginError>;
}

/// Serializes seeding and initialization: the backend RNG is global to the library.
static INIT_LOCK: Mutex<()> = Mutex::new(());

type Adam<B, S> = OptimizerAdaptor<FusedAdamW, <S as EncoderModel>::Model<B>, B>;
type Bytes = BinBytesRecorder<FullPrecisionSettings>;

/// One encoder's model, optimizer and pending graph on backend `B`.
pub struct Trainer<B: AutodiffBackend, S: EncoderModel>
where
    S::Model<B>: AutodiffModule<B, InnerModule = S::Model<B::InnerBackend>>,
{
    config: S::Config,
    spec: DeviceSpec,
    device: B::Device,
    model: S::Model<B>,
    optimizer: Adam<B, S>,
    /// The AdamW settings `optimizer` was built with (the learning rate aside).
    optimizer_settings: Option<StepSettings>,
    steps: u64,
    /// Output of the last training forward, graph attached.
    pending: Option<Tensor<B, 2>>,
    /// Records per recomputed chunk (`RuntimeSettings::recompute_chunk`); 0 = off.
    recompute_chunk: usize,
    /// With recomputation: the last training batch, and the rows of its output.
    pending_batch: Option<(Vec<Record>, usize)>,
    grads: Option<GradientsParams>,
}

impl<B: AutodiffBackend, S: EncoderModel> Trainer<B, S>
where
    S::Model<B>: AutodiffModule<B, InnerModule = S::Model<B::InnerBackend>>,
{
    /// A model initialized from `runtime.seed` on `device`, with path-derived
    /// parameter ids (so optimizer state can be restored in another process).
    pub fn new(config: S::Config, runtime: &RuntimeSettings, device: B::Device) -> Self {
        crate::keep_freed_memory();
        let model = {
            let _lock = INIT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
            B::seed(&device, runtime.seed);
            // Mapping the ids touches every parameter in module order, which draws
            // the lazily initialized weights deterministically under the lock.
            params::assign_path_ids(S::init::<B>(&config, &device))
        };
        Self {
            config,
            spec: runtime.device,
            device,
            model,
            optimizer: FusedAdamW::default().init(),
            optimizer_settings: None,
            steps: 0,
            pending: None,
            recompute_chunk: runtime.recompute_chunk,
            pending_batch: None,
            grads: None,
        }
    }

    /// Back-propagates `sum(Z ⊙ G)` chunk by chunk, recomputing each chunk's
    /// forward with a graph, and accumulates the parameter gradients.
    fn backward_recomputed(
        &mut self,
        batch: &[Record],
        grad: &Embeddings,
    ) -> Result<GradientsParams, PluginError> {
        let dim = grad.dim as usize;
        let mut accumulator = GradientsAccumulator::new();
        for (index, chunk) in batch.chunks(self.recompute_chunk).enumerate() {
            let start = index * self.recompute_chunk;
            let rows = &grad.values[start * dim..(start + chunk.len()) * dim];
            let g = tensor_from_embeddings::<B>(
                &Embeddings::new(chunk.len(), dim, rows.to_vec()),
                &self.device,
            )?;
            let z = S::forward::<B>(&self.model, chunk, &self.device)?;
            let objective = (z * g).sum();
            let grads = GradientsParams::from_grads(objective.backward(), &self.model);
            accumulator.accumulate(&self.model, grads);
        }
        Ok(accumulator.grads())
    }

    /// Sums the gradients of the last `backward` with the other replicas' (burn-collective
    /// all-reduce, in parameter-id order: replicas must share ids, as path-derived
    /// ids do). Every replica of the group calls it at once, each on its own thread.
    pub(crate) fn all_reduce_gradients(&mut self, peer: PeerId) -> Result<(), PluginError> {
        let grads = self.grads.take().ok_or_else(|| {
            PluginError::new(ErrorKind::Unsupported, "no gradients to all-reduce")
        })?;
        let reduced = grads
            .all_reduce::<B::InnerBackend>(peer, ReduceOperation::Sum)
            .map_err(|e| internal(format!("burn-collective, all-reduce of gradients: {e:?}")))?;
        self.grads = Some(reduced);
        Ok(())
    }

    /// The model, for in-process use (tests, benchmarks).
    pub fn model(&self) -> &S::Model<B> {
        &self.model
    }

    fn rebuild_optimizer_if_changed(&mut self, settings: &StepSettings) {
        let same = self.optimizer_settings.is_some_and(|s| {
            StepSettings {
                learning_rate: settings.learning_rate,
                ..s
            } == *settings
        });
        if same {
            return;
        }
        let state = self.optimizer.to_record();
        self.optimizer = FusedAdamW::new(
            settings.beta1 as f32,
            settings.beta2 as f32,
            settings.epsilon as f32,
            settings.weight_decay as f32,
        )
        .init()
        .load_record(state);
        self.optimizer_settings = Some(*settings);
    }
}

impl<B: AutodiffBackend, S: EncoderModel> TrainerOps for Trainer<B, S>
where
    S::Model<B>: AutodiffModule<B, InnerModule = S::Model<B::InnerBackend>>,
    Adam<B, S>: Send,
{
    fn embed_dim(&self) -> usize {
        S::embed_dim(&self.config)
    }

    fn parameter_count(&self) -> usize {
        self.model.num_params()
    }

    fn device(&self) -> DeviceSpec {
        self.spec
    }

    fn forward(&mut self, batch: &[Record], train: bool) -> Result<Embeddings, PluginError> {
        if !train {
            return self.embed(batch);
        }
        self.pending = None;
        self.pending_batch = None;
        if self.recompute_chunk > 0 {
            let embeddings = self.embed(batch)?;
            self.pending_batch = Some((batch.to_vec(), embeddings.rows as usize));
            return Ok(embeddings);
        }
        let z = S::forward::<B>(&self.model, batch, &self.device)?;
        sync_running_statistics(&self.model);
        let embeddings = embeddings_from_tensor(z.clone())?;
        self.pending = Some(z);
        Ok(embeddings)
    }

    fn backward(&mut self, grad: &Embeddings) -> Result<(), PluginError> {
        if let Some((batch, rows)) = self.pending_batch.take() {
            check_gradient(grad, rows, self.embed_dim())?;
            self.grads = Some(self.backward_recomputed(&batch, grad)?);
            return Ok(());
        }
        let z = self.pending.take().ok_or_else(|| {
            PluginError::new(
                ErrorKind::Unsupported,
                "backward called without a preceding training forward",
            )
        })?;
        let [rows, dim] = z.dims();
        check_gradient(grad, rows, dim)?;
        let g = tensor_from_embeddings::<B>(grad, &self.device)?;
        let objective = (z * g).sum();
        self.grads = Some(GradientsParams::from_grads(
            objective.backward(),
            &self.model,
        ));
        Ok(())
    }

    fn gradients(&self) -> Result<Vec<NamedTensor>, PluginError> {
        let grads = self.grads.as_ref().ok_or_else(|| {
            PluginError::new(ErrorKind::Unsupported, "no gradients: call backward first")
        })?;
        Ok(params::named_gradients(&self.model, grads))
    }

    fn step(&mut self, settings: &StepSettings) -> Result<f64, PluginError> {
        let mut grads = self.grads.take().ok_or_else(|| {
            PluginError::new(ErrorKind::Unsupported, "step called without gradients")
        })?;
        params::contiguous_gradients(&self.model, &mut grads);
        let norm = params::gradient_norm(&self.model, &grads);
        if !norm.is_finite() {
            return Err(PluginError::new(
                ErrorKind::NonFinite,
                format!("gradient norm is {norm}; the parameters were left unchanged"),
            ));
        }
        if settings.grad_clip_norm > 0.0 && norm > settings.grad_clip_norm {
            let factor = (settings.grad_clip_norm / norm) as f32;
            params::scale_gradients(&self.model, &mut grads, factor);
        }
        self.rebuild_optimizer_if_changed(settings);
        // Step a clone: if the step panics, `self.model` is still the last good model.
        self.model = self
            .optimizer
            .step(settings.learning_rate, self.model.clone(), grads);
        self.steps += 1;
        Ok(norm)
    }

    fn embed(&mut self, batch: &[Record]) -> Result<Embeddings, PluginError> {
        let inner = self.model.valid();
        let z = S::forward::<B::InnerBackend>(&inner, batch, &self.device)?;
        embeddings_from_tensor(z)
    }

    fn save_weights(&self) -> Result<Vec<u8>, PluginError> {
        sync_running_statistics(&self.model);
        let mut store = SafetensorsStore::from_bytes(None);
        self.model
            .save_into(&mut store)
            .map_err(|e| internal(format!("saving weights: {e}")))?;
        store
            .get_bytes()
            .map_err(|e| internal(format!("saving weights: {e}")))
    }

    fn load_weights(&mut self, bytes: &[u8]) -> Result<(), PluginError> {
        let mut store = SafetensorsStore::from_bytes(Some(bytes.to_vec()));
        let mut model = self.model.clone();
        let applied = model.load_from(&mut store).map_err(|e| {
            PluginError::new(ErrorKind::InvalidInput, format!("loading weights: {e}"))
        })?;
        if !applied.is_success() || !applied.missing.is_empty() || !applied.unused.is_empty() {
            return Err(PluginError::new(
                ErrorKind::InvalidInput,
                format!("weights do not fit this model: {applied}"),
            ));
        }
        self.model = model;
        self.pending = None;
        self.pending_batch = None;
        self.grads = None;
        Ok(())
    }

    fn save_optimizer(&self) -> Result<Vec<u8>, PluginError> {
        if self.steps == 0 {
            return Ok(Vec::new());
        }
        let state = OptimizerState {
            steps: self.steps,
            settings: self.optimizer_settings,
            moments: Recorder::<B>::record(&Bytes::default(), self.optimizer.to_record(), ())
                .map_err(|e| internal(format!("saving optimizer state: {e}")))?,
        };
        state.encode()
    }

    fn load_optimizer(&mut self, bytes: &[u8]) -> Result<(), PluginError> {
        if bytes.is_empty() {
            return Ok(());
        }
        let state = OptimizerState::decode(bytes)?;
        let record =
            Recorder::<B>::load(&Bytes::default(), state.moments, &self.device).map_err(|e| {
                PluginError::new(ErrorKind::InvalidInput, format!("optimizer state: {e}"))
            })?;
        self.optimizer = FusedAdamW::default().init().load_record(record);
        self.optimizer_settings = None;
        if let Some(settings) = state.settings {
            self.rebuild_optimizer_if_changed(&settings);
        }
        self.steps = state.steps;
        Ok(())
    }
}

/// Folds pending running-statistic updates (batch norm) into their values.
///
/// burn's `RunningState` keeps each update in a per-thread slot until something
/// synchronizes it, and saving reads the value without doing so. The host runs
/// every step on a fresh thread, so without this the slots of successive steps
/// would pile up, be averaged instead of forming a moving average, and be left
/// out of checkpoints. `valid()` synchronizes every running state of the module.
fn sync_running_statistics<B: AutodiffBackend, M: AutodiffModule<B>>(model: &M) {
    let _ = model.valid();
}

/// Refuses a `dL/dZ` of the wrong shape or with non-finite values.
fn check_gradient(grad: &Embeddings, rows: usize, dim: usize) -> Result<(), PluginError> {
    if (grad.rows as usize, grad.dim as usize) != (rows, dim) {
        return Err(PluginError::new(
            ErrorKind::InvalidInput,
            format!(
                "gradient is [{}, {}], the forward output [{rows}, {dim}]",
                grad.rows, grad.dim
            ),
        ));
    }
    if grad.values.iter().any(|v| !v.is_finite()) {
        return Err(PluginError::new(
            ErrorKind::NonFinite,
            "gradient dL/dZ holds non-finite values",
        ));
    }
    Ok(())
}

fn internal(message: String) -> PluginError {
    PluginError::new(ErrorKind::Internal, message)
}
