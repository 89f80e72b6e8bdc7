//! PotNet's lattice sums against independent references: Madelung constants, the
//! converged Ewald Coulomb sum, and direct summation of the London and Pauli sums,
//! on NaCl/CsCl and on real Materials Project structures.

use std::{fs::File, path::PathBuf};

use flate2::read::GzDecoder;
use mmhost_materials::{
    all_neighbors, cif::read_cif, coulomb_potential, potnet_infinite_sums, read_poscar, PairSums,
    PotentialLattice, Structure, POTNET_PAULI_ALPHA,
};

/// The sums of every pair with lattice range `range` (the reference features use 3;
/// a larger range converges them, to compare with converged references).
fn sums_with_range(s: &Structure, range: i32) -> Vec<PairSums> {
    let lattice = PotentialLattice::new(&s.lattice, range, POTNET_PAULI_ALPHA).unwrap();
    let n = s.len();
    offsets(s)
        .iter()
        .enumerate()
        .map(|(k, v)| lattice.pair(v, k / n == k % n))
        .collect()
}

fn data_dir() -> PathBuf {
    std::env::var_os("MMHOST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"))
}

/// Real structures of the first 300 rows whose cells are close to isotropic
/// (longest/shortest lattice vector ≤ 1.3), where R = 3 in the unit-volume cell
/// covers the sums' convergence radius in every direction.
fn isotropic_real_structures() -> Vec<(String, Structure)> {
    let file = File::open(data_dir().join("mp/structures.csv.gz")).unwrap();
    let mut reader = csv::Reader::from_reader(GzDecoder::new(file));
    let headers = reader.headers().unwrap().clone();
    let id = headers.iter().position(|h| h == "material_id").unwrap();
    let cif = headers.iter().position(|h| h == "cif").unwrap();
    reader
        .records()
        .take(300)
        .map(|r| r.unwrap())
        .map(|r| (r[id].to_string(), read_cif(&r[cif]).unwrap().swap_remove(0)))
        .filter(|(_, s)| {
            let l = s.lattice.lengths();
            let (lo, hi) = (
                l.iter().cloned().fold(f64::MAX, f64::min),
                l.iter().cloned().fold(0.0, f64::max),
            );
            hi / lo <= 1.3 && s.len() <= 12 && right_handed(s)
        })
        .take(8)
        .collect()
}

fn right_handed(s: &Structure) -> bool {
    let m = &s.lattice.matrix;
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    det > 0.0
}

/// Σ_L f(|v + L|) over all images within `radius` Å (the site's own L = 0 term left out).
fn direct_sum(s: &Structure, v: &[f64; 3], radius: f64, f: impl Fn(f64) -> f64) -> f64 {
    let reciprocal = s.lattice.reciprocal().unwrap();
    let reach = reciprocal
        .map(|b| (radius * (b[0] * b[0] + b[1] * b[1] + b[2] * b[2]).sqrt()).ceil() as i32 + 1);
    let m = &s.lattice.matrix;
    let mut sum = 0.0;
    for n0 in -reach[0]..=reach[0] {
        for n1 in -reach[1]..=reach[1] {
            for n2 in -reach[2]..=reach[2] {
                let (a, b, c) = (f64::from(n0), f64::from(n1), f64::from(n2));
                let r = [0, 1, 2].map(|k| v[k] + a * m[0][k] + b * m[1][k] + c * m[2][k]);
                let d = (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]).sqrt();
                if d > 1e-12 && d <= radius {
                    sum += f(d);
                }
            }
        }
    }
    sum
}

fn offsets(s: &Structure) -> Vec<[f64; 3]> {
    let cart: Vec<[f64; 3]> = (0..s.len()).map(|i| s.cartesian(i)).collect();
    cart.iter()
        .flat_map(|ri| {
            cart.iter()
                .map(move |rj| [ri[0] - rj[0], ri[1] - rj[1], ri[2] - rj[2]])
        })
        .collect()
}

#[test]
fn coulomb_sums_give_madelung_constants() {
    let (nacl, _) =
        read_poscar("NaCl\n1.0\n0 1 1\n1 0 1\n1 1 0\nNa Cl\n1 1\nDirect\n0 0 0\n0.5 0.5 0.5\n")
            .unwrap();
    let (cscl, _) =
        read_poscar("CsCl\n1.0\n1 0 0\n0 1 0\n0 0 1\nCs Cl\n1 1\nDirect\n0 0 0\n0.5 0.5 0.5\n")
            .unwrap();
    for (s, expected) in [(nacl, 1.747565), (cscl, 1.762675)] {
        let charges = [1.0, -1.0];
        let r0 = all_neighbors(&s, 5.0).expect("neighbours")[0][0].distance;
        let madelung = |sums: &[PairSums], i: usize| {
            let potential: f64 = (0..2).map(|j| charges[j] * sums[i * 2 + j].coulomb).sum();
            -charges[i] * potential * r0
        };
        // Converged (range 6): the Madelung constants to 1e-6.
        let converged = sums_with_range(&s, 6);
        // The reference features' range 3 truncates the real-space sum at about two
        // to three unit-volume cells: 1e-5 relative.
        let features = potnet_infinite_sums(&s).unwrap();
        for i in 0..2 {
            let m = madelung(&converged, i);
            assert!((m - expected).abs() < 1e-6, "{m} vs {expected}");
            let m = madelung(&features, i);
            assert!((m - expected).abs() < 2e-5 * expected, "{m} vs {expected}");
        }
    }
}

#[test]
fn sums_match_converged_references_on_real_structures() {
    let structures = isotropic_real_structures();
    assert!(structures.len() >= 5, "{} structures", structures.len());
    for (id, s) in &structures {
        let sums = sums_with_range(s, 6);
        let g = s.lattice.volume().cbrt();
        let alpha = POTNET_PAULI_ALPHA / g.sqrt();
        for (k, (v, pair)) in offsets(s).iter().zip(&sums).enumerate() {
            // Coulomb: the same regularized sum, by Ewald summation to convergence.
            let ewald = coulomb_potential(&s.lattice, v);
            assert!(
                (pair.coulomb - ewald).abs() < 1e-5 / g,
                "{id} pair {k}: {} vs {ewald}",
                pair.coulomb
            );
            // London: direct summation to 60 Å plus the continuum tail beyond.
            let radius: f64 = 60.0;
            let tail = 4.0 * std::f64::consts::PI / (3.0 * radius.powi(3) * s.lattice.volume());
            let london = direct_sum(s, v, radius, |d| d.powi(-6)) + tail;
            assert!(
                (pair.london - london).abs() < 1e-6 * london,
                "{id} pair {k}: {} vs {london}",
                pair.london
            );
            // Pauli: direct summation of exp(−α′ r), including the site's own L = 0 term.
            let own = if v.iter().all(|x| x.abs() < 1e-12) {
                1.0
            } else {
                0.0
            };
            let pauli = direct_sum(s, v, 40.0 / alpha, |d| (-alpha * d).exp()) + own;
            assert!(
                (pair.pauli - pauli).abs() < 1e-9 * pauli.max(1e-3),
                "{id} pair {k}: {} vs {pauli}",
                pair.pauli
            );
        }
    }
}

#[test]
fn feature_sums_match_an_independent_implementation_of_the_reference_algorithm() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/potnet_reference.json");
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let structures = reference["structures"].as_array().unwrap();
    assert!(structures.len() >= 3);
    for entry in structures {
        let id = entry["material_id"].as_str().unwrap();
        let structure = read_cif(entry["cif"].as_str().unwrap())
            .unwrap()
            .swap_remove(0);
        let ours = potnet_infinite_sums(&structure).unwrap();
        let theirs = entry["sums"].as_array().unwrap();
        assert_eq!(ours.len(), theirs.len(), "{id}");
        for (k, (a, b)) in ours.iter().zip(theirs).enumerate() {
            let b: Vec<f64> = b
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            for (name, x, y) in [
                ("coulomb", a.coulomb, b[0]),
                ("london", a.london, b[1]),
                ("pauli", a.pauli, b[2]),
            ] {
                assert!(
                    (x - y).abs() <= 1e-9 * y.abs().max(1e-6),
                    "{id} pair {k} {name}: {x} vs {y}"
                );
            }
        }
    }
}
