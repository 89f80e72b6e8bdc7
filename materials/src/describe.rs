//! Plain-text descriptions of crystal structures (formula, symmetry, lattice, and
//! the coordination of each symmetry-distinct site), for materials without one.

use std::fmt::Write;

use crate::{all_neighbors, space_group, Element, ParseError, Structure};

/// Neighbours within this factor of a site's nearest-neighbour distance are bonded.
const BOND_TOLERANCE: f64 = 1.15;
/// Radius searched for neighbours, Å.
const SEARCH_RADIUS: f64 = 6.0;

/// A paragraph describing `structure` (symmetry found with `symprec` = 0.1 Å).
pub fn describe(structure: &Structure) -> Result<String, ParseError> {
    let symmetry = space_group(structure, 0.1)?;
    let mut text = String::new();
    let reduced = structure.formula(true);
    let full = structure.formula(false);
    let formula = if reduced == full {
        reduced
    } else {
        format!("{reduced} ({full})")
    };
    let _ = writeln!(
        text,
        "{formula} crystallizes in the {} {} space group (No. {}).",
        symmetry.crystal_system, symmetry.symbol, symmetry.number
    );
    let [a, b, c] = structure.lattice.lengths();
    let [alpha, beta, gamma] = structure.lattice.angles();
    let _ = writeln!(
        text,
        "Lattice: a = {a:.3} Å, b = {b:.3} Å, c = {c:.3} Å; α = {alpha:.2}°, β = {beta:.2}°, γ = {gamma:.2}°; volume {:.2} Å³; {} site{}.",
        structure.lattice.volume(),
        structure.len(),
        if structure.len() == 1 { "" } else { "s" }
    );
    let neighbors =
        all_neighbors(structure, SEARCH_RADIUS).map_err(|e| ParseError::invalid(e.to_string()))?;
    for (site, &orbit) in symmetry.orbits.iter().enumerate() {
        if orbit != site {
            continue;
        }
        let multiplicity = symmetry.orbits.iter().filter(|&&o| o == orbit).count();
        let element = structure.sites[site].element();
        let list = &neighbors[site];
        let _ = write!(
            text,
            "{element} (Wyckoff position {}, {multiplicity} equivalent site{} in the cell)",
            symmetry.wyckoffs.get(site).copied().unwrap_or('?'),
            if multiplicity == 1 { "" } else { "s" }
        );
        let Some(nearest) = list.first().map(|n| n.distance) else {
            let _ = writeln!(text, " has no neighbour within {SEARCH_RADIUS} Å.");
            continue;
        };
        let bonded: Vec<_> = list
            .iter()
            .filter(|n| n.distance <= nearest * BOND_TOLERANCE)
            .collect();
        // Group bonds by neighbour species, in order of first (shortest) bond.
        let mut groups: Vec<(Element, Vec<f64>)> = Vec::new();
        for n in &bonded {
            let e = structure.sites[n.index].element();
            match groups.iter_mut().find(|(g, _)| *g == e) {
                Some((_, d)) => d.push(n.distance),
                None => groups.push((e, vec![n.distance])),
            }
        }
        let parts: Vec<String> = groups
            .iter()
            .map(|(e, d)| {
                let (lo, hi) = (d[0], d[d.len() - 1]);
                let range = if hi - lo < 0.005 {
                    format!("{lo:.2} Å")
                } else {
                    format!("{lo:.2}–{hi:.2} Å")
                };
                format!("{} {e} at {range}", d.len())
            })
            .collect();
        let _ = writeln!(
            text,
            " is {}-coordinate: bonded to {}.",
            bonded.len(),
            join_and(&parts)
        );
    }
    Ok(text)
}

fn join_and(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::describe;
    use crate::read_poscar;

    #[test]
    fn rocksalt() {
        let (s, _) = read_poscar("NaCl\n1.0\n0 2.82 2.82\n2.82 0 2.82\n2.82 2.82 0\nNa Cl\n1 1\nDirect\n0 0 0\n0.5 0.5 0.5\n").unwrap();
        let text = describe(&s).unwrap();
        assert!(
            text.starts_with("NaCl crystallizes in the cubic Fm-3m space group (No. 225)."),
            "{text}"
        );
        assert!(text.contains("Na (Wyckoff position a, 1 equivalent site in the cell) is 6-coordinate: bonded to 6 Cl at 2.82 Å."), "{text}");
        assert!(text.contains("Cl (Wyckoff position b, 1 equivalent site in the cell) is 6-coordinate: bonded to 6 Na at 2.82 Å."), "{text}");
    }
}
