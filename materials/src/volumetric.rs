//! VASP volumetric files (CHGCAR, AECCAR0/2, CHG, spin-polarized too) and their
//! periodic resampling.

use crate::{read_poscar, text_lines::bounded_lines, ParseError, Structure, MAX_SITES};

/// A volumetric file: the structure and the grid values as written by VASP,
/// `ρ·V_cell` (so the electron count is the grid mean), x running fastest.
#[derive(Clone, Debug, PartialEq)]
pub struct VolumetricData {
    pub structure: Structure,
    /// Grid points along a, b, c.
    pub grid: [usize; 3],
    /// `total` (ρ↑ + ρ↓)·V, `[grid[2]][grid[1]][grid[0]]` flattened (x fastest).
    pub total: Vec<f64>,
    /// `diff` (ρ↑ − ρ↓)·V of spin-polarized files, same layout.
    pub diff: Option<Vec<f64>>,
}

impl VolumetricData {
    /// Electrons in the cell: the mean of `total`.
    pub fn electrons(&self) -> f64 {
        self.total.iter().sum::<f64>() / self.total.len() as f64
    }
}

/// Most grid points a volumetric file may declare: 2²⁷ (512³, 1 GiB as f64). VASP
/// grids of real calculations stay below 500³.
pub const MAX_GRID_POINTS: usize = 1 << 27;

/// Reads a CHGCAR-family file. The declared grid is checked against
/// [`MAX_GRID_POINTS`] and against the text present before values are read.
pub fn read_chgcar(text: &str) -> Result<VolumetricData, ParseError> {
    let lines = bounded_lines(text)?;
    // The header is a POSCAR ending at the first blank line after the coordinates
    // (of at most MAX_SITES sites, with up to three lines of species and modes).
    let header_end = (7..lines.len().min(10 + MAX_SITES))
        .find(|&i| lines[i].trim().is_empty())
        .ok_or_else(|| ParseError::invalid("no blank line after the structure header"))?;
    let (structure, _) = read_poscar(&lines[..header_end].join("\n"))?;
    let dims_line = header_end + 1;
    let grid = parse_dims(lines.get(dims_line).copied().unwrap_or(""))
        .ok_or_else(|| ParseError::at(dims_line + 1, "expected the grid size (three integers)"))?;
    let count = grid[0]
        .checked_mul(grid[1])
        .and_then(|n| n.checked_mul(grid[2]))
        .filter(|&n| n <= MAX_GRID_POINTS)
        .ok_or_else(|| {
            ParseError::at(
                dims_line + 1,
                format!(
                    "grid {}×{}×{} has more points than the limit of {MAX_GRID_POINTS}",
                    grid[0], grid[1], grid[2]
                ),
            )
        })?;
    // Each value takes at least two bytes (a digit and a separator).
    let rest: usize = lines[dims_line + 1..].iter().map(|l| l.len() + 1).sum();
    if count > rest / 2 {
        return Err(ParseError::at(
            dims_line + 1,
            format!(
                "grid {}×{}×{} declares {count} values, but only {rest} bytes follow",
                grid[0], grid[1], grid[2]
            ),
        ));
    }
    let (total, next) = read_values(&lines, dims_line + 1, count)?;
    // A spin-polarized file repeats the grid size before the magnetization density,
    // after augmentation occupancies and per-atom moments.
    let diff = match (next..lines.len()).find(|&i| parse_dims(lines[i]) == Some(grid)) {
        Some(i) => Some(read_values(&lines, i + 1, count)?.0),
        None => None,
    };
    Ok(VolumetricData {
        structure,
        grid,
        total,
        diff,
    })
}

fn parse_dims(line: &str) -> Option<[usize; 3]> {
    let parts: Vec<usize> = line
        .split_whitespace()
        .map(|t| t.parse().ok())
        .collect::<Option<Vec<usize>>>()?;
    match parts.as_slice() {
        [a, b, c] if *a > 0 && *b > 0 && *c > 0 => Some([*a, *b, *c]),
        _ => None,
    }
}

/// `count` numbers from line index `start` on; returns them and the next line index.
fn read_values(
    lines: &[&str],
    start: usize,
    count: usize,
) -> Result<(Vec<f64>, usize), ParseError> {
    let mut values = Vec::with_capacity(count);
    let mut i = start;
    while values.len() < count {
        let line = lines.get(i).ok_or_else(|| {
            ParseError::at(
                i,
                format!("grid ends after {} of {count} values", values.len()),
            )
        })?;
        for token in line.split_whitespace() {
            if values.len() == count {
                break;
            }
            let value = token
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    ParseError::at(i + 1, format!("'{token}' is not a finite number"))
                })?;
            values.push(value);
        }
        i += 1;
    }
    Ok((values, i))
}

/// Resamples a periodic grid (`[grid[2]][grid[1]][grid[0]]`, x fastest) to `n`³ points
/// by periodic trilinear interpolation, the new points at fractional coordinates
/// `i/n` like VASP's. The output keeps the x-fastest layout.
pub fn resample_periodic(values: &[f64], grid: [usize; 3], n: usize) -> Vec<f64> {
    let [nx, ny, nz] = grid;
    let at = |x: usize, y: usize, z: usize| values[x % nx + nx * ((y % ny) + ny * (z % nz))];
    // Source cell index and weight along one axis for target index t.
    let axis = |t: usize, size: usize| {
        let position = t as f64 * size as f64 / n as f64;
        let lower = position.floor();
        (lower as usize, position - lower)
    };
    let mut out = Vec::with_capacity(n * n * n);
    for k in 0..n {
        let (z0, wz) = axis(k, nz);
        for j in 0..n {
            let (y0, wy) = axis(j, ny);
            for i in 0..n {
                let (x0, wx) = axis(i, nx);
                let mut v = 0.0;
                for (dz, fz) in [(0, 1.0 - wz), (1, wz)] {
                    for (dy, fy) in [(0, 1.0 - wy), (1, wy)] {
                        for (dx, fx) in [(0, 1.0 - wx), (1, wx)] {
                            v += fx * fy * fz * at(x0 + dx, y0 + dy, z0 + dz);
                        }
                    }
                }
                out.push(v);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::resample_periodic;

    #[test]
    fn resampling_a_constant_and_the_identity() {
        let grid = [4, 5, 6];
        let constant = vec![2.5; 120];
        assert!(resample_periodic(&constant, grid, 8)
            .iter()
            .all(|v| (v - 2.5).abs() < 1e-12));
        let values: Vec<f64> = (0..27).map(|i| i as f64).collect();
        assert_eq!(resample_periodic(&values, [3, 3, 3], 3), values);
    }
}
