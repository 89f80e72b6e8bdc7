//! Space group and crystal system of a structure (moyo, spglib's algorithms in Rust).

use std::fmt;

use moyo::{
    base::{AngleTolerance, Cell, Lattice as MoyoLattice},
    data::Setting,
    MoyoDataset,
};
use nalgebra::Vector3;

use crate::{ParseError, Structure};

/// The seven crystal systems.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CrystalSystem {
    Triclinic,
    Monoclinic,
    Orthorhombic,
    Tetragonal,
    Trigonal,
    Hexagonal,
    Cubic,
}

impl CrystalSystem {
    /// The crystal system of space group `number` (1–230).
    pub fn of_space_group(number: u32) -> Option<Self> {
        Some(match number {
            1..=2 => Self::Triclinic,
            3..=15 => Self::Monoclinic,
            16..=74 => Self::Orthorhombic,
            75..=142 => Self::Tetragonal,
            143..=167 => Self::Trigonal,
            168..=194 => Self::Hexagonal,
            195..=230 => Self::Cubic,
            _ => return None,
        })
    }

    /// Lower-case name (`cubic`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Triclinic => "triclinic",
            Self::Monoclinic => "monoclinic",
            Self::Orthorhombic => "orthorhombic",
            Self::Tetragonal => "tetragonal",
            Self::Trigonal => "trigonal",
            Self::Hexagonal => "hexagonal",
            Self::Cubic => "cubic",
        }
    }
}

impl fmt::Display for CrystalSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A structure's space group and its symmetry-distinct sites.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpaceGroup {
    /// International Tables number, 1–230.
    pub number: u32,
    /// Hermann–Mauguin symbol, short (`Fd-3m`).
    pub symbol: String,
    pub crystal_system: CrystalSystem,
    /// For each site, the index of the first site equivalent to it.
    pub orbits: Vec<usize>,
    /// Wyckoff letter of each site.
    pub wyckoffs: Vec<char>,
}

/// The space group of `structure` with tolerance `symprec` (Å; pymatgen's
/// `SpacegroupAnalyzer` default is 0.01, Materials Project uses 0.1). Disordered
/// sites count as their majority species.
pub fn space_group(structure: &Structure, symprec: f64) -> Result<SpaceGroup, ParseError> {
    let lattice = MoyoLattice::from_basis(structure.lattice.matrix);
    let positions = structure
        .sites
        .iter()
        .map(|s| Vector3::new(s.frac[0], s.frac[1], s.frac[2]))
        .collect();
    let numbers = structure
        .sites
        .iter()
        .map(|s| s.element().z() as i32)
        .collect();
    let cell = Cell::new(lattice, positions, numbers);
    // moyo's arithmetic can overflow on cells far from any real crystal; such a
    // panic is this structure's failure, not the process's.
    let search = std::panic::catch_unwind(|| {
        MoyoDataset::new(
            &cell,
            symprec,
            AngleTolerance::Default,
            Setting::Spglib,
            false,
        )
    })
    .map_err(|_| ParseError::invalid("symmetry search failed: moyo panicked on this cell"))?;
    let dataset =
        search.map_err(|e| ParseError::invalid(format!("symmetry search failed: {e:?}")))?;
    let number = dataset.number as u32;
    let crystal_system = CrystalSystem::of_space_group(number)
        .ok_or_else(|| ParseError::invalid(format!("space group number {number} out of range")))?;
    Ok(SpaceGroup {
        number,
        symbol: dataset.hm_symbol.replace(' ', ""),
        crystal_system,
        orbits: dataset.orbits.clone(),
        wyckoffs: dataset.wyckoffs.clone(),
    })
}
