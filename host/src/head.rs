//! A linear head trained in the host on an encoder's embeddings, by split
//! back-propagation: it returns `dL/dZ` for the encoder's `backward`. Regression
//! with mean squared or absolute error, binary classification with logistic (BCE) loss.

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

/// `y = z·w + b`, trained with Adam (β₁ = 0.9, β₂ = 0.999). Read back (a model's or a
/// checkpoint's JSON) only when its sizes agree and every value is finite.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "HeadFields")]
pub struct LinearHead {
    weights: Vec<f64>,
    bias: f64,
    moments: Vec<(f64, f64)>,
    steps: i32,
}

/// A [`LinearHead`] as written, before its checks.
#[derive(Deserialize)]
struct HeadFields {
    weights: Vec<f64>,
    bias: f64,
    moments: Vec<(f64, f64)>,
    steps: i32,
}

/// Adam steps a head read back may have taken: a bound far past any run (2³⁰ steps),
/// far from the counter's overflow.
const MAX_STEPS: i32 = 1 << 30;

impl TryFrom<HeadFields> for LinearHead {
    type Error = String;

    fn try_from(fields: HeadFields) -> Result<Self, String> {
        let HeadFields {
            weights,
            bias,
            moments,
            steps,
        } = fields;
        if weights.is_empty() || moments.len() != weights.len() + 1 {
            return Err(format!(
                "a head of {} weights needs that many plus one Adam moments, not {}",
                weights.len(),
                moments.len()
            ));
        }
        let values = weights.iter().chain([&bias]);
        let moment_values = moments.iter().flat_map(|(m, v)| [m, v]);
        if !values.chain(moment_values).all(|x| x.is_finite())
            || moments.iter().any(|&(_, v)| v < 0.0)
        {
            return Err(
                "the head's weights, bias and Adam moments must be finite numbers, \
                 its second moments not negative"
                    .into(),
            );
        }
        if !(0..=MAX_STEPS).contains(&steps) {
            return Err(format!(
                "the head's step count {steps} is outside 0..={MAX_STEPS}"
            ));
        }
        Ok(Self {
            weights,
            bias,
            moments,
            steps,
        })
    }
}

impl LinearHead {
    /// A zero-initialized head over `dim`-wide embeddings, with bias `bias`
    /// (e.g. the training-label mean).
    pub fn new(dim: usize, bias: f64) -> Self {
        Self {
            weights: vec![0.0; dim],
            bias,
            moments: vec![(0.0, 0.0); dim + 1],
            steps: 0,
        }
    }

    /// A head over `dim`-wide embeddings fitted to `z` (`[rows, dim]`, row-major) and
    /// `targets` (`[rows]`) in closed form: least squares, or with `absolute` least
    /// absolute deviations (iteratively reweighted least squares, keeping the iterate
    /// of least unpenalized mean absolute error). Each least-squares solve adds the
    /// penalty `ridge · m · ‖w‖²` to the mean squared error, `m` the embeddings' mean
    /// square and `w` the weights (not the bias): along a centred direction of the
    /// embeddings with variance `v` it scales the weight by `v / (v + ridge · m)`.
    /// [`SOLVABLE_RIDGE`] only keeps collinear dimensions solvable; 1 halves the
    /// weight of a dimension whose variance is `m` and shrinks the low-variance
    /// directions, where unbounded weights grow large, far more. `None` for no rows,
    /// a `z` that is not `rows × dim`, non-finite values, a ridge that is not a
    /// positive number, or a system no solver step could solve (a ridge so large
    /// that the penalty overflows among them).
    pub fn fitted(
        z: &[f32],
        dim: usize,
        targets: &[f64],
        absolute: bool,
        ridge: f64,
    ) -> Option<Self> {
        let rows = targets.len();
        if rows == 0
            || dim == 0
            || !(ridge.is_finite() && ridge > 0.0)
            || z.len() != rows * dim
            || z.iter().any(|x| !x.is_finite())
            || targets.iter().any(|t| !t.is_finite())
        {
            return None;
        }
        // [rows, dim + 1]: the embeddings and a column of ones for the bias.
        let design = DMatrix::from_fn(rows, dim + 1, |r, k| {
            if k < dim {
                f64::from(z[r * dim + k])
            } else {
                1.0
            }
        });
        let targets = DVector::from_column_slice(targets);
        let mean_square = z.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>() / z.len() as f64;
        let ridge = ridge * mean_square.max(1e-12);
        // Weighted least squares: (XᵀWX + λ·rows·I′) β = XᵀWy, I′ without the bias.
        let solve = |weights: &DVector<f64>| -> Option<DVector<f64>> {
            let weighted = DMatrix::from_fn(rows, dim + 1, |r, k| design[(r, k)] * weights[r]);
            let mut gram = weighted.tr_mul(&design);
            for k in 0..dim {
                gram[(k, k)] += ridge * rows as f64;
            }
            gram.cholesky().map(|c| c.solve(&weighted.tr_mul(&targets)))
        };
        let mean_absolute = |beta: &DVector<f64>| (&design * beta - &targets).abs().mean();
        let mut beta = solve(&DVector::from_element(rows, 1.0))?;
        if absolute {
            let mut best = (mean_absolute(&beta), beta.clone());
            for _ in 0..IRLS_ITERATIONS {
                // Weights 1/|r| turn squared residuals into absolute ones.
                let weights = (&design * &beta - &targets).map(|r| 1.0 / r.abs().max(IRLS_FLOOR));
                let Some(next) = solve(&weights) else { break };
                beta = next;
                let error = mean_absolute(&beta);
                if error >= best.0 * (1.0 - 1e-9) {
                    break;
                }
                best = (error, beta.clone());
            }
            beta = best.1;
        }
        if beta.iter().any(|b| !b.is_finite()) {
            return None;
        }
        Some(Self {
            weights: beta.as_slice()[..dim].to_vec(),
            bias: beta[dim],
            moments: vec![(0.0, 0.0); dim + 1],
            steps: 0,
        })
    }

    /// Width of the embeddings the head reads.
    pub fn dim(&self) -> usize {
        self.weights.len()
    }

    /// Predictions for embeddings `z` (`[rows, dim]`, row-major).
    pub fn predict(&self, z: &[f32]) -> Vec<f64> {
        z.chunks_exact(self.weights.len())
            .map(|row| {
                row.iter()
                    .zip(&self.weights)
                    .map(|(x, w)| f64::from(*x) * w)
                    .sum::<f64>()
                    + self.bias
            })
            .collect()
    }

    /// One mean-squared-error step on `z` (`[rows, dim]`) against `targets`: updates
    /// the head with Adam at `learning_rate` and returns the loss and `dL/dZ`
    /// (`[rows, dim]`, computed with the weights before the update).
    pub fn mse_step(&mut self, z: &[f32], targets: &[f64], learning_rate: f64) -> (f64, Vec<f32>) {
        let rows = targets.len() as f64;
        let errors = self.errors(z, targets);
        let loss = errors.iter().map(|e| e * e).sum::<f64>() / rows;
        // dL/dŷ = 2(ŷ − y)/n.
        let slopes: Vec<f64> = errors.iter().map(|e| 2.0 * e / rows).collect();
        (loss, self.step(z, &slopes, learning_rate))
    }

    /// One mean-absolute-error (L1) step on `z` (`[rows, dim]`) against `targets`;
    /// returns the loss and `dL/dZ` like [`LinearHead::mse_step`].
    pub fn l1_step(&mut self, z: &[f32], targets: &[f64], learning_rate: f64) -> (f64, Vec<f32>) {
        let rows = targets.len() as f64;
        let errors = self.errors(z, targets);
        let loss = errors.iter().map(|e| e.abs()).sum::<f64>() / rows;
        // dL/dŷ = sign(ŷ − y)/n, 0 where the prediction is exact.
        let slopes: Vec<f64> = errors
            .iter()
            .map(|e| if *e == 0.0 { 0.0 } else { e.signum() / rows })
            .collect();
        (loss, self.step(z, &slopes, learning_rate))
    }

    /// One binary cross-entropy step, the output read as a logit, against 0/1
    /// `targets`; returns the loss and `dL/dZ` like [`LinearHead::mse_step`].
    pub fn bce_step(&mut self, z: &[f32], targets: &[f64], learning_rate: f64) -> (f64, Vec<f32>) {
        let rows = targets.len() as f64;
        let logits = self.predict(z);
        let loss = logits
            .iter()
            .zip(targets)
            // log(1 + e^x) − t·x, computed stably.
            .map(|(x, t)| x.max(0.0) + (-x.abs()).exp().ln_1p() - t * x)
            .sum::<f64>()
            / rows;
        // dL/dx = σ(x) − t, over n.
        let slopes: Vec<f64> = logits
            .iter()
            .zip(targets)
            .map(|(x, t)| (sigmoid(*x) - t) / rows)
            .collect();
        (loss, self.step(z, &slopes, learning_rate))
    }

    /// `ŷ − y` per row of `z` (`[rows, dim]`).
    fn errors(&self, z: &[f32], targets: &[f64]) -> Vec<f64> {
        self.predict(z)
            .iter()
            .zip(targets)
            .map(|(p, t)| p - t)
            .collect()
    }

    /// Adam update from `dL/dŷ` per row (`slopes`); returns `dL/dZ`.
    fn step(&mut self, z: &[f32], slopes: &[f64], learning_rate: f64) -> Vec<f32> {
        let dim = self.weights.len();
        let mut grad_z = Vec::with_capacity(z.len());
        let mut grad_w = vec![0.0; dim + 1];
        for (row, &scale) in z.chunks_exact(dim).zip(slopes) {
            for (k, x) in row.iter().enumerate() {
                grad_z.push((scale * self.weights[k]) as f32);
                grad_w[k] += scale * f64::from(*x);
            }
            grad_w[dim] += scale;
        }
        self.steps += 1;
        let (b1, b2) = (0.9f64, 0.999f64);
        let (c1, c2) = (1.0 - b1.powi(self.steps), 1.0 - b2.powi(self.steps));
        for (k, g) in grad_w.iter().enumerate() {
            let (m, v) = &mut self.moments[k];
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            let update = learning_rate * (*m / c1) / ((*v / c2).sqrt() + 1e-8);
            if k < dim {
                self.weights[k] -= update;
            } else {
                self.bias -= update;
            }
        }
        grad_z
    }
}

/// Most reweightings of a least-absolute-deviations fit.
const IRLS_ITERATIONS: usize = 100;
/// Smallest residual an IRLS weight divides by (standardized label units).
const IRLS_FLOOR: f64 = 1e-6;

/// The ridge of [`LinearHead::fitted`] that only keeps collinear embedding
/// dimensions solvable, barely shrinking the weights.
pub const SOLVABLE_RIDGE: f64 = 1e-6;

/// The logistic function.
pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    use super::{LinearHead, SOLVABLE_RIDGE as SOLVABLE};

    /// 100 rows of 2 spread-out embeddings (`[100, 2]`) and `3·z₀ − 2·z₁ + 0.5`.
    fn linear_data() -> (Vec<f32>, Vec<f64>) {
        let z: Vec<f32> = (0..200)
            .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
            .collect();
        let y = z
            .chunks(2)
            .map(|r| 3.0 * f64::from(r[0]) - 2.0 * f64::from(r[1]) + 0.5)
            .collect();
        (z, y)
    }

    /// 101 embeddings evenly from −1 to 1 (`[101, 1]`, mean 0) and `2·z + 1`.
    fn centred_line() -> (Vec<f32>, Vec<f64>) {
        let z: Vec<f32> = (0..101).map(|i| i as f32 / 50.0 - 1.0).collect();
        let y = z.iter().map(|x| 2.0 * f64::from(*x) + 1.0).collect();
        (z, y)
    }

    /// A one-dimensional head's slope and intercept.
    fn slope_and_bias(head: &LinearHead) -> (f64, f64) {
        let bias = head.predict(&[0.0])[0];
        (head.predict(&[1.0])[0] - bias, bias)
    }

    #[test]
    fn fits_a_linear_function() {
        let (z, y) = linear_data();
        let mut head = LinearHead::new(2, 0.0);
        let mut loss = f64::MAX;
        for _ in 0..2000 {
            loss = head.mse_step(&z, &y, 0.05).0;
        }
        assert!(loss < 1e-6, "{loss}");
    }

    #[test]
    fn least_squares_recovers_a_linear_function() {
        let (z, y) = linear_data();
        let head = LinearHead::fitted(&z, 2, &y, false, SOLVABLE).expect("solvable");
        for (p, t) in head.predict(&z).iter().zip(&y) {
            assert!((p - t).abs() < 1e-4, "{p} against {t}");
        }
    }

    /// A fifth of the labels far off a line: least absolute deviations still finds
    /// the line, least squares is pulled away.
    #[test]
    fn least_absolute_deviations_ignore_outliers() {
        let z: Vec<f32> = (0..100).map(|i| i as f32 / 50.0 - 1.0).collect(); // [100, 1]
        let y: Vec<f64> = z
            .iter()
            .enumerate()
            .map(|(i, x)| 2.0 * f64::from(*x) + 1.0 + if i % 5 == 0 { 8.0 } else { 0.0 })
            .collect();
        let line = |head: &LinearHead| (head.predict(&[0.0])[0], head.predict(&[1.0])[0]);
        let (b, at_one) = line(&LinearHead::fitted(&z, 1, &y, true, SOLVABLE).expect("solvable"));
        assert!(
            (b - 1.0).abs() < 1e-3 && (at_one - 3.0).abs() < 1e-3,
            "{b}, {at_one}"
        );
        let (b, _) = line(&LinearHead::fitted(&z, 1, &y, false, SOLVABLE).expect("solvable"));
        assert!(b > 2.0, "least squares bias {b}");
    }

    /// A ridge of 1 halves the slope on a centred embedding dimension, whose mean
    /// square is its variance; the bias stays unpenalized.
    #[test]
    fn a_unit_ridge_halves_the_weights() {
        let (z, y) = centred_line();
        let slope = |ridge: f64| {
            slope_and_bias(&LinearHead::fitted(&z, 1, &y, false, ridge).expect("solvable"))
        };
        let (exact, _) = slope(SOLVABLE);
        let (halved, bias) = slope(1.0);
        assert!((exact - 2.0).abs() < 1e-4, "{exact}");
        assert!(
            (halved - 1.0).abs() < 1e-6 && (bias - 1.0).abs() < 1e-6,
            "{halved}, {bias}"
        );
    }

    /// With least absolute deviations too, a stronger ridge gives a smaller slope,
    /// between 0 and the exact one.
    #[test]
    fn a_ridge_shrinks_least_absolute_deviations() {
        let (z, y) = centred_line();
        let slopes: Vec<f64> = [SOLVABLE, 0.1, 1.0, 10.0]
            .iter()
            .map(|&ridge| {
                slope_and_bias(&LinearHead::fitted(&z, 1, &y, true, ridge).expect("solvable")).0
            })
            .collect();
        assert!((slopes[0] - 2.0).abs() < 1e-3, "{slopes:?}");
        assert!(
            slopes.windows(2).all(|pair| pair[1] < pair[0]) && slopes[3] > 0.0,
            "{slopes:?}"
        );
    }

    #[test]
    fn refuses_to_fit_non_finite_values_wrong_shapes_and_no_rows() {
        for ridge in [0.0, -1.0, f64::NAN] {
            assert!(LinearHead::fitted(&[1.0, 2.0], 1, &[0.0, 1.0], false, ridge).is_none());
        }
        assert!(LinearHead::fitted(&[f32::NAN, 1.0], 1, &[0.0, 1.0], false, SOLVABLE).is_none());
        assert!(
            LinearHead::fitted(&[1.0, 2.0], 1, &[0.0, f64::INFINITY], true, SOLVABLE).is_none()
        );
        assert!(LinearHead::fitted(&[1.0, 2.0, 3.0], 1, &[0.0, 1.0], false, SOLVABLE).is_none());
        assert!(
            LinearHead::fitted(&[1.0, 2.0, 3.0, 4.0], 1, &[0.0, 1.0], false, SOLVABLE).is_none()
        );
        assert!(LinearHead::fitted(&[], 2, &[], true, SOLVABLE).is_none());
    }

    /// Where labels pile up (70 % at 0, like the metals of a band-gap set), L1
    /// settles on the median and MSE on the mean.
    #[test]
    fn l1_fits_the_median_and_mse_the_mean() {
        let z = vec![0.0f32; 100]; // [100, 1]: only the bias can fit
        let y: Vec<f64> = (0..100).map(|i| if i < 70 { 0.0 } else { 3.0 }).collect();
        let (mut l1, mut mse) = (LinearHead::new(1, 1.5), LinearHead::new(1, 1.5));
        for _ in 0..3000 {
            l1.l1_step(&z, &y, 0.01);
            mse.mse_step(&z, &y, 0.01);
        }
        let (median, mean) = (l1.predict(&[0.0])[0], mse.predict(&[0.0])[0]);
        assert!(median.abs() < 0.02, "L1 bias {median}");
        assert!((mean - 0.9).abs() < 0.02, "MSE bias {mean}");
    }

    #[test]
    fn separates_two_classes() {
        let z: Vec<f32> = (0..200)
            .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
            .collect(); // [100, 2]
        let y: Vec<f64> = z
            .chunks(2)
            .map(|r| f64::from(u8::from(r[0] + 0.5 * r[1] > 0.1)))
            .collect();
        let mut head = LinearHead::new(2, 0.0);
        for _ in 0..3000 {
            head.bce_step(&z, &y, 0.05);
        }
        let correct = head
            .predict(&z)
            .iter()
            .zip(&y)
            .filter(|(x, t)| f64::from(u8::from(**x > 0.0)) == **t)
            .count();
        assert!(correct >= 98, "{correct}/100");
    }

    /// Checkpoints store the head as JSON: a resumed fine-tuning must continue from
    /// the same bits (serde_json parses floats exactly only with `float_roundtrip`;
    /// without it some of these values come back one ulp off).
    #[test]
    fn json_round_trip_is_bit_exact() {
        let z: Vec<f32> = (0..64 * 128)
            .map(|i| ((i * 7919 % 1009) as f32 / 504.5) - 1.0)
            .collect(); // [64, 128]
        let y: Vec<f64> = (0..64).map(|i| f64::from(i % 7) / 3.0 - 0.9).collect();
        let mut head = LinearHead::new(128, 0.3);
        for _ in 0..25 {
            head.mse_step(&z, &y, 1e-3);
        }
        let json = serde_json::to_vec(&head).unwrap();
        let back: LinearHead = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, head);
    }

    /// A head whose sizes disagree, or that holds a non-finite value or an
    /// impossible step count, is refused as it is read, saying why.
    #[test]
    fn a_head_read_back_must_be_consistent() {
        let read = |json: &str| serde_json::from_str::<LinearHead>(json).map_err(|e| e.to_string());
        let good = r#"{"weights": [1.0, 2.0], "bias": 0.5, "moments": [[0, 0], [0, 0], [0, 0]], "steps": 3}"#;
        assert_eq!(read(good).unwrap().dim(), 2);
        for (json, reason) in [
            (
                r#"{"weights": [], "bias": 0, "moments": [[0, 0]], "steps": 0}"#,
                "0 weights",
            ),
            (
                r#"{"weights": [1.0], "bias": 0, "moments": [], "steps": 0}"#,
                "plus one",
            ),
            (
                r#"{"weights": [1.0], "bias": 1e999, "moments": [[0, 0], [0, 0]], "steps": 0}"#,
                "",
            ),
            (
                r#"{"weights": [1.0], "bias": 0, "moments": [[0, -1], [0, 0]], "steps": 0}"#,
                "not negative",
            ),
            (
                r#"{"weights": [1.0], "bias": 0, "moments": [[0, 0], [0, 0]], "steps": 2147483647}"#,
                "step count",
            ),
        ] {
            let error = read(json).unwrap_err();
            assert!(error.contains(reason), "{json}: {error}");
        }
    }
}
