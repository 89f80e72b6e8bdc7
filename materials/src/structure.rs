//! Crystal structures: a lattice and sites with (possibly mixed) occupancy.

use crate::{Element, Lattice};

/// One species on a site with its occupancy (1 for an ordered site).
#[derive(Clone, Debug, PartialEq)]
pub struct Occupant {
    pub element: Element,
    pub occupancy: f64,
}

/// A site: fractional coordinates, the species on it and a label.
#[derive(Clone, Debug, PartialEq)]
pub struct Site {
    /// Fractional coordinates in the lattice basis.
    pub frac: [f64; 3],
    /// Species and occupancies; one occupant of occupancy 1 for ordered sites.
    pub occupants: Vec<Occupant>,
    /// The site label from the file (`Fe1`), or the element symbol.
    pub label: String,
}

impl Site {
    /// An ordered site of `element` at `frac`.
    pub fn ordered(element: Element, frac: [f64; 3], label: impl Into<String>) -> Self {
        Self {
            frac,
            occupants: vec![Occupant {
                element,
                occupancy: 1.0,
            }],
            label: label.into(),
        }
    }

    /// Whether one species fully occupies the site.
    pub fn is_ordered(&self) -> bool {
        self.occupants.len() == 1 && (self.occupants[0].occupancy - 1.0).abs() < 1e-6
    }

    /// The majority species (the only one on an ordered site).
    pub fn element(&self) -> Element {
        self.occupants
            .iter()
            .max_by(|a, b| a.occupancy.total_cmp(&b.occupancy))
            .map(|o| o.element)
            .expect("a site has at least one occupant")
    }
}

/// A periodic crystal structure.
#[derive(Clone, Debug, PartialEq)]
pub struct Structure {
    pub lattice: Lattice,
    pub sites: Vec<Site>,
}

impl Structure {
    /// Number of sites.
    pub fn len(&self) -> usize {
        self.sites.len()
    }

    /// Whether the structure has no sites.
    pub fn is_empty(&self) -> bool {
        self.sites.is_empty()
    }

    /// Whether every site is fully occupied by one species.
    pub fn is_ordered(&self) -> bool {
        self.sites.iter().all(Site::is_ordered)
    }

    /// The sites with partial or mixed occupancy, described for a report:
    /// `Fe1 at (0.5, 0.5, 0): Fe 0.5 + Co 0.5`.
    pub fn disorder_report(&self) -> Vec<String> {
        self.sites
            .iter()
            .filter(|s| !s.is_ordered())
            .map(|s| {
                let occupants: Vec<String> = s
                    .occupants
                    .iter()
                    .map(|o| format!("{} {}", o.element, o.occupancy))
                    .collect();
                format!(
                    "{} at ({}, {}, {}): {}",
                    s.label,
                    s.frac[0],
                    s.frac[1],
                    s.frac[2],
                    occupants.join(" + ")
                )
            })
            .collect()
    }

    /// Cartesian coordinates (Å) of site `i`.
    pub fn cartesian(&self, i: usize) -> [f64; 3] {
        self.lattice.to_cartesian(&self.sites[i].frac)
    }

    /// The chemical formula, elements in order of first appearance: `Ga4Te4`, or
    /// `GaTe` when `reduced` (fractional occupancies are written with 3 decimals).
    pub fn formula(&self, reduced: bool) -> String {
        let composition = self.composition();
        let whole = composition
            .iter()
            .all(|(_, n)| (n - n.round()).abs() < 1e-6);
        let divisor = if reduced && whole {
            composition
                .iter()
                .map(|(_, n)| n.round() as u64)
                .fold(0, gcd)
                .max(1) as f64
        } else {
            1.0
        };
        composition
            .iter()
            .map(|(e, n)| {
                let n = n / divisor;
                if (n - 1.0).abs() < 1e-6 {
                    e.symbol().to_string()
                } else if (n - n.round()).abs() < 1e-6 {
                    format!("{}{}", e.symbol(), n.round() as u64)
                } else {
                    format!("{}{:.3}", e.symbol(), n)
                }
            })
            .collect()
    }

    /// Reduced formula-style composition in site order of first appearance with
    /// counts, e.g. `Ga4 Te4` (occupancies summed).
    pub fn composition(&self) -> Vec<(Element, f64)> {
        let mut out: Vec<(Element, f64)> = Vec::new();
        for site in &self.sites {
            for o in &site.occupants {
                match out.iter_mut().find(|(e, _)| *e == o.element) {
                    Some((_, n)) => *n += o.occupancy,
                    None => out.push((o.element, o.occupancy)),
                }
            }
        }
        out
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}
