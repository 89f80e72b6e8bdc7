//! Infinite lattice sums of pair potentials between periodic sites, by Ewald
//! splitting: the Coulomb sum Σ_L 1/|r + L| (conditionally convergent, regularized
//! with a neutralizing background as in Ewald summation), from which Madelung
//! constants follow.

use std::f64::consts::PI;

use crate::{lattice::dot, Lattice, Structure};

/// erfc(η r_c) and exp(−G_c²/4η²) are below e^(−ACCURACY²) ≈ 2·10⁻¹⁶.
const ACCURACY: f64 = 6.0;

/// The Ewald-regularized periodic Coulomb potential (units e²/Å → 1/Å) at Cartesian
/// offset `delta` from a unit charge and all its lattice images, with a uniform
/// neutralizing background: φ(r) = Σ_L erfc(η|r+L|)/|r+L| + (4π/V) Σ_{G≠0}
/// e^{−G²/4η²}/G² cos(G·r) − π/(η²V). With `delta` = 0 the charge's own L = 0 term is
/// left out (and its −2η/√π self-interaction removed), giving the potential of a
/// charge's images at its own position.
pub fn coulomb_potential(lattice: &Lattice, delta: &[f64; 3]) -> f64 {
    let volume = lattice.volume();
    let eta = PI.sqrt() / volume.cbrt();
    let real_cutoff = ACCURACY / eta;
    let recip_cutoff = 2.0 * eta * ACCURACY;
    let reciprocal = match lattice.reciprocal() {
        Some(r) => r,
        None => return f64::NAN,
    };
    let m = &lattice.matrix;
    let is_self = dot(delta, delta) < 1e-24;

    // Real space.
    let reach = reciprocal.map(|b| (real_cutoff * dot(&b, &b).sqrt()).ceil() as i32 + 1);
    let mut real = 0.0;
    for n0 in -reach[0]..=reach[0] {
        for n1 in -reach[1]..=reach[1] {
            for n2 in -reach[2]..=reach[2] {
                let (f0, f1, f2) = (f64::from(n0), f64::from(n1), f64::from(n2));
                let v = [0, 1, 2].map(|k| delta[k] + f0 * m[0][k] + f1 * m[1][k] + f2 * m[2][k]);
                let d = dot(&v, &v).sqrt();
                if d < 1e-12 || d > real_cutoff {
                    continue;
                }
                real += libm::erfc(eta * d) / d;
            }
        }
    }

    // Reciprocal space: G = 2π (m₀ b₀* + m₁ b₁* + m₂ b₂*).
    let lengths = lattice.lengths();
    let reach = lengths.map(|a| (recip_cutoff * a / (2.0 * PI)).ceil() as i32 + 1);
    let mut recip = 0.0;
    for k0 in -reach[0]..=reach[0] {
        for k1 in -reach[1]..=reach[1] {
            for k2 in -reach[2]..=reach[2] {
                if k0 == 0 && k1 == 0 && k2 == 0 {
                    continue;
                }
                let (f0, f1, f2) = (f64::from(k0), f64::from(k1), f64::from(k2));
                let g = [0, 1, 2].map(|k| {
                    2.0 * PI
                        * (f0 * reciprocal[0][k] + f1 * reciprocal[1][k] + f2 * reciprocal[2][k])
                });
                let g2 = dot(&g, &g);
                if g2 > recip_cutoff * recip_cutoff {
                    continue;
                }
                recip += (-g2 / (4.0 * eta * eta)).exp() / g2 * dot(&g, delta).cos();
            }
        }
    }
    recip *= 4.0 * PI / volume;

    let background = PI / (eta * eta * volume);
    let self_term = if is_self { 2.0 * eta / PI.sqrt() } else { 0.0 };
    real + recip - background - self_term
}

/// The electrostatic potential at site `site` from point charges `charges` (one per
/// site, in e, summing to zero) on all sites and their images.
pub fn site_potential(structure: &Structure, charges: &[f64], site: usize) -> f64 {
    let here = structure.cartesian(site);
    (0..structure.len())
        .map(|j| {
            let there = structure.cartesian(j);
            let delta = [0, 1, 2].map(|k| there[k] - here[k]);
            charges[j] * coulomb_potential(&structure.lattice, &delta)
        })
        .sum()
}

/// The Madelung constant of site `site`: −q_i Φ_i r₀, with r₀ the distance to its
/// nearest neighbour.
pub fn madelung_constant(structure: &Structure, charges: &[f64], site: usize) -> f64 {
    let nearest = crate::all_neighbors(structure, 10.0)
        .ok()
        .and_then(|lists| lists[site].first().map(|n| n.distance))
        .unwrap_or(f64::NAN);
    -charges[site] * site_potential(structure, charges, site) * nearest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read_poscar;

    #[test]
    fn madelung_constants_of_rocksalt_and_cesium_chloride() {
        let (nacl, _) =
            read_poscar("NaCl\n1.0\n0 1 1\n1 0 1\n1 1 0\nNa Cl\n1 1\nDirect\n0 0 0\n0.5 0.5 0.5\n")
                .unwrap();
        let (cscl, _) =
            read_poscar("CsCl\n1.0\n1 0 0\n0 1 0\n0 0 1\nCs Cl\n1 1\nDirect\n0 0 0\n0.5 0.5 0.5\n")
                .unwrap();
        for (structure, expected) in [(nacl, 1.747565), (cscl, 1.762675)] {
            for site in 0..2 {
                let m = madelung_constant(&structure, &[1.0, -1.0], site);
                assert!((m - expected).abs() < 1e-5, "{m} vs {expected}");
            }
        }
    }

    #[test]
    fn the_splitting_parameter_does_not_matter() {
        // The same crystal in a cell twice as large (a supercell) gives the same potential.
        let (cell, _) =
            read_poscar("CsCl\n1.0\n1 0 0\n0 1 0\n0 0 1\nCs Cl\n1 1\nDirect\n0 0 0\n0.5 0.5 0.5\n")
                .unwrap();
        let (super_cell, _) = read_poscar(
            "CsCl\n1.0\n2 0 0\n0 1 0\n0 0 1\nCs Cl\n2 2\nDirect\n0 0 0\n0.5 0 0\n0.25 0.5 0.5\n0.75 0.5 0.5\n",
        )
        .unwrap();
        let a = site_potential(&cell, &[1.0, -1.0], 0);
        let b = site_potential(&super_cell, &[1.0, 1.0, -1.0, -1.0], 0);
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }
}
