//! Symmetry images placed as sites: an image within the site tolerance of a site
//! found before it joins that site, otherwise it starts a new one.

use std::collections::HashMap;

use crate::{Element, Occupant, ParseError, Site, MAX_SITES};

/// Fractional distance below which symmetry images are the same site (pymatgen's
/// default `site_tolerance`).
const SITE_TOLERANCE: f64 = 1e-4;

/// Edge of the grid cells (fractional): twice the tolerance, so that two images
/// within it lie in the same or neighbouring cells whatever the rounding.
const CELL: f64 = 2.0 * SITE_TOLERANCE;

/// Cells per axis of the unit cube.
const CELLS: i64 = 5_000;

/// The sites found so far, in order, and the grid cell of each, so that an image is
/// compared only with the sites of its own and the 26 neighbouring cells.
#[derive(Default)]
pub(super) struct Placement {
    sites: Vec<Site>,
    cells: HashMap<[i64; 3], Vec<usize>>,
}

impl Placement {
    /// Places `image` (fractional, in [0, 1)) of an atom site row: the first site
    /// found within the tolerance keeps it (gaining `element` if its label differs
    /// and it lacks that element), or it becomes a new site. Refused when it would
    /// be site `MAX_SITES + 1`.
    pub(super) fn place(
        &mut self,
        image: [f64; 3],
        element: Element,
        occupancy: f64,
        label: &str,
    ) -> Result<(), ParseError> {
        match self.first_close(&image) {
            Some(k) => {
                let site = &mut self.sites[k];
                if site.label != label && site.occupants.iter().all(|o| o.element != element) {
                    site.occupants.push(Occupant { element, occupancy });
                }
            }
            None if self.sites.len() == MAX_SITES => {
                return Err(ParseError::invalid(format!(
                    "more than {MAX_SITES} sites once the symmetry operations are applied \
                     (mmhost's limit)"
                )))
            }
            None => {
                self.cells
                    .entry(cell_of(&image))
                    .or_default()
                    .push(self.sites.len());
                self.sites.push(Site {
                    frac: image,
                    occupants: vec![Occupant { element, occupancy }],
                    label: label.to_string(),
                });
            }
        }
        Ok(())
    }

    /// The sites in the order they were found.
    pub(super) fn into_sites(self) -> Vec<Site> {
        self.sites
    }

    /// Index of the first site found (the lowest) within the tolerance of `image`.
    fn first_close(&self, image: &[f64; 3]) -> Option<usize> {
        let [i, j, k] = cell_of(image);
        let mut first = None;
        for di in -1..=1 {
            for dj in -1..=1 {
                for dk in -1..=1 {
                    let key = [i + di, j + dj, k + dk].map(|c| c.rem_euclid(CELLS));
                    let close = self
                        .cells
                        .get(&key)
                        .into_iter()
                        .flatten()
                        .copied()
                        .filter(|&s| periodic_close(&self.sites[s].frac, image));
                    first = close.chain(first).min();
                }
            }
        }
        first
    }
}

/// The grid cell of fractional coordinates in [0, 1) (a NaN one falls in cell 0;
/// it is close to no site).
fn cell_of(frac: &[f64; 3]) -> [i64; 3] {
    frac.map(|x| ((x / CELL).floor() as i64).rem_euclid(CELLS))
}

/// Whether fractional coordinates lie within the tolerance on every axis,
/// periodic images included.
fn periodic_close(a: &[f64; 3], b: &[f64; 3]) -> bool {
    a.iter().zip(b).all(|(x, y)| {
        let d = (x - y).abs();
        d.min(1.0 - d) < SITE_TOLERANCE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sites of `images` placed one by one, by the grid and by comparing each
    /// with every site before it.
    fn both_ways(images: &[[f64; 3]]) -> (Vec<[f64; 3]>, Vec<[f64; 3]>) {
        let mut placement = Placement::default();
        let mut scanned: Vec<[f64; 3]> = Vec::new();
        for image in images {
            placement
                .place(*image, Element::from_symbol("Na").unwrap(), 1.0, "Na")
                .unwrap();
            if !scanned.iter().any(|s| periodic_close(s, image)) {
                scanned.push(*image);
            }
        }
        let gridded = placement.into_sites().iter().map(|s| s.frac).collect();
        (gridded, scanned)
    }

    #[test]
    fn the_grid_finds_the_sites_a_full_scan_finds() {
        // images near cell edges, across the periodic boundary and at the tolerance
        let mut images = vec![
            [0.0, 0.0, 0.0],
            [0.99995, 0.0, 0.0],
            [0.00005, 0.99999, 0.0],
            [0.5, 0.5, 0.5],
            [0.50009, 0.5, 0.5],
            [0.5002, 0.5, 0.5],
            [0.4999, 0.49995, 0.5],
        ];
        // 1,500 pseudo-random images around 300 points, each moved by up to ±0.8
        // tolerance per axis: copies merge or not depending on the order they come in
        let mut x = 0.123_f64;
        let mut next = || {
            x = (x * 9301.0 + 0.4929).fract();
            x
        };
        let points: Vec<[f64; 3]> = (0..300).map(|_| [next(), next(), next()]).collect();
        for k in 0..1500 {
            let jitter = [next(), next(), next()].map(|r| (r - 0.5) * 1.6 * SITE_TOLERANCE);
            let image = [0, 1, 2].map(|a| (points[k % 300][a] + jitter[a]).rem_euclid(1.0));
            images.push(image);
        }
        let (gridded, scanned) = both_ways(&images);
        assert_eq!(gridded, scanned);
        assert!(gridded.len() > 300 && gridded.len() < images.len());
    }

    #[test]
    fn the_site_after_the_limit_is_refused() {
        let mut placement = Placement::default();
        let na = Element::from_symbol("Na").unwrap();
        for k in 0..MAX_SITES {
            let image = [k as f64 / MAX_SITES as f64, 0.0, 0.0];
            placement.place(image, na, 1.0, "Na").unwrap();
        }
        // an image of a site found before is still placed
        placement.place([0.0, 0.0, 0.0], na, 1.0, "Na").unwrap();
        let refused = placement.place([0.0, 0.5, 0.0], na, 1.0, "Na").unwrap_err();
        assert!(
            refused.to_string().contains("more than 2000 sites"),
            "{refused}"
        );
    }
}
