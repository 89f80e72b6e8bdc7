//! PotNet's complete-potential features (Lin et al., ICML 2023): for a pair of sites
//! at Cartesian offset v, three infinite lattice sums,
//!
//! * Coulomb  Σ_L 1/|v + L|   (Epstein zeta, p = ½, regularized: the Ewald sum with
//!   a neutralizing background),
//! * London   Σ_L 1/|v + L|⁶ (Epstein zeta, p = 3),
//! * Pauli    Σ_L exp(−α′|v + L|),
//!
//! computed as the reference does: in the cell rescaled to unit volume (g = V^⅓),
//! with the Ewald/incomplete-gamma split at t = 1, lattice and reciprocal indices
//! n ∈ [−R, R]³, and the reference's truncation of terms beyond x > 111. The Pauli
//! rate is α′ = α/√g Å⁻¹ (the reference scales α by √g in unit-volume coordinates).
//! The L = 0 term of a site with itself is left out of the zeta sums; the Pauli sum
//! keeps it.

use std::f64::consts::PI;

use crate::{lattice::dot, Lattice, ParseError, Structure};

/// Lattice index range R of the reference configuration.
pub const POTNET_RANGE: i32 = 3;
/// Pauli parameter α of the reference configuration.
pub const POTNET_PAULI_ALPHA: f64 = 3.0;
/// Terms whose argument exceeds this are dropped, as in the reference.
const CUTOFF: f64 = 111.0;

/// The three sums for one pair of sites.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairSums {
    /// Å⁻¹
    pub coulomb: f64,
    /// Å⁻⁶
    pub london: f64,
    /// dimensionless
    pub pauli: f64,
}

/// Precomputed unit-volume lattice data of one structure.
pub struct PotentialLattice {
    g: f64,
    /// L′ for n ∈ [−R, R]³, n ≠ 0.
    real: Vec<[f64; 3]>,
    /// For G′ (no 2π) over the same n: G′ and the pair-independent amplitudes of the
    /// Coulomb, London and Pauli reciprocal terms; entries whose three amplitudes
    /// vanish (beyond the cutoff) are dropped.
    reciprocal: Vec<([f64; 3], [f64; 3])>,
    pauli_a: f64,
    pauli_b: f64,
}

impl PotentialLattice {
    /// The unit-volume lattice of `lattice`; refuses left-handed or singular cells.
    pub fn new(lattice: &Lattice, range: i32, pauli_alpha: f64) -> Result<Self, ParseError> {
        let m = &lattice.matrix;
        let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
        if det <= 0.0 {
            return Err(ParseError::invalid(format!(
                "lattice sums need a right-handed cell (determinant {det})"
            )));
        }
        let g = det.cbrt();
        let unit = Lattice::new(m.map(|row| row.map(|x| x / g)));
        let recip = unit
            .reciprocal()
            .ok_or_else(|| ParseError::invalid("singular lattice"))?;
        let pauli_a = pauli_alpha * g.sqrt();
        let pauli_b = pauli_a * pauli_a / (4.0 * PI);
        let mut real = Vec::new();
        let mut reciprocal = Vec::new();
        for n0 in -range..=range {
            for n1 in -range..=range {
                for n2 in -range..=range {
                    if n0 == 0 && n1 == 0 && n2 == 0 {
                        continue;
                    }
                    let n = [f64::from(n0), f64::from(n1), f64::from(n2)];
                    real.push(combine(&n, &unit.matrix));
                    let gv = combine(&n, &recip);
                    let g2 = dot(&gv, &gv);
                    let amplitudes = [
                        PI.powf(1.5) * Zeta::Coulomb.reciprocal_term(PI * PI * g2),
                        PI.powf(1.5) * Zeta::London.reciprocal_term(PI * PI * g2),
                        k_minus_two(pauli_b + PI * g2),
                    ];
                    if amplitudes.iter().any(|&a| a != 0.0) {
                        reciprocal.push((gv, amplitudes));
                    }
                }
            }
        }
        Ok(Self {
            g,
            real,
            reciprocal,
            pauli_a,
            pauli_b,
        })
    }

    /// The sums for Cartesian offset `v` (Å) between two sites; `same_site` marks a
    /// site paired with itself (v = 0).
    pub fn pair(&self, v: &[f64; 3], same_site: bool) -> PairSums {
        let v = v.map(|x| x / self.g);
        // Reciprocal space: pair-independent amplitudes times cos(2π G′·v′).
        let mut coulomb = 0.0;
        let mut london = 0.0;
        let mut pauli = k_minus_two(self.pauli_b); // G′ = 0
        for (gv, amplitude) in &self.reciprocal {
            let phase = (2.0 * PI * dot(gv, &v)).cos();
            coulomb += phase * amplitude[0];
            london += phase * amplitude[1];
            pauli += phase * amplitude[2];
        }
        // Real space.
        pauli += k_half(PI * dot(&v, &v), self.pauli_b); // L′ = 0
        for l in &self.real {
            let r = [l[0] + v[0], l[1] + v[1], l[2] + v[2]];
            let r2 = dot(&r, &r);
            coulomb += Zeta::Coulomb.real_term(r2);
            london += Zeta::London.real_term(r2);
            pauli += k_half(PI * r2, self.pauli_b);
        }
        PairSums {
            coulomb: self.finish_zeta(coulomb, &v, same_site, Zeta::Coulomb),
            london: self.finish_zeta(london, &v, same_site, Zeta::London),
            pauli: pauli * self.pauli_a / (2.0 * PI),
        }
    }

    /// Adds the L = 0 (or self) and G = 0 corrections and rescales to Å.
    fn finish_zeta(&self, mut sum: f64, v: &[f64; 3], same_site: bool, kind: Zeta) -> f64 {
        if same_site {
            sum -= 1.0 / kind.p();
        } else {
            sum += kind.real_term(dot(v, v));
        }
        sum -= PI.powf(1.5) / (1.5 - kind.p());
        sum * self.g.powf(-2.0 * kind.p()) / kind.gamma_p()
    }
}

fn combine(n: &[f64; 3], basis: &[[f64; 3]; 3]) -> [f64; 3] {
    [0, 1, 2].map(|k| n[0] * basis[0][k] + n[1] * basis[1][k] + n[2] * basis[2][k])
}

#[derive(Clone, Copy)]
enum Zeta {
    /// p = ½
    Coulomb,
    /// p = 3
    London,
}

impl Zeta {
    fn p(self) -> f64 {
        match self {
            Zeta::Coulomb => 0.5,
            Zeta::London => 3.0,
        }
    }

    fn gamma_p(self) -> f64 {
        match self {
            Zeta::Coulomb => PI.sqrt(),
            Zeta::London => 2.0,
        }
    }

    /// x^{−p} Γ(p, x), zero beyond the cutoff.
    fn real_term(self, x: f64) -> f64 {
        if x > CUTOFF {
            return 0.0;
        }
        match self {
            Zeta::Coulomb => PI.sqrt() * libm::erfc(x.sqrt()) / x.sqrt(),
            Zeta::London => (-x).exp() * (x * x + 2.0 * x + 2.0) / (x * x * x),
        }
    }

    /// x^{p−3/2} Γ(3/2 − p, x), zero beyond the cutoff.
    fn reciprocal_term(self, x: f64) -> f64 {
        if x > CUTOFF {
            return 0.0;
        }
        match self {
            Zeta::Coulomb => (-x).exp() / x,
            Zeta::London => {
                let e = (-x).exp();
                2.0 / 3.0 * (e - 2.0 * x * e + 2.0 * PI.sqrt() * x.powf(1.5) * libm::erfc(x.sqrt()))
            }
        }
    }
}

/// K(−2; x, 0) = x⁻² Γ(2, x), zero beyond the cutoff.
fn k_minus_two(x: f64) -> f64 {
    if x > CUTOFF {
        return 0.0;
    }
    (1.0 + x) * (-x).exp() / (x * x)
}

/// The incomplete Bessel function K(½; x, y) = ∫₁^∞ t^{−3/2} e^{−xt − y/t} dt (y > 0),
/// in closed form, with the reference's zero cutoffs.
pub fn k_half(x: f64, y: f64) -> f64 {
    if x.abs() < 1e-14 {
        return PI.sqrt() * libm::erf(y.sqrt()) / y.sqrt();
    }
    if x > CUTOFF || (x < y && x * y > 58.0 * 58.0) {
        return 0.0;
    }
    let (sx, sy) = (x.sqrt(), y.sqrt());
    let c = 2.0 * sx * sy;
    0.5 * (PI / y).sqrt() * ((-c).exp() * libm::erfc(sx - sy) - c.exp() * libm::erfc(sx + sy))
}

/// The three sums for every ordered pair (i, j) of sites, row-major (i outer), with
/// v = r_i − r_j as stored (not wrapped): `[n², 3]` as Coulomb, London, Pauli.
pub fn potnet_infinite_sums(structure: &Structure) -> Result<Vec<PairSums>, ParseError> {
    let lattice = PotentialLattice::new(&structure.lattice, POTNET_RANGE, POTNET_PAULI_ALPHA)?;
    let cart: Vec<[f64; 3]> = (0..structure.len())
        .map(|i| structure.cartesian(i))
        .collect();
    let mut out = Vec::with_capacity(cart.len() * cart.len());
    for (i, ri) in cart.iter().enumerate() {
        for (j, rj) in cart.iter().enumerate() {
            let v = [ri[0] - rj[0], ri[1] - rj[1], ri[2] - rj[2]];
            out.push(lattice.pair(&v, i == j));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k_half_matches_its_integral() {
        for (x, y) in [(0.3, 1.2), (2.0, 0.5), (5.0, 3.0), (0.05, 2.5), (12.0, 1.0)] {
            // ∫₁^∞ t^{−3/2} e^{−xt−y/t} dt with t = 1/u²: 2∫₀¹ e^{−x/u² − y u²} du.
            let steps = 200_000;
            let h = 1.0 / steps as f64;
            let f = |u: f64| {
                if u == 0.0 {
                    0.0
                } else {
                    2.0 * (-x / (u * u) - y * u * u).exp()
                }
            };
            let mut integral = f(0.0) + f(1.0);
            for k in 1..steps {
                integral += f(k as f64 * h) * if k % 2 == 1 { 4.0 } else { 2.0 };
            }
            integral *= h / 3.0;
            let closed = k_half(x, y);
            assert!(
                (closed - integral).abs() < 1e-9 * integral.abs().max(1e-12),
                "{x} {y}: {closed} vs {integral}"
            );
        }
    }
}
