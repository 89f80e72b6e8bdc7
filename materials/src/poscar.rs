//! VASP POSCAR/CONTCAR reading (VASP 5 with a species line; VASP 4 with the
//! species in the comment line).

use crate::{text_lines::bounded_lines, Element, Lattice, ParseError, Site, Structure, MAX_SITES};

/// Reads a POSCAR/CONTCAR. Also returns the comment (first) line.
pub fn read_poscar(text: &str) -> Result<(Structure, String), ParseError> {
    let lines = bounded_lines(text)?;
    let line = |i: usize| -> Result<&str, ParseError> {
        lines
            .get(i)
            .copied()
            .ok_or_else(|| ParseError::at(i + 1, "file ends early"))
    };
    let numbers = |i: usize, count: usize| -> Result<Vec<f64>, ParseError> {
        let values: Result<Vec<f64>, _> = line(i)?
            .split_whitespace()
            .take(count)
            .map(str::parse)
            .collect();
        match values {
            Ok(v) if v.len() == count => Ok(v),
            _ => Err(ParseError::at(i + 1, format!("expected {count} numbers"))),
        }
    };
    let comment = line(0)?.trim().to_string();
    let scale = numbers(1, 1)?[0];
    let mut matrix = [[0.0; 3]; 3];
    for (row, vector) in matrix.iter_mut().enumerate() {
        let v = numbers(2 + row, 3)?;
        *vector = [v[0], v[1], v[2]];
    }
    let unscaled = Lattice::new(matrix);
    let factor = if scale < 0.0 {
        // A negative scale is the target volume.
        (-scale / unscaled.volume()).cbrt()
    } else {
        scale
    };
    let lattice = Lattice::new(matrix.map(|v| v.map(|x| x * factor)));

    // Species line (VASP 5) or counts directly (VASP 4).
    let mut next = 5;
    let first: Vec<&str> = line(next)?.split_whitespace().collect();
    let symbols: Vec<String> = if first.iter().all(|t| t.parse::<usize>().is_ok()) {
        comment.split_whitespace().map(str::to_string).collect()
    } else {
        next += 1;
        first.iter().map(|s| s.to_string()).collect()
    };
    let counts: Vec<usize> = line(next)?
        .split_whitespace()
        .map_while(|t| t.parse().ok())
        .collect();
    if counts.is_empty() {
        return Err(ParseError::at(next + 1, "expected the atom counts"));
    }
    let total = counts.iter().try_fold(0usize, |n, &c| n.checked_add(c));
    if total.is_none_or(|n| n > MAX_SITES) {
        return Err(ParseError::at(
            next + 1,
            format!(
                "{} atom counts sum to more than the limit of {MAX_SITES} sites",
                counts.len()
            ),
        ));
    }
    if symbols.len() < counts.len() {
        return Err(ParseError::at(
            next + 1,
            format!(
                "{} atom counts but {} species names (VASP 4 files need the species in the comment line)",
                counts.len(),
                symbols.len()
            ),
        ));
    }
    let elements: Vec<Element> = symbols[..counts.len()]
        .iter()
        .map(|s| {
            // Names like "Fe_pv" or "Fe/abc123" come from POTCAR labels.
            let name = s.split(['_', '/']).next().unwrap_or(s);
            Element::from_symbol(name)
                .ok_or_else(|| ParseError::at(next, format!("unknown element '{s}'")))
        })
        .collect::<Result<_, _>>()?;
    next += 1;
    if line(next)?
        .trim_start()
        .to_ascii_lowercase()
        .starts_with('s')
    {
        next += 1; // Selective dynamics
    }
    let mode = line(next)?.trim_start().to_ascii_lowercase();
    let cartesian = mode.starts_with('c') || mode.starts_with('k');
    next += 1;
    let mut sites = Vec::new();
    for (element, &count) in elements.iter().zip(&counts) {
        for _ in 0..count {
            let v = numbers(next, 3)?;
            let frac = if cartesian {
                let cart = [v[0] * factor, v[1] * factor, v[2] * factor];
                lattice
                    .to_fractional(&cart)
                    .ok_or_else(|| ParseError::invalid("the lattice is singular"))?
            } else {
                [v[0], v[1], v[2]]
            };
            sites.push(Site::ordered(*element, frac, element.symbol()));
            next += 1;
        }
    }
    if lattice.volume() < 1e-6 {
        return Err(ParseError::invalid("the lattice has zero volume"));
    }
    Ok((Structure { lattice, sites }, comment))
}

#[cfg(test)]
mod tests {
    use super::read_poscar;

    const NACL: &str = "NaCl rocksalt\n1.0\n0 2.82 2.82\n2.82 0 2.82\n2.82 2.82 0\nNa Cl\n1 1\nDirect\n0 0 0\n0.5 0.5 0.5\n";

    #[test]
    fn reads_vasp5_and_vasp4() {
        let (s, comment) = read_poscar(NACL).unwrap();
        assert_eq!(comment, "NaCl rocksalt");
        assert_eq!(s.len(), 2);
        assert_eq!(s.sites[1].element().symbol(), "Cl");
        assert!((s.lattice.volume() - 2.0 * 2.82f64.powi(3)).abs() < 1e-9);
        let vasp4 = "Na Cl\n1.0\n0 2.82 2.82\n2.82 0 2.82\n2.82 2.82 0\n1 1\nCartesian\n0 0 0\n2.82 2.82 2.82\n";
        let (s4, _) = read_poscar(vasp4).unwrap();
        assert!(s4.sites[1].frac.iter().all(|x| (x - 0.5).abs() < 1e-12));
    }

    #[test]
    fn negative_scale_is_a_volume_and_errors_name_the_line() {
        let text = NACL.replacen("1.0", "-100.0", 1);
        let (s, _) = read_poscar(&text).unwrap();
        assert!((s.lattice.volume() - 100.0).abs() < 1e-9);
        let err = read_poscar("x\n1.0\n1 0 0\n0 1\n").unwrap_err();
        assert_eq!(err.to_string(), "line 4: expected 3 numbers");
        let err = read_poscar(&NACL.replace("Na Cl", "Na Qq")).unwrap_err();
        assert!(err.to_string().contains("unknown element 'Qq'"), "{err}");
    }
}
