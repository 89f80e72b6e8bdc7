//! Materials data for mmhost: elements, lattices, crystal structures, readers for
//! the formats materials scientists have, and periodic neighbour lists. Plain Rust,
//! linked statically into the host and the plugins that need it.

pub mod cif;
mod element;
mod error;
mod lattice;
mod neighbors;
mod poscar;
mod structure;

pub use element::Element;
pub use error::ParseError;
pub use lattice::{Lattice, Mat3};
pub use neighbors::{all_neighbors, Neighbor};
pub use poscar::read_poscar;
pub use structure::{Occupant, Site, Structure};
