//! Chemical elements by atomic number.

use std::fmt;

/// Element symbols, index = atomic number − 1 (H … Og).
const SYMBOLS: [&str; 118] = [
    "H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne", "Na", "Mg", "Al", "Si", "P", "S", "Cl",
    "Ar", "K", "Ca", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Ge", "As",
    "Se", "Br", "Kr", "Rb", "Sr", "Y", "Zr", "Nb", "Mo", "Tc", "Ru", "Rh", "Pd", "Ag", "Cd", "In",
    "Sn", "Sb", "Te", "I", "Xe", "Cs", "Ba", "La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb",
    "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Hf", "Ta", "W", "Re", "Os", "Ir", "Pt", "Au", "Hg", "Tl",
    "Pb", "Bi", "Po", "At", "Rn", "Fr", "Ra", "Ac", "Th", "Pa", "U", "Np", "Pu", "Am", "Cm", "Bk",
    "Cf", "Es", "Fm", "Md", "No", "Lr", "Rf", "Db", "Sg", "Bh", "Hs", "Mt", "Ds", "Rg", "Cn", "Nh",
    "Fl", "Mc", "Lv", "Ts", "Og",
];

/// A chemical element, stored as its atomic number (1–118).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Element(u8);

impl Element {
    /// The element of atomic number `z`, if 1 ≤ z ≤ 118.
    pub fn from_z(z: u32) -> Option<Self> {
        (1..=118).contains(&z).then_some(Self(z as u8))
    }

    /// The element whose symbol is `symbol` (case-sensitive first letter, as written
    /// in CIF/POSCAR: `Fe`). Trailing charges or labels are not stripped here.
    pub fn from_symbol(symbol: &str) -> Option<Self> {
        SYMBOLS
            .iter()
            .position(|s| *s == symbol)
            .map(|i| Self(i as u8 + 1))
    }

    /// Parses the element at the start of a CIF type symbol or site label:
    /// `Fe2+` → Fe, `O1` → O, `Ca0` → Ca, `CL` → Cl. Two-letter symbols win over
    /// one-letter ones.
    pub fn from_label(label: &str) -> Option<Self> {
        let letters: String = label
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        let normalized = |s: &str| -> String {
            let mut chars = s.chars();
            match chars.next() {
                Some(first) => {
                    first.to_ascii_uppercase().to_string() + &chars.as_str().to_ascii_lowercase()
                }
                None => String::new(),
            }
        };
        if letters.len() >= 2 {
            if let Some(e) = Self::from_symbol(&normalized(&letters[..2])) {
                return Some(e);
            }
        }
        letters
            .get(..1)
            .and_then(|first| Self::from_symbol(&normalized(first)))
    }

    /// Atomic number.
    pub fn z(self) -> u32 {
        u32::from(self.0)
    }

    /// Chemical symbol.
    pub fn symbol(self) -> &'static str {
        SYMBOLS[usize::from(self.0) - 1]
    }
}

impl fmt::Display for Element {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

#[cfg(test)]
mod tests {
    use super::Element;

    #[test]
    fn symbols_and_labels() {
        assert_eq!(Element::from_symbol("Fe").unwrap().z(), 26);
        assert_eq!(Element::from_z(118).unwrap().symbol(), "Og");
        assert_eq!(Element::from_label("Fe2+").unwrap().symbol(), "Fe");
        assert_eq!(Element::from_label("O1").unwrap().symbol(), "O");
        assert_eq!(Element::from_label("CL3").unwrap().symbol(), "Cl");
        assert_eq!(Element::from_label("Os1").unwrap().symbol(), "Os");
        assert_eq!(Element::from_label("Co").unwrap().symbol(), "Co");
        assert!(Element::from_label("Xx").is_none());
        assert!(Element::from_z(0).is_none());
    }
}
