//! Splitting a text file into lines, within a bound on how many.

use crate::ParseError;

/// Most lines a line-oriented file (POSCAR, CHGCAR family, DOSCAR) may have: 2²⁶,
/// room for the largest grid ([`crate::MAX_GRID_POINTS`] values, five per line,
/// twice when spin-polarized: 5.4·10⁷ lines). Each line kept costs 16 bytes, so
/// without a bound a text of newlines alone would take 16 times its own size.
pub const MAX_LINES: usize = 1 << 26;

/// The lines of `text` (as [`str::lines`]), refused when there are more than
/// [`MAX_LINES`]: counted before anything is allocated for them.
pub(crate) fn bounded_lines(text: &str) -> Result<Vec<&str>, ParseError> {
    lines_within(text, MAX_LINES)
}

fn lines_within(text: &str, limit: usize) -> Result<Vec<&str>, ParseError> {
    let breaks = text.bytes().filter(|&b| b == b'\n').count();
    let count = breaks + usize::from(!text.is_empty() && !text.ends_with('\n'));
    if count > limit {
        return Err(ParseError::invalid(format!(
            "{count} lines, more than the limit of {limit}"
        )));
    }
    let mut lines = Vec::with_capacity(count);
    lines.extend(text.lines());
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_beyond_the_limit_are_counted_and_refused() {
        assert_eq!(lines_within("a\nb\r\nc", 3).unwrap(), ["a", "b", "c"]);
        assert_eq!(lines_within("\n\n\n", 3).unwrap().len(), 3);
        for four in ["\n\n\n\n", "\n\n\nd"] {
            let refused = lines_within(four, 3).unwrap_err().to_string();
            assert!(
                refused.contains("4 lines, more than the limit of 3"),
                "{refused}"
            );
        }
    }
}
