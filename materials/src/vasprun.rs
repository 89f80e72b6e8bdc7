//! The final structure of a VASP `vasprun.xml` (its DOS is read by
//! [`read_vasprun_dos`](crate::read_vasprun_dos)).

use crate::{
    dos::{element_bodies, section},
    Element, Lattice, ParseError, Site, Structure, MAX_SITES,
};

/// Reads the `finalpos` structure of a vasprun.xml: the lattice (`basis`, Å), the
/// fractional `positions`, and the elements of the `atoms` array.
pub fn read_vasprun_structure(text: &str) -> Result<Structure, ParseError> {
    let structure = section(text, "<structure name=\"finalpos\"", "</structure>")
        .ok_or_else(|| ParseError::invalid("vasprun.xml has no final structure (finalpos)"))?;
    let basis = section(structure, "<varray name=\"basis\"", "</varray>")
        .ok_or_else(|| ParseError::invalid("finalpos has no lattice basis"))?;
    let rows = vectors(basis, "basis")?;
    let [a, b, c] = rows.as_slice() else {
        return Err(ParseError::invalid(format!(
            "finalpos basis has {} vectors, expected 3",
            rows.len()
        )));
    };
    let positions = section(structure, "<varray name=\"positions\"", "</varray>")
        .ok_or_else(|| ParseError::invalid("finalpos has no positions"))?;
    let positions = vectors(positions, "positions")?;
    let atoms = section(text, "<array name=\"atoms\"", "</array>")
        .ok_or_else(|| ParseError::invalid("vasprun.xml has no atoms array"))?;
    let elements: Vec<&str> = atoms
        .split("<rc>")
        .skip(1)
        .take(MAX_SITES + 1)
        .map(|row| section(row, "<c>", "</c>").unwrap_or("").trim())
        .collect();
    if elements.len() > MAX_SITES {
        return Err(ParseError::invalid(format!(
            "more than {MAX_SITES} atoms, mmhost's limit"
        )));
    }
    if elements.len() != positions.len() {
        return Err(ParseError::invalid(format!(
            "{} atoms but {} positions",
            elements.len(),
            positions.len()
        )));
    }
    let sites = elements
        .iter()
        .zip(positions)
        .map(|(symbol, frac)| {
            let element = Element::from_symbol(symbol)
                .ok_or_else(|| ParseError::invalid(format!("unknown element '{symbol}'")))?;
            Ok(Site::ordered(element, frac, *symbol))
        })
        .collect::<Result<Vec<_>, ParseError>>()?;
    Ok(Structure {
        lattice: Lattice::new([*a, *b, *c]),
        sites,
    })
}

/// The `<v>` rows of a varray, three numbers each; refused beyond [`MAX_SITES`] rows.
fn vectors(varray: &str, what: &str) -> Result<Vec<[f64; 3]>, ParseError> {
    let rows = element_bodies(varray, "v", MAX_SITES)
        .map_err(|n| ParseError::invalid(format!("{what}: more than {n} rows, mmhost's limit")))?;
    rows.into_iter()
        .map(|body| {
            let numbers: Vec<f64> = body
                .split_whitespace()
                .map(str::parse)
                .collect::<Result<_, _>>()
                .map_err(|_| {
                    ParseError::invalid(format!("{what} row '{}' is not numeric", body.trim()))
                })?;
            <[f64; 3]>::try_from(numbers).map_err(|numbers| {
                ParseError::invalid(format!(
                    "{what} row has {} numbers, expected 3",
                    numbers.len()
                ))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_final_structure_of_a_real_vasprun() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/data/samples/dos/Fe2_vasprun.xml"
        );
        let text = std::fs::read_to_string(path).expect("Fe2_vasprun.xml");
        let structure = read_vasprun_structure(&text).expect("structure");
        assert_eq!(structure.len(), 2);
        assert_eq!(structure.formula(true), "Fe");
        assert!((structure.lattice.volume() - 21.952).abs() < 1e-6);
        assert_eq!(structure.sites[1].frac, [0.5, 0.5, 0.5]);
    }
}
