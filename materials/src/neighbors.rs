//! Periodic neighbour lists: every site within a cutoff, with its lattice image.

use crate::{lattice::norm, Structure};

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
    for (i, si) in structure.sites.iter().enumerate() {
        let mut list = Vec::new();
        for (j, sj) in structure.sites.iter().enumerate() {
            let range = |k: usize| {
                let d = si.frac[k] - sj.frac[k];
                ((d - reach[k]).floor() as i32)..=((d + reach[k]).ceil() as i32)
            };
            for n0 in range(0) {
                for n1 in range(1) {
                    for n2 in range(2) {
                        if i == j && n0 == 0 && n1 == 0 && n2 == 0 {
                            continue;
                        }
                        let (f0, f1, f2) = (f64::from(n0), f64::from(n1), f64::from(n2));
                        let delta = [0, 1, 2].map(|k| {
                            cart[j][k] + f0 * m[0][k] + f1 * m[1][k] + f2 * m[2][k] - cart[i][k]
                        });
                        let d2 = delta[0] * delta[0] + delta[1] * delta[1] + delta[2] * delta[2];
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
