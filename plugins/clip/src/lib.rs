//! CLIP losses over the embeddings of several modalities (README "Pretraining").
//!
//! `pair(a, b) = ½[CE(S, I) + CE(Sᵀ, I)]` with `S = â b̂ᵀ / τ` on L2-normalized rows.
//! AllPairs averages `pair` over every modality pair; Anchored averages
//! `pair(anchor, m)` over `m ≠ anchor`. Each pair uses only the rows where both
//! modalities are present, and the average weighs each pair by that row count, so
//! every (material, pair) counts once: with every modality present it is the plain
//! mean over pairs, and a pair that only two materials of the batch share does not
//! weigh as much as one that all of them share. A pair with fewer than two shared
//! rows is left out (one row has no negative to tell it from, its loss is 0), unless
//! no pair of the batch has two.

use burn::tensor::{
    activation::log_softmax, backend::Backend, ElementConversion, Int, Tensor, TensorData,
};
use serde::{Deserialize, Serialize};

use mmhost_plugin_sdk::{
    api::{ErrorKind, PluginError},
    ComparedPairs, LossFunction, LossTerms, ModalityBatch,
};

/// Which modality pairs the loss averages over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClipKind {
    /// Every pair of modalities.
    AllPairs,
    /// The anchor modality against each other one.
    Anchored,
}

/// Configuration of the CLIP loss.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClipConfig {
    /// `all-pairs` or `anchored`.
    pub kind: ClipKind,
    /// The anchor modality of the anchored loss.
    pub anchor: String,
    /// Softmax temperature τ.
    pub temperature: f64,
}

impl Default for ClipConfig {
    fn default() -> Self {
        Self {
            kind: ClipKind::AllPairs,
            anchor: "crystal".to_string(),
            temperature: 0.2,
        }
    }
}

/// The CLIP loss plugin.
pub struct ClipLoss {
    config: ClipConfig,
}

impl LossFunction for ClipLoss {
    const NAME: &'static str = "clip";
    const DESCRIPTION: &'static str =
        "CLIP contrastive loss, all-pairs or anchored, masked for missing modalities";

    type Config = ClipConfig;

    fn default_config() -> Self::Config {
        ClipConfig::default()
    }

    fn new(config: Self::Config) -> Result<Self, PluginError> {
        if !(config.temperature.is_finite() && config.temperature > 0.0) {
            return Err(PluginError::new(
                ErrorKind::InvalidConfig,
                format!("temperature must be positive, got {}", config.temperature),
            ));
        }
        Ok(Self { config })
    }

    fn pairs(&self, modalities: &[String]) -> Result<ComparedPairs, PluginError> {
        match self.config.kind {
            ClipKind::AllPairs => Ok(ComparedPairs::all(modalities.len())),
            ClipKind::Anchored => {
                let anchor = modalities
                    .iter()
                    .position(|m| *m == self.config.anchor)
                    .ok_or_else(|| {
                        PluginError::new(
                            ErrorKind::InvalidInput,
                            format!(
                                "anchored loss needs the anchor modality '{}'; got {modalities:?} \
                                 (add it to --plugins, or set loss.config.anchor)",
                                self.config.anchor
                            ),
                        )
                    })?;
                Ok(ComparedPairs::anchored(anchor, modalities.len()))
            }
        }
    }

    fn loss<B: Backend>(&self, inputs: &[ModalityBatch<B>]) -> Result<LossTerms<B>, PluginError> {
        if inputs.len() < 2 {
            return Err(PluginError::new(
                ErrorKind::InvalidInput,
                format!(
                    "a CLIP loss needs two or more modalities, got {}",
                    inputs.len()
                ),
            ));
        }
        let widths: Vec<usize> = inputs.iter().map(|m| m.embeddings.dims()[1]).collect();
        if widths.iter().any(|&w| w != widths[0]) {
            let listed: Vec<String> = inputs
                .iter()
                .zip(&widths)
                .map(|(m, w)| format!("{} {w}", m.modality))
                .collect();
            return Err(PluginError::new(
                ErrorKind::InvalidInput,
                format!(
                    "a CLIP loss compares embeddings of one width; got {} (set the \
                     encoders' embed_dim alike)",
                    listed.join(", ")
                ),
            ));
        }
        let modalities: Vec<String> = inputs.iter().map(|m| m.modality.clone()).collect();
        let shared: Vec<(usize, usize, Vec<i64>)> = self
            .pairs(&modalities)?
            .pairs
            .into_iter()
            .map(|(i, j)| {
                let (a, b) = (&inputs[i].present, &inputs[j].present);
                let rows = (0..a.len())
                    .filter(|&r| a[r] && b.get(r).copied().unwrap_or(false))
                    .map(|r| r as i64)
                    .collect();
                (i, j, rows)
            })
            .filter(|(.., rows): &(usize, usize, Vec<i64>)| !rows.is_empty())
            .collect();
        let fewest = if shared.iter().any(|(.., rows)| rows.len() >= 2) {
            2
        } else {
            1
        };
        let mut total: Option<Tensor<B, 1>> = None;
        let mut weight = 0usize;
        let mut metrics = Vec::new();
        for (i, j, rows) in shared.into_iter().filter(|(.., r)| r.len() >= fewest) {
            let (a, b) = (&inputs[i], &inputs[j]);
            let term = pair_loss(&a.embeddings, &b.embeddings, &rows, self.config.temperature);
            let name = format!("{}-{}", a.modality, b.modality);
            let value: f32 = term.loss.clone().into_scalar().elem();
            metrics.push((format!("{name}/loss"), f64::from(value)));
            metrics.push((format!("{name}/top1"), term.top1));
            metrics.push((format!("{name}/rows"), rows.len() as f64));
            let weighted = term.loss.mul_scalar(rows.len() as f64);
            total = Some(match total {
                Some(t) => t + weighted,
                None => weighted,
            });
            weight += rows.len();
        }
        let loss = total.ok_or_else(|| {
            PluginError::new(
                ErrorKind::InvalidInput,
                "no modality pair shares a present row in this batch",
            )
        })?;
        Ok(LossTerms {
            loss: loss.div_scalar(weight as f64),
            metrics,
        })
    }
}

/// One pair's loss and its in-batch top-1 retrieval accuracy (both directions).
pub struct PairTerm<B: Backend> {
    /// `[1]`
    pub loss: Tensor<B, 1>,
    pub top1: f64,
}

/// `½[CE(S, I) + CE(Sᵀ, I)]`, `S = â b̂ᵀ / τ` over the rows `rows` of `a` and `b`
/// (`[batch, dim]` each).
pub fn pair_loss<B: Backend>(
    a: &Tensor<B, 2>,
    b: &Tensor<B, 2>,
    rows: &[i64],
    temperature: f64,
) -> PairTerm<B> {
    let device = a.device();
    let n = rows.len();
    let index = Tensor::<B, 1, Int>::from_data(TensorData::new(rows.to_vec(), [n]), &device);
    let a = l2_normalize(a.clone().select(0, index.clone()));
    let b = l2_normalize(b.clone().select(0, index));
    let logits = a.matmul(b.transpose()).div_scalar(temperature); // [n, n]
    let eye = Tensor::<B, 2>::from_data(TensorData::new(identity(n), [n, n]), &device);
    let ce_ab = log_softmax(logits.clone(), 1).mul(eye.clone()).sum();
    let ce_ba = log_softmax(logits.clone().transpose(), 1).mul(eye).sum();
    let loss = (ce_ab + ce_ba).div_scalar(-2.0 * n as f64);
    let top1 = (correct(logits.clone().argmax(1)) + correct(logits.transpose().argmax(1))) as f64
        / (2 * n) as f64;
    PairTerm { loss, top1 }
}

/// Rows scaled to unit L2 norm: `[n, d]` → `[n, d]`.
fn l2_normalize<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    let norm = x.clone().mul(x.clone()).sum_dim(1).sqrt().clamp_min(1e-12); // [n, 1]
    x.div(norm)
}

fn identity(n: usize) -> Vec<f32> {
    (0..n * n)
        .map(|k| if k / n == k % n { 1.0 } else { 0.0 })
        .collect()
}

/// How many rows of `argmax` (`[n, 1]`) point at their own index.
fn correct<B: Backend>(argmax: Tensor<B, 2, Int>) -> usize {
    argmax
        .into_data()
        .convert::<i64>()
        .to_vec::<i64>()
        .map(|v| {
            v.iter()
                .enumerate()
                .filter(|(i, &j)| *i as i64 == j)
                .count()
        })
        .unwrap_or(0)
}

mmhost_plugin_sdk::export_loss!(ClipLoss);
