//! Symmetry operations written as `x-y, x, z+1/2`.

use crate::ParseError;

/// An affine operation on fractional coordinates: `x' = R x + t`.
#[derive(Clone, Debug, PartialEq)]
pub struct SymOp {
    pub rotation: [[f64; 3]; 3],
    pub translation: [f64; 3],
}

impl SymOp {
    /// `x, y, z`.
    pub fn identity() -> Self {
        Self {
            rotation: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            translation: [0.0; 3],
        }
    }

    /// Parses `-x+y, 1/2+x, z` (case-insensitive; coefficients, fractions and
    /// decimals allowed).
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let parts: Vec<&str> = text.split(',').collect();
        if parts.len() != 3 {
            return Err(ParseError::invalid(format!(
                "symmetry operation '{text}' does not have three components"
            )));
        }
        let mut op = Self {
            rotation: [[0.0; 3]; 3],
            translation: [0.0; 3],
        };
        for (row, part) in parts.iter().enumerate() {
            let (coefficients, constant) = parse_component(part).ok_or_else(|| {
                ParseError::invalid(format!(
                    "cannot read '{part}' in symmetry operation '{text}'"
                ))
            })?;
            op.rotation[row] = coefficients;
            op.translation[row] = constant;
        }
        Ok(op)
    }

    /// Applies the operation to fractional coordinates.
    pub fn apply(&self, x: &[f64; 3]) -> [f64; 3] {
        [0, 1, 2].map(|r| {
            self.rotation[r][0] * x[0]
                + self.rotation[r][1] * x[1]
                + self.rotation[r][2] * x[2]
                + self.translation[r]
        })
    }
}

/// One component (`-x+y+1/2`) → coefficients of x, y, z and the constant.
fn parse_component(text: &str) -> Option<([f64; 3], f64)> {
    let cleaned: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    if cleaned.is_empty() {
        return None;
    }
    let mut coefficients = [0.0; 3];
    let mut constant = 0.0;
    // Split into signed terms.
    let mut terms = Vec::new();
    let mut current = String::new();
    for c in cleaned.chars() {
        if (c == '+' || c == '-') && !current.is_empty() {
            terms.push(std::mem::take(&mut current));
        }
        current.push(c);
    }
    terms.push(current);
    for term in terms {
        let (sign, body) = match term.strip_prefix('-') {
            Some(rest) => (-1.0, rest),
            None => (1.0, term.strip_prefix('+').unwrap_or(&term)),
        };
        match body.chars().last()? {
            axis @ ('x' | 'y' | 'z') => {
                let factor = &body[..body.len() - 1];
                let factor = factor.strip_suffix('*').unwrap_or(factor);
                let value = if factor.is_empty() {
                    1.0
                } else {
                    number(factor)?
                };
                coefficients[(axis as u8 - b'x') as usize] += sign * value;
            }
            _ => constant += sign * number(body)?,
        }
    }
    Some((coefficients, constant))
}

fn number(text: &str) -> Option<f64> {
    match text.split_once('/') {
        Some((n, d)) => Some(n.parse::<f64>().ok()? / d.parse::<f64>().ok()?),
        None => text.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::SymOp;

    #[test]
    fn parses_operations() {
        let op = SymOp::parse("x-y, x, z+1/2").unwrap();
        assert_eq!(op.apply(&[0.1, 0.2, 0.3]), [0.1 - 0.2, 0.1, 0.8]);
        let op = SymOp::parse("1/2+X, -Y, -z+0.25").unwrap();
        let out = op.apply(&[0.1, 0.2, 0.3]);
        assert!(
            (out[0] - 0.6).abs() < 1e-12
                && (out[1] + 0.2).abs() < 1e-12
                && (out[2] + 0.05).abs() < 1e-12
        );
        assert!(SymOp::parse("x, y").is_err());
        assert!(SymOp::parse("x, y, w").is_err());
    }
}
