//! Train / validation / test splits by material id: a material's split depends only
//! on its id, the seed and the fractions, so it never changes as a dataset grows,
//! and pretraining, fine-tuning and retrieval agree on which materials are held out.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Which part of a dataset a material belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Validation,
    Test,
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        })
    }
}

/// The split of material `id` under `seed`, with `fractions` = (train, validation,
/// test) summing to 1 (they are normalized if not).
pub fn split_of(id: &str, seed: u64, fractions: [f64; 3]) -> Split {
    let total: f64 = fractions.iter().sum();
    let u = unit_hash(id, seed) * total;
    if u < fractions[0] {
        Split::Train
    } else if u < fractions[0] + fractions[1] {
        Split::Validation
    } else {
        Split::Test
    }
}

/// Whether a material can be in the test split under (`seed`, `fractions`) and in
/// the training split under (`trained_seed`, `trained_fractions`): always under
/// another seed, else when the test share reaches below the end of the training
/// share (both normalized).
pub fn test_meets_training(
    seed: u64,
    fractions: [f64; 3],
    trained_seed: u64,
    trained_fractions: [f64; 3],
) -> bool {
    if seed != trained_seed {
        return true;
    }
    let share = |f: [f64; 3], i: usize| f[i] / f.iter().sum::<f64>();
    1.0 - share(fractions, 2) < share(trained_fractions, 0) - 1e-12
}

/// A uniform number in [0, 1) from `id` and `seed`: FNV-1a over both, then the
/// splitmix64 finalizer (FNV alone mixes short, similar ids poorly).
fn unit_hash(id: &str, seed: u64) -> f64 {
    let mut hash = crate::hash::fnv1a(&seed.to_le_bytes());
    for &byte in id.as_bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    (mix64(hash) >> 11) as f64 / (1u64 << 53) as f64
}

/// splitmix64's output function: a bijection with full avalanche.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_are_respected_and_stable() {
        let ids: Vec<String> = (0..20_000).map(|i| format!("mp-{i}")).collect();
        let count = |split| {
            ids.iter()
                .filter(|id| split_of(id, 42, [0.7, 0.2, 0.1]) == split)
                .count() as f64
                / ids.len() as f64
        };
        assert!((count(Split::Train) - 0.7).abs() < 0.01);
        assert!((count(Split::Validation) - 0.2).abs() < 0.01);
        assert!((count(Split::Test) - 0.1).abs() < 0.01);
        let moved = ids
            .iter()
            .filter(|id| split_of(id, 42, [0.7, 0.2, 0.1]) != split_of(id, 7, [0.7, 0.2, 0.1]))
            .count();
        assert!(moved > 5_000, "another seed gives another split");
    }

    #[test]
    fn test_meets_training_exactly_when_some_material_does() {
        let ids: Vec<String> = (0..20_000).map(|i| format!("mp-{i}")).collect();
        let cases = [
            (42, [0.8, 0.1, 0.1], 42, [0.7, 0.2, 0.1], false),
            (42, [0.7, 0.1, 0.2], 42, [0.8, 0.1, 0.1], false),
            (42, [0.5, 0.1, 0.4], 42, [0.8, 0.1, 0.1], true),
            (42, [0.8, 0.1, 0.1], 7, [0.8, 0.1, 0.1], true),
        ];
        for (seed, fractions, trained_seed, trained, expected) in cases {
            let found = ids.iter().any(|id| {
                split_of(id, seed, fractions) == Split::Test
                    && split_of(id, trained_seed, trained) == Split::Train
            });
            assert_eq!(found, expected, "{fractions:?} against {trained:?}");
            assert_eq!(
                test_meets_training(seed, fractions, trained_seed, trained),
                expected
            );
        }
    }

    #[test]
    fn the_same_test_share_keeps_the_same_test_materials() {
        let ids: Vec<String> = (0..20_000).map(|i| format!("mp-{i}")).collect();
        let mut grown = 0;
        for id in &ids {
            let before = split_of(id, 42, [0.7, 0.2, 0.1]);
            let after = split_of(id, 42, [0.8, 0.1, 0.1]);
            assert_eq!(before == Split::Test, after == Split::Test, "{id}");
            if before == Split::Validation && after == Split::Train {
                grown += 1;
            }
            assert!(!(before == Split::Train && after != Split::Train), "{id}");
        }
        assert!(
            grown > 1_500,
            "half of the validation share moves to training"
        );
    }
}
