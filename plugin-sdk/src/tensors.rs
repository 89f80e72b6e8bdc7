//! Conversions between ABI arrays and burn tensors.

use burn::tensor::{backend::Backend, Tensor, TensorData};
use mmhost_plugin_api::{Embeddings, ErrorKind, PluginError, Record};

/// Stacks the f32 field `name` of every record into one tensor `[batch, ...shape]`
/// (`D` = 1 + the field's rank). All records must agree on the shape.
pub fn stack_field<B: Backend, const D: usize>(
    batch: &[Record],
    name: &str,
    device: &B::Device,
) -> Result<Tensor<B, D>, PluginError> {
    let first = batch
        .first()
        .ok_or_else(|| invalid("empty batch".to_string()))?
        .require(name)?;
    let item_shape = first.dims();
    if item_shape.len() + 1 != D {
        return Err(invalid(format!(
            "field '{name}' has shape {item_shape:?}, expected rank {}",
            D - 1
        )));
    }
    let mut values = Vec::with_capacity(batch.len() * first.len());
    for (i, record) in batch.iter().enumerate() {
        let array = record.require(name)?;
        if array.dims() != item_shape {
            return Err(invalid(format!(
                "record {i}: field '{name}' has shape {:?}, the batch's first record {item_shape:?}",
                array.dims()
            )));
        }
        values.extend(array.to_f32()?);
    }
    let mut shape = vec![batch.len()];
    shape.extend(item_shape);
    Ok(Tensor::from_data(TensorData::new(values, shape), device))
}

/// Copies a `[rows, dim]` tensor into an ABI embedding matrix, refusing NaN/inf.
pub fn embeddings_from_tensor<B: Backend>(z: Tensor<B, 2>) -> Result<Embeddings, PluginError> {
    let [rows, dim] = z.dims();
    let values: Vec<f32> = z
        .into_data()
        .convert::<f32>()
        .to_vec()
        .map_err(|e| PluginError::new(ErrorKind::Internal, format!("{e:?}")))?;
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(PluginError::new(
            ErrorKind::NonFinite,
            format!(
                "embedding row {} holds a non-finite value ({})",
                i / dim.max(1),
                values[i]
            ),
        ));
    }
    Ok(Embeddings::new(rows, dim, values))
}

/// An ABI embedding (or gradient) matrix as a `[rows, dim]` tensor.
pub fn tensor_from_embeddings<B: Backend>(
    matrix: &Embeddings,
    device: &B::Device,
) -> Result<Tensor<B, 2>, PluginError> {
    matrix.validate()?;
    let shape = [matrix.rows as usize, matrix.dim as usize];
    Ok(Tensor::from_data(
        TensorData::new(matrix.values.to_vec(), shape),
        device,
    ))
}

fn invalid(message: String) -> PluginError {
    PluginError::new(ErrorKind::InvalidInput, message)
}

/// Mean-pooling weights `[graphs, atoms]` (row-major) for graphs of `sizes` atoms laid
/// end to end: `1/n` over each graph's own atoms, 0 elsewhere.
pub fn mean_pool_weights(sizes: &[usize]) -> Vec<f32> {
    let atoms: usize = sizes.iter().sum();
    let mut weights = vec![0f32; sizes.len() * atoms];
    let mut start = 0;
    for (row, &n) in sizes.iter().enumerate() {
        weights[row * atoms + start..row * atoms + start + n].fill(1.0 / n as f32);
        start += n;
    }
    weights
}
