//! The matrix product `[n, k]·[k, m]` as a burn operation on Flex that writes
//! straight into its output tensor, with a backward step of its own on
//! `Autodiff<Flex>` (`dA = dY·Bᵀ`, `dB = Aᵀ·dY`, the transposes read in place).
//! burn-flex 0.21 allocates each product's output twice and copies it once to align
//! it; on PotNet's edge-sized products that copy and its page faults cost more than
//! a tenth of the training step.

use std::mem::MaybeUninit;

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
    tensor::{Tensor, TensorData, TensorPrimitive},
};

use super::{
    contiguous_f32, f32_matrix,
    matrix::{multiply_in_parallel, Layout, View, ViewMut},
    written,
};

/// Names the operation in a dtype error.
const OPERATION: &str = "the matrix product";

/// `a·b` on Flex: `a` `[n, k]`, `b` `[k, m]`, `f32` → `[n, m]`.
pub fn inference(a: Tensor<Flex, 2>, b: Tensor<Flex, 2>) -> Tensor<Flex, 2> {
    infer(a, b, Side::Plain)
}

/// `a·b` on `Autodiff<Flex>`, differentiable with respect to both: `a` `[n, k]`, `b`
/// `[k, m]`, `f32` → `[n, m]`.
pub fn training(
    a: Tensor<Autodiff<Flex>, 2>,
    b: Tensor<Autodiff<Flex>, 2>,
) -> Tensor<Autodiff<Flex>, 2> {
    train(a, b, Side::Plain)
}

/// `a·bᵀ` on Flex: `a` `[n, k]`, `b` `[m, k]`, `f32` → `[n, m]`.
pub fn inference_transposed(a: Tensor<Flex, 2>, b: Tensor<Flex, 2>) -> Tensor<Flex, 2> {
    infer(a, b, Side::RightTransposed)
}

/// `a·bᵀ` on `Autodiff<Flex>`, differentiable with respect to both, `b` read
/// transposed in place: `a` `[n, k]`, `b` `[m, k]`, `f32` → `[n, m]`.
pub fn training_transposed(
    a: Tensor<Autodiff<Flex>, 2>,
    b: Tensor<Autodiff<Flex>, 2>,
) -> Tensor<Autodiff<Flex>, 2> {
    train(a, b, Side::RightTransposed)
}

/// The product `side` of `a` and `b` on Flex.
fn infer(a: Tensor<Flex, 2>, b: Tensor<Flex, 2>, side: Side) -> Tensor<Flex, 2> {
    let (a, b) = (
        contiguous_f32(&a.into_primitive().tensor(), OPERATION),
        contiguous_f32(&b.into_primitive().tensor(), OPERATION),
    );
    Tensor::from_primitive(TensorPrimitive::Float(product(&a, &b, side)))
}

/// The product `side` (`a·b` or `a·bᵀ`) of `a` and `b` on `Autodiff<Flex>`,
/// differentiable with respect to both.
fn train(
    a: Tensor<Autodiff<Flex>, 2>,
    b: Tensor<Autodiff<Flex>, 2>,
    side: Side,
) -> Tensor<Autodiff<Flex>, 2> {
    let (a, b) = (a.into_primitive().tensor(), b.into_primitive().tensor());
    let (a_values, b_values) = (
        contiguous_f32(&a.primitive, OPERATION),
        contiguous_f32(&b.primitive, OPERATION),
    );
    let out = product(&a_values, &b_values, side);
    let output = match (MatmulBackward { side })
        .prepare::<NoCheckpointing>([a.node.clone(), b.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish((a_values, b_values), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Tensor::from_primitive(TensorPrimitive::Float(output))
}

/// Which operand of [`product`] is read transposed.
#[derive(Clone, Copy, Debug)]
enum Side {
    /// `a·b`
    Plain,
    /// `a·bᵀ`
    RightTransposed,
    /// `aᵀ·b`
    LeftTransposed,
}

/// The product of two contiguous `f32` matrices, one possibly read transposed, into
/// a new tensor.
fn product(a: &FlexTensor, b: &FlexTensor, side: Side) -> FlexTensor {
    let ((a, a_rows, a_cols), (b, b_rows, b_cols)) = (f32_matrix(a), f32_matrix(b));
    let a_view = Layout::rows(0, a_rows, a_cols, a_cols);
    let b_view = Layout::rows(0, b_rows, b_cols, b_cols);
    let (a_view, b_view) = match side {
        Side::Plain => (a_view, b_view),
        Side::RightTransposed => (a_view, b_view.transposed()),
        Side::LeftTransposed => (a_view.transposed(), b_view),
    };
    let (rows, cols) = (a_view.rows, b_view.cols);
    let len = rows
        .checked_mul(cols)
        .unwrap_or_else(|| panic!("{OPERATION}: a {rows}×{cols} product overflows"));
    let fill = |out: &mut [MaybeUninit<f32>]| {
        multiply_in_parallel(
            ViewMut::uninit(out, Layout::rows(0, rows, cols, cols)),
            View::new(a, a_view),
            View::new(b, b_view),
            1.0,
        )
    };
    // SAFETY: the product writes every element of its `rows × cols` destination,
    // which is all of `out` (`len` elements, row after row).
    let out = unsafe { written(len, fill) };
    FlexTensor::from_data(TensorData::new(out, [rows, cols]))
}

/// The backward step of `y = a·b` (`dA = dY·Bᵀ`, `dB = Aᵀ·dY`) or of `y = a·bᵀ`
/// (`dA = dY·B`, `dB = dYᵀ·A`), the transposes read in place.
#[derive(Debug)]
struct MatmulBackward {
    /// The forward product: `Side::Plain` or `Side::RightTransposed`.
    side: Side,
}

impl Backward<Flex, 2> for MatmulBackward {
    /// Both operands, contiguous.
    type State = (FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent_a, parent_b] = ops.parents;
        let d_out = grads.consume::<Flex>(&ops.node).to_contiguous();
        let (a, b) = ops.state;
        let transposed = matches!(self.side, Side::RightTransposed);
        if let Some(parent) = parent_a {
            let side = if transposed {
                Side::Plain
            } else {
                Side::RightTransposed
            };
            grads.register::<Flex>(parent.id, product(&d_out, &b, side));
        }
        if let Some(parent) = parent_b {
            let d_b = if transposed {
                product(&d_out, &a, Side::LeftTransposed)
            } else {
                product(&a, &d_out, Side::LeftTransposed)
            };
            grads.register::<Flex>(parent.id, d_b);
        }
    }
}
