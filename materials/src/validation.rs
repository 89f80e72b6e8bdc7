//! What a structure must be before mmhost stores, featurizes or embeds it: one check
//! used by import, the featurizers (so `predict`, `embed`, `retrieve --input` and
//! `describe` too), with the limits that bound the work any input can ask for.

use thiserror::Error;

use crate::{all_neighbors, NeighborError, Structure};

/// Most sites a structure may have. PotNet's lattice sums grow with the square of
/// the sites; the largest Materials Project cells have a few hundred.
pub const MAX_SITES: usize = 2_000;

/// Longest lattice vector a cell may have, Å: the largest real unit cells (proteins,
/// MOFs) stay below a few hundred Å.
pub const MAX_LATTICE_LENGTH: f64 = 1_000.0;

/// Closest two sites may be, Å (pymatgen's `Structure.is_valid` tolerance); also the
/// smallest spacing between lattice planes a cell may have.
pub const MIN_SITE_DISTANCE: f64 = 0.5;

/// Why a structure is refused.
#[derive(Clone, Debug, Error, PartialEq)]
pub enum InvalidStructure {
    /// No sites at all.
    #[error("the structure has no sites")]
    NoSites,
    /// More sites than [`MAX_SITES`].
    #[error("{0} sites, more than mmhost's limit of {MAX_SITES}")]
    TooManySites(usize),
    /// A lattice vector with an infinite or NaN component.
    #[error("lattice vector {vector} is not finite: {values:?} Å")]
    NonFiniteLattice {
        /// `a`, `b` or `c`.
        vector: char,
        values: [f64; 3],
    },
    /// A lattice vector longer than [`MAX_LATTICE_LENGTH`].
    #[error("lattice vector {vector} is {length:.3e} Å long, more than the limit of {MAX_LATTICE_LENGTH} Å")]
    LatticeTooLong { vector: char, length: f64 },
    /// Zero volume, or lattice planes closer than [`MIN_SITE_DISTANCE`].
    #[error(
        "the lattice is degenerate: volume {volume:.3e} Å³, smallest spacing between \
         lattice planes {spacing:.3e} Å (at least {MIN_SITE_DISTANCE} Å needed)"
    )]
    DegenerateLattice { volume: f64, spacing: f64 },
    /// A site whose fractional coordinates are infinite or NaN.
    #[error("site {site} ({label}) has non-finite fractional coordinates {frac:?}")]
    NonFiniteSite {
        site: usize,
        label: String,
        frac: [f64; 3],
    },
    /// A site whose occupancy is not in (0, 1].
    #[error("site {site} ({label}) has occupancy {occupancy}, outside (0, 1]")]
    BadOccupancy {
        site: usize,
        label: String,
        occupancy: f64,
    },
    /// Two sites (or a site and its own periodic image) closer than
    /// [`MIN_SITE_DISTANCE`].
    #[error(
        "sites {first} ({first_label}) and {second} ({second_label}) are {distance:.3} Å \
         apart, closer than {MIN_SITE_DISTANCE} Å"
    )]
    SitesTooClose {
        first: usize,
        first_label: String,
        second: usize,
        second_label: String,
        distance: f64,
    },
    /// The neighbour search the check needs was refused.
    #[error(transparent)]
    Neighbors(#[from] NeighborError),
}

/// Checks `structure`: between 1 and [`MAX_SITES`] sites; a finite lattice, no
/// vector longer than [`MAX_LATTICE_LENGTH`], with a
/// volume and lattice planes at least [`MIN_SITE_DISTANCE`] apart; finite
/// coordinates; occupancies in (0, 1]; no two sites (periodic images included)
/// closer than [`MIN_SITE_DISTANCE`]. Elements are known by construction.
pub fn validate_structure(structure: &Structure) -> Result<(), InvalidStructure> {
    if structure.is_empty() {
        return Err(InvalidStructure::NoSites);
    }
    if structure.len() > MAX_SITES {
        return Err(InvalidStructure::TooManySites(structure.len()));
    }
    for (vector, values) in ['a', 'b', 'c'].into_iter().zip(structure.lattice.matrix) {
        if values.iter().any(|v| !v.is_finite()) {
            return Err(InvalidStructure::NonFiniteLattice { vector, values });
        }
        let length = values.iter().map(|v| v * v).sum::<f64>().sqrt();
        if length.is_nan() || length > MAX_LATTICE_LENGTH {
            return Err(InvalidStructure::LatticeTooLong { vector, length });
        }
    }
    let volume = structure.lattice.volume();
    let spacing = structure.lattice.reciprocal().map_or(0.0, |reciprocal| {
        reciprocal
            .iter()
            .map(|b| 1.0 / b.iter().map(|x| x * x).sum::<f64>().sqrt())
            .fold(f64::INFINITY, f64::min)
    });
    let flat = volume.is_nan() || volume <= 0.0 || spacing.is_nan() || spacing < MIN_SITE_DISTANCE;
    if flat {
        return Err(InvalidStructure::DegenerateLattice { volume, spacing });
    }
    for (i, site) in structure.sites.iter().enumerate() {
        if site.frac.iter().any(|x| !x.is_finite()) {
            return Err(InvalidStructure::NonFiniteSite {
                site: i,
                label: site.label.clone(),
                frac: site.frac,
            });
        }
        if let Some(occupant) = site
            .occupants
            .iter()
            .find(|o| !(o.occupancy > 0.0 && o.occupancy <= 1.0 + 1e-6))
        {
            return Err(InvalidStructure::BadOccupancy {
                site: i,
                label: site.label.clone(),
                occupancy: occupant.occupancy,
            });
        }
    }
    let lists = all_neighbors(structure, MIN_SITE_DISTANCE)?;
    for (i, list) in lists.iter().enumerate() {
        if let Some(neighbor) = list.iter().find(|n| n.distance < MIN_SITE_DISTANCE) {
            return Err(InvalidStructure::SitesTooClose {
                first: i,
                first_label: structure.sites[i].label.clone(),
                second: neighbor.index,
                second_label: structure.sites[neighbor.index].label.clone(),
                distance: neighbor.distance,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Element, Lattice, Site};

    fn cubic(a: f64, fracs: &[[f64; 3]]) -> Structure {
        let na = Element::from_symbol("Na").unwrap();
        Structure {
            lattice: Lattice::from_parameters(a, a, a, 90.0, 90.0, 90.0),
            sites: fracs
                .iter()
                .map(|&frac| Site::ordered(na, frac, "Na"))
                .collect(),
        }
    }

    #[test]
    fn a_real_cell_passes() {
        assert_eq!(
            validate_structure(&cubic(4.2, &[[0.0; 3], [0.5; 3]])),
            Ok(())
        );
    }

    #[test]
    fn each_kind_of_broken_structure_is_refused_with_its_reason() {
        let stacked = validate_structure(&cubic(1.0, &[[0.0; 3], [0.0; 3], [0.0; 3]]));
        assert!(
            matches!(stacked, Err(InvalidStructure::SitesTooClose { distance, .. }) if distance < 1e-9),
            "{stacked:?}"
        );
        let huge = validate_structure(&cubic(1e300, &[[0.0; 3]]));
        assert!(
            matches!(
                huge,
                Err(InvalidStructure::LatticeTooLong { vector: 'a', .. })
            ),
            "{huge:?}"
        );
        let infinite = validate_structure(&cubic(1e300 * 1e10, &[[0.0; 3]]));
        assert!(
            matches!(
                infinite,
                Err(InvalidStructure::NonFiniteLattice { vector: 'a', .. })
            ),
            "{infinite:?}"
        );
        let nan = validate_structure(&cubic(f64::NAN, &[[0.0; 3]]));
        assert!(
            matches!(nan, Err(InvalidStructure::NonFiniteLattice { .. })),
            "{nan:?}"
        );
        let thin = validate_structure(&cubic(0.1, &[[0.0; 3]]));
        assert!(
            matches!(thin, Err(InvalidStructure::DegenerateLattice { .. })),
            "{thin:?}"
        );
        let lost = validate_structure(&cubic(4.0, &[[f64::NAN, 0.0, 0.0]]));
        assert!(
            matches!(lost, Err(InvalidStructure::NonFiniteSite { site: 0, .. })),
            "{lost:?}"
        );
        assert_eq!(
            validate_structure(&cubic(4.0, &[])),
            Err(InvalidStructure::NoSites)
        );
        let crowded: Vec<[f64; 3]> = (0..=MAX_SITES).map(|_| [0.0; 3]).collect();
        assert_eq!(
            validate_structure(&cubic(40.0, &crowded)),
            Err(InvalidStructure::TooManySites(MAX_SITES + 1))
        );
    }
}
