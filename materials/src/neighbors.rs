//! Periodic neighbour lists: every site within a cutoff, with its lattice image.

use crate::{
    lattice::{dot, norm},
    Structure,
};

/// One neighbour of a site.
#[derive(Clone, Debug, PartialEq)]
pub struct Neighbor {
    /// Index of the neighbouring site.
    pub index: usize,
    /// Lattice translation of the neighbour's image (in units of a, b, c).
    pub image: [i32; 3],
    /// Distance in Å.
    pub distance: f64,
}

/// For every site, all sites (in any periodic image, the site itself in other
/// images included) within `cutoff` Å, as pymatgen's `get_all_neighbors`. Images are
/// relative to the fractional coordinates as stored (not wrapped). Each list is
/// sorted by distance, then index, then image.
pub fn all_neighbors(structure: &Structure, cutoff: f64) -> Vec<Vec<Neighbor>> {
    let lattice = &structure.lattice;
    let Some(reciprocal) = lattice.reciprocal() else {
        return vec![Vec::new(); structure.len()];
    };
    // How far (in lattice units) the cutoff sphere reaches along each axis.
    let reach = reciprocal.map(|b| cutoff * norm(&b));
    let cart: Vec<[f64; 3]> = (0..structure.len())
        .map(|i| structure.cartesian(i))
        .collect();
    let m = &lattice.matrix;
    let cutoff2 = cutoff * cutoff;
    let mut out = Vec::with_capacity(structure.len());
    let c = m[2];
    let cc = dot(&c, &c);
    for (i, si) in structure.sites.iter().enumerate() {
        let mut list = Vec::new();
        for (j, sj) in structure.sites.iter().enumerate() {
            let range = |k: usize| {
                let d = si.frac[k] - sj.frac[k];
                ((d - reach[k]).floor() as i32)..=((d + reach[k]).ceil() as i32)
            };
            let base = [0, 1, 2].map(|k| cart[j][k] - cart[i][k]);
            for n0 in range(0) {
                for n1 in range(1) {
                    let (f0, f1) = (f64::from(n0), f64::from(n1));
                    let p = [0, 1, 2].map(|k| base[k] + f0 * m[0][k] + f1 * m[1][k]);
                    // |p + n2·c|² ≤ r² holds for n2 between the roots of a quadratic.
                    let pc = dot(&p, &c);
                    let disc = pc * pc - cc * (dot(&p, &p) - cutoff2);
                    if disc < 0.0 {
                        continue;
                    }
                    let root = disc.sqrt();
                    let lo = ((-pc - root) / cc).floor() as i32;
                    let hi = ((-pc + root) / cc).ceil() as i32;
                    for n2 in lo..=hi {
                        if i == j && n0 == 0 && n1 == 0 && n2 == 0 {
                            continue;
                        }
                        let f2 = f64::from(n2);
                        let delta = [p[0] + f2 * c[0], p[1] + f2 * c[1], p[2] + f2 * c[2]];
                        let d2 = dot(&delta, &delta);
                        if d2 <= cutoff2 {
                            list.push(Neighbor {
                                index: j,
                                image: [n0, n1, n2],
                                distance: d2.sqrt(),
                            });
                        }
                    }
                }
            }
        }
        list.sort_by(|a, b| {
            a.distance
                .total_cmp(&b.distance)
                .then(a.index.cmp(&b.index))
                .then(a.image.cmp(&b.image))
        });
        out.push(list);
    }
    out
}
