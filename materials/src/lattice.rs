//! Periodic lattices: three row vectors a, b, c in Å (pymatgen's convention).

/// A 3×3 matrix of f64, row-major.
pub type Mat3 = [[f64; 3]; 3];

/// A crystal lattice. `matrix[i]` is lattice vector i (a, b, c) in Å, Cartesian.
#[derive(Clone, Debug, PartialEq)]
pub struct Lattice {
    pub matrix: Mat3,
}

impl Lattice {
    /// A lattice from its vectors (rows, Å).
    pub fn new(matrix: Mat3) -> Self {
        Self { matrix }
    }

    /// A lattice from lengths (Å) and angles (degrees), oriented as pymatgen's
    /// `Lattice.from_parameters`: c along z, a in the xz plane.
    pub fn from_parameters(a: f64, b: f64, c: f64, alpha: f64, beta: f64, gamma: f64) -> Self {
        let (alpha, beta, gamma) = (alpha.to_radians(), beta.to_radians(), gamma.to_radians());
        let val = ((alpha.cos() * beta.cos() - gamma.cos()) / (alpha.sin() * beta.sin()))
            .clamp(-1.0, 1.0);
        let gamma_star = val.acos();
        Self::new([
            [a * beta.sin(), 0.0, a * beta.cos()],
            [
                -b * alpha.sin() * gamma_star.cos(),
                b * alpha.sin() * gamma_star.sin(),
                b * alpha.cos(),
            ],
            [0.0, 0.0, c],
        ])
    }

    /// Cell volume, Å³.
    pub fn volume(&self) -> f64 {
        det(&self.matrix).abs()
    }

    /// Lengths |a|, |b|, |c| in Å.
    pub fn lengths(&self) -> [f64; 3] {
        self.matrix.map(|v| norm(&v))
    }

    /// Angles α (b∧c), β (a∧c), γ (a∧b) in degrees.
    pub fn angles(&self) -> [f64; 3] {
        let m = &self.matrix;
        let angle = |u: &[f64; 3], v: &[f64; 3]| {
            (dot(u, v) / (norm(u) * norm(v)))
                .clamp(-1.0, 1.0)
                .acos()
                .to_degrees()
        };
        [
            angle(&m[1], &m[2]),
            angle(&m[0], &m[2]),
            angle(&m[0], &m[1]),
        ]
    }

    /// Cartesian coordinates (Å) of fractional coordinates.
    pub fn to_cartesian(&self, frac: &[f64; 3]) -> [f64; 3] {
        let m = &self.matrix;
        [0, 1, 2].map(|k| frac[0] * m[0][k] + frac[1] * m[1][k] + frac[2] * m[2][k])
    }

    /// Fractional coordinates of Cartesian coordinates (Å); `None` for a singular lattice.
    pub fn to_fractional(&self, cart: &[f64; 3]) -> Option<[f64; 3]> {
        let inv = inverse(&self.matrix)?;
        Some([0, 1, 2].map(|k| cart[0] * inv[0][k] + cart[1] * inv[1][k] + cart[2] * inv[2][k]))
    }

    /// Reciprocal lattice vectors without the 2π factor (rows b*ᵢ with aᵢ·b*ⱼ = δᵢⱼ);
    /// 1/|b*ᵢ| is the spacing of the lattice planes normal to b*ᵢ.
    pub fn reciprocal(&self) -> Option<Mat3> {
        let inv = inverse(&self.matrix)?;
        Some([0, 1, 2].map(|i| [inv[0][i], inv[1][i], inv[2][i]]))
    }
}

pub(crate) fn dot(u: &[f64; 3], v: &[f64; 3]) -> f64 {
    u[0] * v[0] + u[1] * v[1] + u[2] * v[2]
}

pub(crate) fn norm(v: &[f64; 3]) -> f64 {
    dot(v, v).sqrt()
}

fn det(m: &Mat3) -> f64 {
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
}

fn inverse(m: &Mat3) -> Option<Mat3> {
    let d = det(m);
    if d.abs() < 1e-12 {
        return None;
    }
    let c =
        |r0: usize, c0: usize, r1: usize, c1: usize| m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0];
    Some([
        [c(1, 1, 2, 2) / d, -c(0, 1, 2, 2) / d, c(0, 1, 1, 2) / d],
        [-c(1, 0, 2, 2) / d, c(0, 0, 2, 2) / d, -c(0, 0, 1, 2) / d],
        [c(1, 0, 2, 1) / d, -c(0, 0, 2, 1) / d, c(0, 0, 1, 1) / d],
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_round_trip() {
        let l = Lattice::from_parameters(4.0, 5.0, 6.0, 80.0, 95.0, 110.0);
        let [a, b, c] = l.lengths();
        let [al, be, ga] = l.angles();
        for (x, y) in [
            (a, 4.0),
            (b, 5.0),
            (c, 6.0),
            (al, 80.0),
            (be, 95.0),
            (ga, 110.0),
        ] {
            assert!((x - y).abs() < 1e-9, "{x} vs {y}");
        }
        let f = [0.1, 0.7, 0.35];
        let back = l.to_fractional(&l.to_cartesian(&f)).unwrap();
        assert!(f.iter().zip(back).all(|(x, y)| (x - y).abs() < 1e-12));
        let r = l.reciprocal().unwrap();
        for (i, a) in l.matrix.iter().enumerate() {
            for (j, b) in r.iter().enumerate() {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((dot(a, b) - want).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn cubic_volume() {
        assert!(
            (Lattice::from_parameters(2.0, 2.0, 2.0, 90.0, 90.0, 90.0).volume() - 8.0).abs()
                < 1e-12
        );
    }
}
