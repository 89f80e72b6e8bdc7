//! The fused CPU kernel as burn operations: on Flex for inference and on
//! `Autodiff<Flex>` for training, with a backward step of its own that recomputes
//! the attention probabilities instead of keeping the `[batch, heads, tokens,
//! tokens]` score tensors burn's decomposed attention stores.

use std::{fmt, sync::Arc};

use burn::{
    backend::{
        autodiff::{
            checkpoint::{base::Checkpointer, strategy::NoCheckpointing},
            grads::Gradients,
            ops::{Backward, Ops, OpsKind},
        },
        flex::FlexTensor,
        Autodiff, Flex,
    },
    tensor::{DType, Tensor, TensorData, TensorPrimitive},
};

use super::attention_kernel::{self as kernel, Shape};

/// Fused attention on Flex: `qkv` `[batch, tokens, 3·heads·head_dim]`, `f32` →
/// `[batch, tokens, heads·head_dim]`.
pub fn inference(qkv: Tensor<Flex, 3>, heads: usize, head_dim: usize) -> Tensor<Flex, 3> {
    let forward = run_forward(&qkv.into_primitive().tensor(), heads, head_dim);
    Tensor::from_primitive(TensorPrimitive::Float(forward.out))
}

/// Fused attention on `Autodiff<Flex>`, differentiable with respect to `qkv`
/// `[batch, tokens, 3·heads·head_dim]`, `f32` → `[batch, tokens, heads·head_dim]`.
pub fn training(
    qkv: Tensor<Autodiff<Flex>, 3>,
    heads: usize,
    head_dim: usize,
) -> Tensor<Autodiff<Flex>, 3> {
    let input = qkv.into_primitive().tensor();
    let forward = run_forward(&input.primitive, heads, head_dim);
    let output = match FusedAttentionBackward
        .prepare::<NoCheckpointing>([input.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let out = forward.out.clone();
            prep.finish(forward, out)
        }
        OpsKind::UnTracked(prep) => prep.finish(forward.out),
    };
    Tensor::from_primitive(TensorPrimitive::Float(output))
}

/// What the forward pass computed and the backward pass needs.
#[derive(Clone)]
struct Forward {
    shape: Shape,
    scale: f32,
    /// `[batch, tokens, 3·inner]`, contiguous.
    qkv: FlexTensor,
    /// `[batch, tokens, inner]`, contiguous.
    out: FlexTensor,
    /// `[batch, heads, tokens]`.
    lse: Arc<Vec<f32>>,
}

impl fmt::Debug for Forward {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fused attention forward of {:?}", self.shape)
    }
}

/// The forward pass on `qkv` (`[batch, tokens, 3·heads·head_dim]`, `f32`).
fn run_forward(qkv: &FlexTensor, heads: usize, head_dim: usize) -> Forward {
    let dims = qkv.layout().shape();
    assert!(
        qkv.dtype() == DType::F32 && dims.num_dims() == 3 && dims[2] == 3 * heads * head_dim,
        "fused attention takes f32 [batch, tokens, 3·{heads}·{head_dim}], got {:?} {dims:?}",
        qkv.dtype()
    );
    let shape = Shape {
        batch: dims[0],
        tokens: dims[1],
        heads,
        head_dim,
    };
    let scale = (head_dim as f32).powf(-0.5);
    let qkv = qkv.to_contiguous();
    let Some(values) = qkv.as_slice::<f32>() else {
        unreachable!("a contiguous f32 tensor is an f32 slice")
    };
    let (out, lse) = kernel::forward(shape, values, scale);
    let out = flex_tensor(out, [shape.batch, shape.tokens, shape.inner()]);
    Forward {
        shape,
        scale,
        qkv,
        out,
        lse: Arc::new(lse),
    }
}

fn flex_tensor(values: Vec<f32>, shape: [usize; 3]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// Backward step of the fused attention: d(qkv) from d(out).
#[derive(Debug)]
struct FusedAttentionBackward;

impl Backward<Flex, 1> for FusedAttentionBackward {
    type State = Forward;

    fn backward(self, ops: Ops<Forward, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let d_out = grads.consume::<Flex>(&ops.node).to_contiguous();
        let Some(parent) = parent else { return };
        let forward = ops.state;
        let slices = (
            forward.qkv.as_slice::<f32>(),
            forward.out.as_slice::<f32>(),
            d_out.as_slice::<f32>(),
        );
        let (Some(qkv), Some(out), Some(d_out)) = slices else {
            unreachable!("the forward pass checked f32 and made these contiguous")
        };
        let shape = forward.shape;
        let d_qkv = kernel::backward(shape, qkv, out, &forward.lse, d_out, forward.scale);
        let d_qkv = flex_tensor(d_qkv, [shape.batch, shape.tokens, 3 * shape.inner()]);
        grads.register::<Flex>(parent.id, d_qkv);
    }
}
