//! CIF 1.1 reading: pymatgen's P1 files and general files with symmetry operations,
//! uncertainties (`5.431(2)`) and partial occupancy.

mod placement;
mod symmetry;
mod syntax;

pub use symmetry::SymOp;
pub use syntax::{blocks, Block, Blocks, Value};

use crate::{Element, Lattice, ParseError, Structure};

use placement::Placement;

/// Most symmetry operations a block may list: the order of the largest space groups
/// in a centred setting (Fm-3m, Fd-3m, …).
const MAX_SYMMETRY_OPERATIONS: usize = 192;

/// Symmetry images (atom-site rows × operations) one CIF text may expand to over
/// all its blocks: 2²² (ten full cells of [`crate::MAX_SITES`] sites each listed with
/// every operation), or one per byte of the text where that is more, which a file of
/// many real structures stays under. Each image is compared with the sites of its
/// own and the neighbouring cells of a grid, so this bounds the work of the whole
/// text by its size.
fn image_limit(text_bytes: usize) -> usize {
    text_bytes.max(1 << 22)
}

/// Sites one CIF text's structures may hold in all: 2²², or one per 32 bytes of the
/// text where that is more (a site row of a P1 file takes some 50 bytes), so the
/// structures read take a few times the text's size at most where symmetry
/// operations multiply its rows.
fn site_limit(text_bytes: usize) -> usize {
    (text_bytes / 32).max(1 << 22)
}

/// The symmetry images of a CIF text's blocks placed so far, against its limit.
struct Images {
    limit: usize,
    placed: usize,
}

impl Images {
    /// Counts the images of `rows` atom sites under `operations` symmetry operations,
    /// refusing them past the limit.
    fn add(&mut self, rows: usize, operations: usize) -> Result<(), ParseError> {
        let placed = rows
            .checked_mul(operations)
            .and_then(|images| self.placed.checked_add(images))
            .filter(|&placed| placed <= self.limit)
            .ok_or_else(|| {
                ParseError::invalid(format!(
                    "{rows} atom sites × {operations} symmetry operations: past the limit \
                     of {} images to place in this CIF text (2^22, or one per byte of \
                     text where that is more), {} placed before",
                    self.limit, self.placed
                ))
            })?;
        self.placed = placed;
        Ok(())
    }
}

/// Longest CIF text read: 256 MiB (a structure of 2,000 sites takes some 200 kB).
/// Its blocks are parsed one at a time, each holding copies of its own text only.
pub const MAX_CIF_BYTES: usize = 256 << 20;

/// Every structure in a CIF text, one per data block that has a cell and atom sites;
/// a text longer than [`MAX_CIF_BYTES`] is refused.
pub fn read_cif(text: &str) -> Result<Vec<Structure>, ParseError> {
    if text.len() > MAX_CIF_BYTES {
        return Err(ParseError::invalid(format!(
            "{} bytes of CIF, more than the limit of {MAX_CIF_BYTES} (split it into \
             several files)",
            text.len()
        )));
    }
    let mut out = Vec::new();
    let mut images = Images {
        limit: image_limit(text.len()),
        placed: 0,
    };
    let sites_allowed = site_limit(text.len());
    let mut sites = 0;
    for block in blocks(text) {
        let block = block?;
        if block.get("_cell_length_a").is_some() {
            let structure = structure_from_block(&block, &mut images)
                .map_err(|e| ParseError::invalid(format!("data_{}: {e}", block.name)))?;
            sites += structure.len();
            if sites > sites_allowed {
                return Err(ParseError::invalid(format!(
                    "data_{}: the structures hold more than {sites_allowed} sites in all, the \
                     limit for this CIF text (2^22, or one per 32 bytes of text where that \
                     is more)",
                    block.name
                )));
            }
            out.push(structure);
        }
    }
    if out.is_empty() {
        return Err(ParseError::invalid("no data block with a unit cell"));
    }
    Ok(out)
}

/// The structure of one data block: cell, symmetry operations applied to the
/// asymmetric unit, duplicate images merged, mixed occupancy kept per site. Its
/// images (rows × operations) are counted in `images`, refused beyond its limit.
fn structure_from_block(block: &Block, images: &mut Images) -> Result<Structure, ParseError> {
    let number = |tag: &str| -> Result<f64, ParseError> {
        block
            .get(tag)
            .ok_or_else(|| ParseError::invalid(format!("missing {tag}")))?
            .number()
            .ok_or_else(|| ParseError::invalid(format!("{tag} is not a number")))
    };
    let length = |tag: &str| -> Result<f64, ParseError> {
        let value = number(tag)?;
        if value.is_finite() && value > 0.0 {
            Ok(value)
        } else {
            Err(ParseError::invalid(format!(
                "{tag} is {value}; a cell length must be a positive finite number of Å"
            )))
        }
    };
    let angle = |tag: &str| -> Result<f64, ParseError> {
        let value = number(tag)?;
        if value > 0.0 && value < 180.0 {
            Ok(value)
        } else {
            Err(ParseError::invalid(format!(
                "{tag} is {value}; a cell angle must lie strictly between 0 and 180°"
            )))
        }
    };
    let lattice = Lattice::from_parameters(
        length("_cell_length_a")?,
        length("_cell_length_b")?,
        length("_cell_length_c")?,
        angle("_cell_angle_alpha")?,
        angle("_cell_angle_beta")?,
        angle("_cell_angle_gamma")?,
    );
    let volume = lattice.volume();
    if volume.is_nan() || volume < 1e-6 {
        return Err(ParseError::invalid(format!(
            "the cell has no volume ({volume:.3e} Å³)"
        )));
    }
    let ops = symmetry_operations(block)?;
    let xs = block.column("_atom_site_fract_x");
    let ys = block.column("_atom_site_fract_y");
    let zs = block.column("_atom_site_fract_z");
    let (Some(xs), Some(ys), Some(zs)) = (xs, ys, zs) else {
        return Err(ParseError::invalid(
            "no _atom_site_fract_x/y/z loop (Cartesian-only sites are not supported)",
        ));
    };
    let labels = block.column("_atom_site_label");
    let symbols = block.column("_atom_site_type_symbol");
    let occupancies = block.column("_atom_site_occupancy");
    images.add(xs.len(), ops.len())?;
    let mut placement = Placement::default();
    for row in 0..xs.len() {
        let label = labels
            .and_then(|l| l.get(row))
            .map(|v| v.text().to_string())
            .unwrap_or_default();
        let symbol = symbols
            .and_then(|s| s.get(row))
            .map(|v| v.text().to_string());
        let name = symbol.clone().unwrap_or_else(|| label.clone());
        let element = Element::from_label(&name).ok_or_else(|| {
            ParseError::invalid(format!("atom site {}: unknown element '{name}'", row + 1))
        })?;
        let coord = |column: &[Value], axis: &str| {
            column.get(row).and_then(Value::number).ok_or_else(|| {
                ParseError::invalid(format!(
                    "atom site {}: fract_{axis} is not a number",
                    row + 1
                ))
            })
        };
        let frac = [coord(xs, "x")?, coord(ys, "y")?, coord(zs, "z")?].map(snap_thirds);
        let occupancy = match occupancies.and_then(|o| o.get(row)) {
            Some(v) if !v.is_missing() => v.number().ok_or_else(|| {
                ParseError::invalid(format!("atom site {}: occupancy is not a number", row + 1))
            })?,
            _ => 1.0,
        };
        if !(occupancy > 0.0 && occupancy <= 1.0 + 1e-3) {
            return Err(ParseError::invalid(format!(
                "atom site {} ({label}): occupancy {occupancy} is outside (0, 1]",
                row + 1
            )));
        }
        let label = if label.is_empty() {
            element.symbol().to_string()
        } else {
            label
        };
        for op in &ops {
            let image = op.apply(&frac).map(|x| x - x.floor());
            let image = image.map(|x| if x > 1.0 - 1e-9 { 0.0 } else { x });
            placement.place(image, element, occupancy, &label)?;
        }
    }
    let sites = placement.into_sites();
    for site in &sites {
        let total: f64 = site.occupants.iter().map(|o| o.occupancy).sum();
        if total > 1.0 + 1e-3 {
            return Err(ParseError::invalid(format!(
                "site {} at {:?}: occupancies sum to {total} > 1",
                site.label, site.frac
            )));
        }
    }
    if sites.is_empty() {
        return Err(ParseError::invalid("no atom sites"));
    }
    Ok(Structure { lattice, sites })
}

/// Coordinates written with finite precision (0.333333, 0.6667) are read as exactly
/// 1/3 or 2/3 when within a relative 1e-4, as pymatgen does: otherwise symmetry
/// images of such sites fail to coincide.
fn snap_thirds(x: f64) -> f64 {
    const FRAC_TOLERANCE: f64 = 1e-4;
    for ideal in [1.0 / 3.0, 2.0 / 3.0] {
        if (x / ideal - 1.0).abs() <= FRAC_TOLERANCE {
            return ideal;
        }
    }
    x
}

fn symmetry_operations(block: &Block) -> Result<Vec<SymOp>, ParseError> {
    const TAGS: [&str; 4] = [
        "_symmetry_equiv_pos_as_xyz",
        "_space_group_symop_operation_xyz",
        "_symmetry_equiv_pos_as_xyz_",
        "_space_group_symop.operation_xyz",
    ];
    if let Some(column) = TAGS.iter().find_map(|t| block.column(t)) {
        if column.len() > MAX_SYMMETRY_OPERATIONS {
            return Err(ParseError::invalid(format!(
                "{} symmetry operations; a space group has at most {MAX_SYMMETRY_OPERATIONS}",
                column.len()
            )));
        }
        return column
            .iter()
            .map(|v| SymOp::parse(v.text()))
            .collect::<Result<Vec<_>, _>>();
    }
    let number = block
        .get("_symmetry_Int_Tables_number")
        .or_else(|| block.get("_space_group_IT_number"))
        .and_then(Value::number);
    let name = block
        .get("_symmetry_space_group_name_H-M")
        .or_else(|| block.get("_space_group_name_H-M_alt"))
        .map(|v| v.text().replace(' ', ""));
    match (number, name.as_deref()) {
        (Some(1.0), _) => Ok(vec![SymOp::identity()]),
        (None, Some("P1")) | (None, None) => Ok(vec![SymOp::identity()]),
        _ => Err(ParseError::invalid(format!(
            "no symmetry operations listed for space group {}; add a _symmetry_equiv_pos_as_xyz loop",
            name.unwrap_or_else(|| format!("{}", number.unwrap_or(0.0)))
        ))),
    }
}
