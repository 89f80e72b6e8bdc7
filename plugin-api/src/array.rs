use abi_stable::{
    std_types::{RString, RVec},
    StableAbi,
};

use crate::{ErrorKind, PluginError};

/// Element type of an [`Array`].
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    /// 32-bit float.
    F32,
    /// 64-bit signed integer.
    I64,
    /// Byte (also UTF-8 text).
    U8,
}

impl DType {
    /// Size of one element in bytes.
    pub const fn size(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::I64 => 8,
            DType::U8 => 1,
        }
    }
}

/// An n-dimensional array: element type, shape (row-major) and little-endian bytes.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct Array {
    /// Element type.
    pub dtype: DType,
    /// Dimensions, outermost first.
    pub shape: RVec<u64>,
    /// Elements, row-major, little-endian.
    pub bytes: RVec<u8>,
}

impl Array {
    /// An f32 array of `shape` holding `values` (row-major).
    pub fn from_f32(shape: &[usize], values: &[f32]) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), values.len());
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Self::with_bytes(DType::F32, shape, bytes)
    }

    /// An i64 array of `shape` holding `values` (row-major).
    pub fn from_i64(shape: &[usize], values: &[i64]) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), values.len());
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Self::with_bytes(DType::I64, shape, bytes)
    }

    /// A u8 array of `shape` holding `values` (row-major).
    pub fn from_u8(shape: &[usize], values: &[u8]) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), values.len());
        Self::with_bytes(DType::U8, shape, values.to_vec())
    }

    fn with_bytes(dtype: DType, shape: &[usize], bytes: Vec<u8>) -> Self {
        Self {
            dtype,
            shape: shape.iter().map(|&d| d as u64).collect(),
            bytes: RVec::from(bytes),
        }
    }

    /// The shape as `usize`s.
    pub fn dims(&self) -> Vec<usize> {
        self.shape.iter().map(|&d| d as usize).collect()
    }

    /// Number of elements the shape describes (`usize::MAX` when that many cannot be
    /// counted: a shape from a damaged record).
    pub fn len(&self) -> usize {
        self.checked_len().unwrap_or(usize::MAX)
    }

    /// Number of elements the shape describes, `None` past `usize`.
    fn checked_len(&self) -> Option<usize> {
        self.shape.iter().try_fold(1usize, |product, &d| {
            product.checked_mul(usize::try_from(d).ok()?)
        })
    }

    /// True when the shape has a zero dimension.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as f32, checking dtype and byte length.
    pub fn to_f32(&self) -> Result<Vec<f32>, PluginError> {
        self.check(DType::F32)?;
        Ok(self
            .bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// The values as i64, checking dtype and byte length.
    pub fn to_i64(&self) -> Result<Vec<i64>, PluginError> {
        self.check(DType::I64)?;
        Ok(self
            .bytes
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect())
    }

    fn check(&self, expected: DType) -> Result<(), PluginError> {
        if self.dtype != expected {
            return Err(PluginError::new(
                ErrorKind::InvalidInput,
                format!("array has dtype {:?}, expected {:?}", self.dtype, expected),
            ));
        }
        let needed = self
            .checked_len()
            .and_then(|len| len.checked_mul(expected.size()));
        if needed != Some(self.bytes.len()) {
            return Err(PluginError::new(
                ErrorKind::InvalidInput,
                format!(
                    "array of shape {:?} needs {} bytes, holds {}",
                    self.shape.as_slice(),
                    needed.map_or_else(|| "more than 2⁶⁴".to_string(), |n| n.to_string()),
                    self.bytes.len()
                ),
            ));
        }
        Ok(())
    }
}

/// One named array of a [`Record`].
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct Field {
    /// Field name, unique within its record.
    pub name: RString,
    /// The data.
    pub array: Array,
}

/// A record: a list of named arrays, like a small safetensors file. One material's
/// raw or featurized data for one modality.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, Default, PartialEq)]
pub struct Record {
    /// The named arrays, in insertion order.
    pub fields: RVec<Field>,
}

impl Record {
    /// The array named `name`, if present.
    pub fn get(&self, name: &str) -> Option<&Array> {
        self.fields
            .iter()
            .find(|f| f.name.as_str() == name)
            .map(|f| &f.array)
    }

    /// The array named `name`, or an `InvalidInput` error naming the missing field.
    pub fn require(&self, name: &str) -> Result<&Array, PluginError> {
        self.get(name).ok_or_else(|| {
            let present: Vec<&str> = self.fields.iter().map(|f| f.name.as_str()).collect();
            PluginError::new(
                ErrorKind::InvalidInput,
                format!("record has no field '{name}' (fields: {present:?})"),
            )
        })
    }

    /// Appends `array` under `name`.
    pub fn push(&mut self, name: &str, array: Array) {
        self.fields.push(Field {
            name: RString::from(name),
            array,
        });
    }

    /// A record of one field.
    pub fn single(name: &str, array: Array) -> Self {
        let mut record = Self::default();
        record.push(name, array);
        record
    }
}

/// A row-major embedding (or gradient) matrix `[rows, dim]` of f32.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct Embeddings {
    /// Number of rows (materials).
    pub rows: u64,
    /// Row width (embedding dimension).
    pub dim: u64,
    /// `rows × dim` values, row-major.
    pub values: RVec<f32>,
}

impl Embeddings {
    /// A `[rows, dim]` matrix; `values.len()` must be `rows * dim`.
    pub fn new(rows: usize, dim: usize, values: Vec<f32>) -> Self {
        debug_assert_eq!(rows * dim, values.len());
        Self {
            rows: rows as u64,
            dim: dim as u64,
            values: RVec::from(values),
        }
    }

    /// Row `i` as a slice of `dim` values.
    pub fn row(&self, i: usize) -> &[f32] {
        let dim = self.dim as usize;
        &self.values[i * dim..(i + 1) * dim]
    }

    /// Checks that the value count matches the shape.
    pub fn validate(&self) -> Result<(), PluginError> {
        if self.values.len() as u64 != self.rows * self.dim {
            return Err(PluginError::new(
                ErrorKind::InvalidInput,
                format!(
                    "embedding matrix [{}, {}] holds {} values",
                    self.rows,
                    self.dim,
                    self.values.len()
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2⁶² × 4 elements wrap to 0 in `usize` arithmetic, which an empty byte buffer
    /// would then match.
    #[test]
    fn a_shape_whose_size_overflows_is_refused_not_wrapped() {
        let array = Array {
            dtype: DType::F32,
            shape: RVec::from(vec![1u64 << 62, 4]),
            bytes: RVec::new(),
        };
        assert_eq!(array.len(), usize::MAX);
        let error = array.to_f32().unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidInput);
        assert!(error.message.contains("more than 2⁶⁴"), "{error}");
        assert_eq!(
            Array::from_f32(&[2, 1], &[1.0, 2.0]).to_f32().unwrap(),
            [1.0, 2.0]
        );
    }
}
