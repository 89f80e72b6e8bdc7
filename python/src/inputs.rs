//! The plain inputs the Python side hands over, as `(kind, name, payload)` tuples:
//! `("file", name, path)`, `("bytes", name, bytes)` (format from the name),
//! `("charge", name, (float32 bytes, (a, b, c)))`, `("text", name, sentence)`.

use std::path::PathBuf;

use mmhost::inputs::RawInput;
use mmhost_materials::MAX_GRID_POINTS;
use pyo3::{prelude::*, types::PyBytes};

use crate::errors;

/// One input tuple.
pub type InputTuple<'py> = (String, String, Bound<'py, PyAny>);

/// The raw inputs of the tuples.
pub fn raw_inputs(items: Vec<InputTuple<'_>>) -> PyResult<Vec<RawInput>> {
    items
        .into_iter()
        .map(|(kind, name, payload)| match kind.as_str() {
            "file" => Ok(RawInput::File(payload.extract::<PathBuf>()?)),
            "bytes" => Ok(RawInput::Bytes {
                name,
                bytes: payload.cast::<PyBytes>()?.as_bytes().to_vec(),
            }),
            "charge" => {
                let (bytes, shape): (Bound<'_, PyBytes>, (usize, usize, usize)) =
                    payload.extract()?;
                let bytes = bytes.as_bytes();
                let points = shape
                    .0
                    .checked_mul(shape.1)
                    .and_then(|n| n.checked_mul(shape.2))
                    .filter(|&n| n <= MAX_GRID_POINTS);
                if points.and_then(|n| n.checked_mul(4)) != Some(bytes.len()) {
                    return Err(errors::invalid(format!(
                        "{name}: a grid of shape {shape:?} (at most {MAX_GRID_POINTS} points) \
                         needs 4 bytes per point; {} bytes were given",
                        bytes.len()
                    )));
                }
                let values = bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                Ok(RawInput::ChargeGrid {
                    name,
                    values,
                    shape: [shape.0, shape.1, shape.2],
                })
            }
            "text" => Ok(RawInput::Sentence {
                name,
                text: payload.extract()?,
            }),
            other => Err(errors::invalid(format!(
                "{name}: unknown input kind '{other}'"
            ))),
        })
        .collect()
}

/// Float32 values as bytes in native order, for `numpy.frombuffer`.
pub fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_ne_bytes()).collect()
}
