//! Materials data for mmhost: elements, lattices, crystal structures, readers for
//! the formats materials scientists have, and periodic neighbour lists. Plain Rust,
//! linked statically into the host and the plugins that need it.

mod atom_features;
pub mod cif;
mod describe;
mod dos;
mod element;
mod error;
mod lattice;
mod lattice_sums;
mod neighbors;
mod poscar;
mod potnet_sums;
mod pymatgen_json;
pub mod records;
mod structure;
mod symmetry;
mod text_lines;
mod validation;
mod vasprun;
mod volumetric;

pub use atom_features::{cgcnn_atom_features, cgcnn_feature_matrix, CGCNN_FEATURES};
pub use describe::describe;
pub use dos::{dos_from_pymatgen, read_doscar, read_vasprun_dos, Dos};
pub use element::Element;
pub use error::ParseError;
pub use lattice::{Lattice, Mat3};
pub use lattice_sums::{coulomb_potential, madelung_constant, site_potential};
pub use neighbors::{all_neighbors, Neighbor, NeighborError, MAX_NEIGHBOR_PAIRS, MAX_SEARCH_WORK};
pub use poscar::read_poscar;
pub use potnet_sums::{
    k_half, potnet_infinite_sums, PairSums, PotentialLattice, POTNET_PAULI_ALPHA, POTNET_RANGE,
};
pub use pymatgen_json::{structure_from_pymatgen, structure_to_pymatgen};
pub use structure::{Occupant, Site, Structure};
pub use symmetry::{space_group, CrystalSystem, SpaceGroup};
pub use text_lines::MAX_LINES;
pub use validation::{
    validate_structure, InvalidStructure, MAX_LATTICE_LENGTH, MAX_SITES, MIN_SITE_DISTANCE,
};
pub use vasprun::read_vasprun_structure;
pub use volumetric::{read_chgcar, resample_periodic, VolumetricData, MAX_GRID_POINTS};
