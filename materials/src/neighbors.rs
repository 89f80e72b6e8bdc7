//! Periodic neighbour lists: every site within a cutoff, with its lattice image.

use thiserror::Error;

use crate::{
    lattice::{dot, norm},
    Structure,
};

/// Most (site, neighbour) pairs one search may list, ≈ 240 MB of neighbours. Real
/// crystals list about 100 neighbours per site within 8 Å.
pub const MAX_NEIGHBOR_PAIRS: f64 = 1e7;

/// Most (site, site, image column) combinations one search may visit; bounds the
/// time a thin or oblique cell, or a huge one, can ask for.
pub const MAX_SEARCH_WORK: f64 = 1e9;

/// A neighbour search refused before it started.
#[derive(Clone, Debug, Error, PartialEq)]
pub enum NeighborError {
    /// The lattice vectors are not independent (or not finite).
    #[error("the lattice is singular; no neighbour search is possible")]
    SingularLattice,
    /// The search would list more pairs than [`MAX_NEIGHBOR_PAIRS`].
    #[error(
        "a neighbour search within {cutoff} Å would list about {estimate:.2e} pairs \
         ({sites} sites in {volume:.3} Å³), more than the limit of {MAX_NEIGHBOR_PAIRS:.0e}"
    )]
    TooManyPairs {
        cutoff: f64,
        estimate: f64,
        sites: usize,
        volume: f64,
    },
    /// The search would visit more image columns than [`MAX_SEARCH_WORK`].
    #[error(
        "a neighbour search within {cutoff} Å would visit about {estimate:.2e} periodic \
         images ({sites} sites; a thin or very oblique cell), more than the limit of \
         {MAX_SEARCH_WORK:.0e}"
    )]
    TooMuchWork {
        cutoff: f64,
        estimate: f64,
        sites: usize,
    },
}

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
/// sorted by distance, then index, then image. Refused, before any work, when the
/// lists would exceed [`MAX_NEIGHBOR_PAIRS`] or the search [`MAX_SEARCH_WORK`].
pub fn all_neighbors(
    structure: &Structure,
    cutoff: f64,
) -> Result<Vec<Vec<Neighbor>>, NeighborError> {
    let lattice = &structure.lattice;
    let volume = lattice.volume();
    let reciprocal = lattice
        .reciprocal()
        .filter(|_| volume.is_finite() && volume > 0.0)
        .ok_or(NeighborError::SingularLattice)?;
    // How far (in lattice units) the cutoff sphere reaches along each axis.
    let reach = reciprocal.map(|b| cutoff * norm(&b));
    let sites = structure.len() as f64;
    let sphere = 4.0 / 3.0 * std::f64::consts::PI * cutoff.powi(3);
    let pairs = sites * sites * sphere / volume;
    if pairs.is_nan() || pairs > MAX_NEIGHBOR_PAIRS {
        return Err(NeighborError::TooManyPairs {
            cutoff,
            estimate: pairs,
            sites: structure.len(),
            volume,
        });
    }
    let work = sites * sites * (2.0 * reach[0] + 2.0) * (2.0 * reach[1] + 2.0);
    if work.is_nan() || work > MAX_SEARCH_WORK {
        return Err(NeighborError::TooMuchWork {
            cutoff,
            estimate: work,
            sites: structure.len(),
        });
    }
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
    Ok(out)
}
