//! PotNet's local graph: each atom's 16 nearest neighbours within 4 Å, ties
//! included, the cutoff extended when an atom has fewer; every edge stored in both
//! directions (so mutual neighbours appear twice each way), as in the reference.
//! Checked against pymatgen's neighbour lists on real structures
//! (`tests/local_graph.rs`).

use mmhost_materials::{all_neighbors, NeighborError, Structure};

/// Neighbours closer than this are ignored (the reference's bond tolerance).
const MIN_DISTANCE: f64 = 0.15;

/// Distances within this of the k-th neighbour's are ties, Å. Symmetry-equivalent
/// neighbours reached through different periodic images differ in the last bits
/// of their computed distances; an exact comparison would keep some of them and
/// drop others (GaTe, mp-10009: 256 edges against 264). Distances that differ
/// because a CIF rounds coordinates (~1e-7 Å) stay apart.
const TIE_TOLERANCE: f64 = 1e-8;

/// Directed local edges `(source, target, distance Å)`; refused when a neighbour
/// search would exceed its limits.
pub fn local_edges(
    structure: &Structure,
    cutoff: f64,
    max_neighbors: usize,
) -> Result<Vec<(usize, usize, f64)>, NeighborError> {
    let lengths = structure.lattice.lengths();
    let longest = lengths.iter().cloned().fold(0.0, f64::max);
    let mut cutoff = cutoff;
    let lists = loop {
        let lists: Vec<Vec<(usize, f64)>> = all_neighbors(structure, cutoff)?
            .into_iter()
            .map(|list| {
                list.into_iter()
                    .filter(|n| n.distance > MIN_DISTANCE)
                    .map(|n| (n.index, n.distance))
                    .collect()
            })
            .collect();
        if lists.iter().all(|l| l.len() >= max_neighbors) || structure.is_empty() {
            break lists;
        }
        cutoff = if cutoff < longest {
            longest
        } else {
            2.0 * cutoff
        };
    };
    let mut edges = Vec::new();
    for (i, list) in lists.iter().enumerate() {
        // Lists are sorted by distance; keep the k nearest and every tie with the k-th.
        let Some(&(_, kth)) = list.get(max_neighbors.saturating_sub(1)) else {
            continue;
        };
        for &(j, d) in list.iter().take_while(|(_, d)| *d <= kth + TIE_TOLERANCE) {
            edges.push((i, j, d));
            edges.push((j, i, d));
        }
    }
    Ok(edges)
}
