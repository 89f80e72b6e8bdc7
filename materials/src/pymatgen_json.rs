//! pymatgen `Structure.as_dict()` JSON (also inside Materials Project documents).

use serde_json::Value;

use crate::{Element, Lattice, Occupant, ParseError, Site, Structure};

/// A structure from a pymatgen `Structure` dictionary.
pub fn structure_from_pymatgen(value: &Value) -> Result<Structure, ParseError> {
    let matrix = value
        .pointer("/lattice/matrix")
        .and_then(Value::as_array)
        .ok_or_else(|| ParseError::invalid("structure has no lattice.matrix"))?;
    let row = |v: &Value, what: &str| -> Result<[f64; 3], ParseError> {
        let items = v.as_array().filter(|a| a.len() == 3);
        let items =
            items.ok_or_else(|| ParseError::invalid(format!("{what} is not three numbers")))?;
        let mut out = [0.0; 3];
        for (o, x) in out.iter_mut().zip(items) {
            *o = x
                .as_f64()
                .ok_or_else(|| ParseError::invalid(format!("{what} holds a non-number")))?;
        }
        Ok(out)
    };
    if matrix.len() != 3 {
        return Err(ParseError::invalid("lattice.matrix is not 3×3"));
    }
    let lattice = Lattice::new([
        row(&matrix[0], "lattice.matrix[0]")?,
        row(&matrix[1], "lattice.matrix[1]")?,
        row(&matrix[2], "lattice.matrix[2]")?,
    ]);
    let sites = value
        .get("sites")
        .and_then(Value::as_array)
        .ok_or_else(|| ParseError::invalid("structure has no sites"))?;
    let mut out = Vec::with_capacity(sites.len());
    for (i, site) in sites.iter().enumerate() {
        let what = format!("site {i}");
        let frac = row(
            site.get("abc").unwrap_or(&Value::Null),
            &format!("{what} abc"),
        )?;
        let species = site
            .get("species")
            .and_then(Value::as_array)
            .ok_or_else(|| ParseError::invalid(format!("{what} has no species")))?;
        let occupants = species
            .iter()
            .map(|s| {
                let name = s.get("element").and_then(Value::as_str).unwrap_or("");
                let element = Element::from_label(name).ok_or_else(|| {
                    ParseError::invalid(format!("{what}: unknown element '{name}'"))
                })?;
                let occupancy = s.get("occu").and_then(Value::as_f64).unwrap_or(1.0);
                Ok(Occupant { element, occupancy })
            })
            .collect::<Result<Vec<_>, ParseError>>()?;
        if occupants.is_empty() {
            return Err(ParseError::invalid(format!("{what} has no species")));
        }
        let label = site
            .get("label")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| occupants[0].element.symbol().to_string());
        out.push(Site {
            frac,
            occupants,
            label,
        });
    }
    Ok(Structure {
        lattice,
        sites: out,
    })
}

/// The pymatgen `Structure.as_dict()` form of a structure (lattice matrix, sites with
/// species/occupancies, fractional `abc` and Cartesian `xyz`, labels).
pub fn structure_to_pymatgen(structure: &Structure) -> Value {
    let sites: Vec<Value> = structure
        .sites
        .iter()
        .map(|site| {
            let species: Vec<Value> = site
                .occupants
                .iter()
                .map(|o| serde_json::json!({"element": o.element.symbol(), "occu": o.occupancy}))
                .collect();
            serde_json::json!({
                "species": species,
                "abc": site.frac,
                "xyz": structure.lattice.to_cartesian(&site.frac),
                "label": site.label,
                "properties": {},
            })
        })
        .collect();
    serde_json::json!({
        "@module": "pymatgen.core.structure",
        "@class": "Structure",
        "charge": 0.0,
        "lattice": {"matrix": structure.lattice.matrix, "pbc": [true, true, true]},
        "sites": sites,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read_poscar;

    #[test]
    fn round_trip() {
        let (s, _) = read_poscar("NaCl\n1.0\n0 2.82 2.82\n2.82 0 2.82\n2.82 2.82 0\nNa Cl\n1 1\nDirect\n0 0 0\n0.5 0.5 0.5\n").unwrap();
        assert_eq!(
            structure_from_pymatgen(&structure_to_pymatgen(&s)).unwrap(),
            s
        );
    }
}
