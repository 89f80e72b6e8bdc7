//! A bounded reader of NumPy `.npy` arrays of floats.
//!
//! The header is the dictionary NumPy writes for a plain array,
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2, 601), }`, read by a
//! small grammar (quoted strings, `True`/`False`, one tuple of integers) with no
//! nesting to recurse into; the shape must account for exactly the bytes after the
//! header before anything is allocated for the values. float32 and float64 (little-
//! or big-endian) are read; float64 values become float32.

use thiserror::Error;

/// Why bytes are not a readable `.npy` float array.
#[derive(Debug, Error, PartialEq)]
pub enum NpyError {
    #[error("not an .npy file (no \\x93NUMPY magic)")]
    Magic,
    #[error("unknown .npy format version {0}")]
    Version(u8),
    #[error("the .npy header is longer than the file")]
    TruncatedHeader,
    #[error("the .npy header is not NumPy's dictionary: {0}")]
    Header(String),
    #[error("unsupported .npy data type '{0}' (float32 or float64 expected)")]
    DataType(String),
    #[error("the .npy array is in Fortran order; save it with numpy.ascontiguousarray")]
    FortranOrder,
    #[error(
        "the .npy header declares shape {shape:?} ({item} bytes each), but {present} bytes \
         of data follow it"
    )]
    Size {
        shape: Vec<u64>,
        item: usize,
        present: usize,
    },
}

/// An `.npy` array read as float32: `values` in C order, `values.len()` the product
/// of `shape`.
#[derive(Debug, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// Reads the `.npy` file `data`.
pub fn read_f32(data: &[u8]) -> Result<NpyArray, NpyError> {
    if data.len() < 10 || &data[..6] != b"\x93NUMPY" {
        return Err(NpyError::Magic);
    }
    let (start, length): (usize, usize) = match data[6] {
        1 => (10, usize::from(u16::from_le_bytes([data[8], data[9]]))),
        2 | 3 if data.len() >= 12 => (
            12,
            u32::from_le_bytes([data[8], data[9], data[10], data[11]]) as usize,
        ),
        version => return Err(NpyError::Version(version)),
    };
    let end = start
        .checked_add(length)
        .filter(|&end| end <= data.len())
        .ok_or(NpyError::TruncatedHeader)?;
    let header =
        std::str::from_utf8(&data[start..end]).map_err(|_| NpyError::Header("not text".into()))?;
    let header = Header::parse(header)?;
    let item = match header.descr.get(1..) {
        Some("f4") => 4,
        Some("f8") => 8,
        _ => return Err(NpyError::DataType(header.descr)),
    };
    let big_endian = match header.descr.as_bytes()[0] {
        b'<' | b'=' | b'|' => false,
        b'>' => true,
        _ => return Err(NpyError::DataType(header.descr)),
    };
    if header.fortran_order {
        return Err(NpyError::FortranOrder);
    }
    let body = &data[end..];
    let size_error = || NpyError::Size {
        shape: header.shape.clone(),
        item,
        present: body.len(),
    };
    let bytes = header
        .shape
        .iter()
        .try_fold(item as u64, |n, &d| n.checked_mul(d))
        .ok_or_else(size_error)?;
    if bytes != body.len() as u64 {
        return Err(size_error());
    }
    let values = match (item, big_endian) {
        (4, false) => body
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        (4, true) => body
            .chunks_exact(4)
            .map(|b| f32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        (_, big) => body
            .chunks_exact(8)
            .map(|b| {
                let bytes: [u8; 8] = [b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]];
                let value = if big {
                    f64::from_be_bytes(bytes)
                } else {
                    f64::from_le_bytes(bytes)
                };
                value as f32
            })
            .collect(),
    };
    // The byte count above equals the product of the shape, so each fits in usize.
    let shape = header.shape.iter().map(|&d| d as usize).collect();
    Ok(NpyArray { shape, values })
}

/// The three keys of an `.npy` header.
struct Header {
    /// e.g. `<f4`; at least two characters
    descr: String,
    fortran_order: bool,
    shape: Vec<u64>,
}

/// A value in the header dictionary.
enum Value {
    Text(String),
    Bool(bool),
    Tuple(Vec<u64>),
}

impl Header {
    fn parse(text: &str) -> Result<Self, NpyError> {
        let mut tokens = Tokens { rest: text };
        tokens.expect('{')?;
        let (mut descr, mut fortran_order, mut shape) = (None, None, None);
        while !tokens.eat('}') {
            let key = match tokens.value()? {
                Value::Text(key) => key,
                _ => return Err(header_error("a key that is not a quoted string")),
            };
            tokens.expect(':')?;
            match (key.as_str(), tokens.value()?) {
                ("descr", Value::Text(t)) if t.len() >= 2 => descr = Some(t),
                ("fortran_order", Value::Bool(b)) => fortran_order = Some(b),
                ("shape", Value::Tuple(t)) => shape = Some(t),
                (other, _) => {
                    return Err(header_error(&format!("unexpected entry '{other}'")));
                }
            }
            if !tokens.eat(',') {
                tokens.expect('}')?;
                break;
            }
        }
        if !tokens.rest.trim().is_empty() {
            return Err(header_error("text after the dictionary"));
        }
        match (descr, fortran_order, shape) {
            (Some(descr), Some(fortran_order), Some(shape)) => Ok(Self {
                descr,
                fortran_order,
                shape,
            }),
            _ => Err(header_error("'descr', 'fortran_order' or 'shape' missing")),
        }
    }
}

fn header_error(why: &str) -> NpyError {
    NpyError::Header(why.into())
}

/// The unread rest of the header.
struct Tokens<'a> {
    rest: &'a str,
}

impl Tokens<'_> {
    /// Consumes `c` (after blanks) when it comes next.
    fn eat(&mut self, c: char) -> bool {
        self.rest = self.rest.trim_start();
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn expect(&mut self, c: char) -> Result<(), NpyError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(header_error(&format!("'{c}' expected")))
        }
    }

    /// A quoted string, `True`, `False`, or a tuple of non-negative integers.
    fn value(&mut self) -> Result<Value, NpyError> {
        self.rest = self.rest.trim_start();
        if let Some(quote) = self.rest.chars().next().filter(|c| *c == '\'' || *c == '"') {
            let body = &self.rest[1..];
            let close = body
                .find(quote)
                .ok_or_else(|| header_error("unterminated string"))?;
            self.rest = &body[close + 1..];
            return Ok(Value::Text(body[..close].to_string()));
        }
        for (word, value) in [("True", true), ("False", false)] {
            if let Some(rest) = self.rest.strip_prefix(word) {
                self.rest = rest;
                return Ok(Value::Bool(value));
            }
        }
        self.expect('(')?;
        let mut dims = Vec::new();
        while !self.eat(')') {
            self.rest = self.rest.trim_start();
            let digits = self.rest.len()
                - self
                    .rest
                    .trim_start_matches(|c: char| c.is_ascii_digit())
                    .len();
            let dim = self.rest[..digits]
                .parse::<u64>()
                .map_err(|_| header_error("a shape entry that is not a non-negative integer"))?;
            dims.push(dim);
            self.rest = &self.rest[digits..];
            if !self.eat(',') {
                self.expect(')')?;
                break;
            }
        }
        Ok(Value::Tuple(dims))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(header: &str, body: &[u8]) -> Vec<u8> {
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(body);
        out
    }

    fn floats(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    #[test]
    fn reads_what_numpy_writes() {
        // numpy.save of np.arange(6, dtype=np.float32).reshape(2, 3), header padded
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }          \n";
        let array = read_f32(&npy(header, &floats(&[0., 1., 2., 3., 4., 5.]))).unwrap();
        assert_eq!(array.shape, vec![2, 3]);
        assert_eq!(array.values, vec![0., 1., 2., 3., 4., 5.]);
        // float64, big-endian, a one-element tuple
        let body: Vec<u8> = [1.5f64, -2.0]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        let array = read_f32(&npy(
            "{'descr': '>f8', 'fortran_order': False, 'shape': (2,)}",
            &body,
        ))
        .unwrap();
        assert_eq!((array.shape, array.values), (vec![2], vec![1.5, -2.0]));
    }

    #[test]
    fn refuses_lying_or_strange_headers() {
        let plain =
            |shape: &str| format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
        let body = floats(&[1.0; 6]);
        let size = |shape: Vec<u64>| NpyError::Size {
            shape,
            item: 4,
            present: 24,
        };
        assert_eq!(
            read_f32(&npy(&plain("(1000000, 1000000, 1000000)"), &body)),
            Err(size(vec![1_000_000; 3]))
        );
        assert_eq!(read_f32(&npy(&plain("(7,)"), &body)), Err(size(vec![7])));
        assert_eq!(read_f32(&npy(&plain("(5,)"), &body)), Err(size(vec![5])));
        let huge = format!("(18446744073709551615, {})", u64::MAX);
        assert!(matches!(
            read_f32(&npy(&plain(&huge), &body)),
            Err(NpyError::Size { .. })
        ));
        let too_long = "(184467440737095516150,)";
        assert!(matches!(
            read_f32(&npy(&plain(too_long), &body)),
            Err(NpyError::Header(_))
        ));
        for nested in ["((((((6,),),),),),)", "[6]", "(-6,)", "(6.0,)"] {
            assert!(
                matches!(
                    read_f32(&npy(&plain(nested), &body)),
                    Err(NpyError::Header(_))
                ),
                "{nested}"
            );
        }
        let int = "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }";
        assert_eq!(
            read_f32(&npy(int, &body)),
            Err(NpyError::DataType("<i8".into()))
        );
        let fortran = "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }";
        assert_eq!(read_f32(&npy(fortran, &body)), Err(NpyError::FortranOrder));
        let mut short = npy(&plain("(6,)"), &body);
        short[8] = 0xff;
        assert_eq!(read_f32(&short), Err(NpyError::TruncatedHeader));
        assert_eq!(read_f32(b"\x93NUMPY"), Err(NpyError::Magic));
    }
}
