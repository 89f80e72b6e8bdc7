//! Test metrics of a fine-tuned model.

use serde::{Deserialize, Serialize};

/// Metrics on one split: regression fields or classification fields are set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TestMetrics {
    pub count: usize,
    /// Mean absolute error, in label units.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mae: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rmse: Option<f64>,
    /// Coefficient of determination.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r2: Option<f64>,
    /// Fraction classified right at probability 0.5.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    /// Area under the ROC curve (ties counted half).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roc_auc: Option<f64>,
}

/// MAE, RMSE and R² of `predicted` against `truth`.
pub fn regression_metrics(truth: &[f64], predicted: &[f64]) -> TestMetrics {
    let n = truth.len().max(1) as f64;
    let mean = truth.iter().sum::<f64>() / n;
    let mae = truth
        .iter()
        .zip(predicted)
        .map(|(t, p)| (t - p).abs())
        .sum::<f64>()
        / n;
    let sse: f64 = truth
        .iter()
        .zip(predicted)
        .map(|(t, p)| (t - p).powi(2))
        .sum();
    let sst: f64 = truth.iter().map(|t| (t - mean).powi(2)).sum();
    TestMetrics {
        count: truth.len(),
        mae: Some(mae),
        rmse: Some((sse / n).sqrt()),
        r2: Some(if sst > 0.0 { 1.0 - sse / sst } else { 0.0 }),
        ..TestMetrics::default()
    }
}

/// Accuracy and ROC-AUC of probabilities `predicted` for 0/1 labels `truth`.
pub fn classification_metrics(truth: &[f64], predicted: &[f64]) -> TestMetrics {
    let n = truth.len().max(1) as f64;
    let correct = truth
        .iter()
        .zip(predicted)
        .filter(|(t, p)| (**t > 0.5) == (**p > 0.5))
        .count();
    TestMetrics {
        count: truth.len(),
        accuracy: Some(correct as f64 / n),
        roc_auc: roc_auc(truth, predicted),
        ..TestMetrics::default()
    }
}

/// The probability that a random positive scores above a random negative.
fn roc_auc(truth: &[f64], predicted: &[f64]) -> Option<f64> {
    let positives: Vec<f64> = truth
        .iter()
        .zip(predicted)
        .filter(|(t, _)| **t > 0.5)
        .map(|(_, p)| *p)
        .collect();
    let negatives: Vec<f64> = truth
        .iter()
        .zip(predicted)
        .filter(|(t, _)| **t <= 0.5)
        .map(|(_, p)| *p)
        .collect();
    if positives.is_empty() || negatives.is_empty() {
        return None;
    }
    let mut wins = 0.0;
    for p in &positives {
        for q in &negatives {
            wins += if p > q {
                1.0
            } else if p == q {
                0.5
            } else {
                0.0
            };
        }
    }
    Some(wins / (positives.len() * negatives.len()) as f64)
}

/// Mean binary cross-entropy of probabilities `predicted` for 0/1 labels `truth`.
pub fn bce(truth: &[f64], predicted: &[f64]) -> f64 {
    let n = truth.len().max(1) as f64;
    truth
        .iter()
        .zip(predicted)
        .map(|(t, p)| {
            let p = p.clamp(1e-7, 1.0 - 1e-7);
            -(t * p.ln() + (1.0 - t) * (1.0 - p).ln())
        })
        .sum::<f64>()
        / n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_of_known_predictions() {
        let m = regression_metrics(&[1.0, 2.0, 3.0], &[1.5, 2.0, 2.0]);
        assert!((m.mae.unwrap() - 0.5).abs() < 1e-12);
        assert!((m.r2.unwrap() - (1.0 - 1.25 / 2.0)).abs() < 1e-12);
        let c = classification_metrics(&[1.0, 0.0, 1.0, 0.0], &[0.9, 0.2, 0.4, 0.6]);
        assert_eq!(c.accuracy, Some(0.5));
        assert_eq!(c.roc_auc, Some(0.75));
    }
}
