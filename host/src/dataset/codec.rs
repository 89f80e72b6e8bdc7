//! A small binary encoding of records (named n-d arrays) for the database.
//!
//! Layout (little-endian): `MMR1`, u32 field count, then per field: u32 name length,
//! name (UTF-8), u8 dtype (0 f32, 1 i64, 2 u8), u32 rank, u64 × rank shape,
//! u64 byte length, bytes.

use mmhost_plugin_api::{abi_stable::std_types::RString, Array, DType, Field, Record};
use thiserror::Error;

const MAGIC: &[u8; 4] = b"MMR1";

/// A stored record that cannot be decoded.
#[derive(Debug, Error, PartialEq)]
#[error("corrupt record: {0}")]
pub struct CodecError(String);

/// Encodes a record.
pub fn encode_record(record: &Record) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend((record.fields.len() as u32).to_le_bytes());
    for field in record.fields.iter() {
        out.extend((field.name.len() as u32).to_le_bytes());
        out.extend(field.name.as_bytes());
        out.push(match field.array.dtype {
            DType::F32 => 0,
            DType::I64 => 1,
            DType::U8 => 2,
        });
        out.extend((field.array.shape.len() as u32).to_le_bytes());
        for d in field.array.shape.iter() {
            out.extend(d.to_le_bytes());
        }
        out.extend((field.array.bytes.len() as u64).to_le_bytes());
        out.extend(field.array.bytes.iter());
    }
    out
}

/// Decodes a record written by [`encode_record`], checking every length.
pub fn decode_record(bytes: &[u8]) -> Result<Record, CodecError> {
    let mut reader = Reader { bytes, at: 0 };
    if reader.take(4)? != MAGIC {
        return Err(CodecError("bad magic".into()));
    }
    let count = reader.u32()?;
    let mut record = Record::default();
    for _ in 0..count {
        let name_len = reader.u32()? as usize;
        let name = std::str::from_utf8(reader.take(name_len)?)
            .map_err(|_| CodecError("field name is not UTF-8".into()))?
            .to_string();
        let dtype = match reader.take(1)?[0] {
            0 => DType::F32,
            1 => DType::I64,
            2 => DType::U8,
            other => return Err(CodecError(format!("unknown dtype {other}"))),
        };
        let rank = reader.u32()? as usize;
        if rank > reader.remaining() / 8 {
            return Err(CodecError(format!(
                "field '{name}': rank {rank}, more dimensions than the bytes left hold"
            )));
        }
        let mut shape = Vec::with_capacity(rank);
        for _ in 0..rank {
            shape.push(reader.u64()?);
        }
        let len = reader.u64()? as usize;
        let expected = shape
            .iter()
            .try_fold(dtype.size() as u64, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| CodecError("shape overflows".into()))?;
        if expected != len as u64 {
            return Err(CodecError(format!(
                "field '{name}': {len} bytes for shape {shape:?}"
            )));
        }
        let data = reader.take(len)?.to_vec();
        record.fields.push(Field {
            name: RString::from(name),
            array: Array {
                dtype,
                shape: shape.into(),
                bytes: data.into(),
            },
        });
    }
    Ok(record)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// Bytes not yet read.
    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| CodecError("truncated".into()))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32, CodecError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, CodecError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let mut record = Record::single(
            "dos",
            Array::from_f32(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        );
        record.push("numbers", Array::from_i64(&[2], &[26, 8]));
        record.push("text", Array::from_u8(&[5], b"hello"));
        let bytes = encode_record(&record);
        assert_eq!(decode_record(&bytes).unwrap(), record);
        assert!(decode_record(&bytes[..bytes.len() - 1]).is_err());
        assert!(decode_record(b"XXXX").is_err());
    }

    #[test]
    fn a_rank_beyond_the_bytes_present_reserves_nothing() {
        // one field, empty name, f32, rank 2³² − 1 and no dimensions behind it
        let mut bytes = MAGIC.to_vec();
        bytes.extend(1u32.to_le_bytes());
        bytes.extend(0u32.to_le_bytes());
        bytes.push(0);
        bytes.extend(u32::MAX.to_le_bytes());
        assert!(decode_record(&bytes).is_err());
    }
}
