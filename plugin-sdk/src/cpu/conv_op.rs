//! The channels-last 3-D convolution (`conv_kernel`, `conv_direct`) as burn
//! operations: on Flex for inference and on `Autodiff<Flex>` for training, with a
//! backward step of its own that reads the input again instead of keeping gathered
//! receptive fields.

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

use super::{contiguous_f32, conv_kernel::Plan, f32_values};
use crate::ops::Conv3dGeometry;

/// Names the operation in a dtype error.
const OPERATION: &str = "conv3d";

/// The convolution on Flex: `x` `[batch·d·h·w, c_in]`, `weight` `[c_out,
/// c_in/groups, kd, kh, kw]`, `f32` → `[batch·d'·h'·w', c_out]`.
pub fn inference(
    x: Tensor<Flex, 2>,
    weight: Tensor<Flex, 5>,
    geometry: Conv3dGeometry,
) -> Tensor<Flex, 2> {
    let c_out = weight.dims()[0];
    let (x, weight) = (
        contiguous_f32(&x.into_primitive().tensor(), OPERATION),
        contiguous_f32(&weight.into_primitive().tensor(), OPERATION),
    );
    let plan = Plan::new(geometry, x.layout().shape().dims::<2>()[1], c_out);
    Tensor::from_primitive(TensorPrimitive::Float(run_forward(&plan, &x, &weight)))
}

/// The convolution on `Autodiff<Flex>`, differentiable with respect to `x` and
/// `weight` (shapes as [`inference`]).
pub fn training(
    x: Tensor<Autodiff<Flex>, 2>,
    weight: Tensor<Autodiff<Flex>, 5>,
    geometry: Conv3dGeometry,
) -> Tensor<Autodiff<Flex>, 2> {
    let c_out = weight.dims()[0];
    let (x, weight) = (
        x.into_primitive().tensor(),
        weight.into_primitive().tensor(),
    );
    let (x_values, weight_values) = (
        contiguous_f32(&x.primitive, OPERATION),
        contiguous_f32(&weight.primitive, OPERATION),
    );
    let plan = Plan::new(geometry, x_values.layout().shape().dims::<2>()[1], c_out);
    let out = run_forward(&plan, &x_values, &weight_values);
    let output = match Conv3dBackward
        .prepare::<NoCheckpointing>([x.node.clone(), weight.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(
            Saved {
                plan,
                x: x_values,
                weight: weight_values,
            },
            out,
        ),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Tensor::from_primitive(TensorPrimitive::Float(output))
}

/// The forward pass into a new `[batch·out points, c_out]` tensor.
fn run_forward(plan: &Plan, x: &FlexTensor, weight: &FlexTensor) -> FlexTensor {
    let out = plan.forward(f32_values(x), f32_values(weight));
    FlexTensor::from_data(TensorData::new(out, [plan.out_rows(), plan.out_channels]))
}

/// What the backward step needs: the plan and both operands, contiguous.
#[derive(Clone, Debug)]
struct Saved {
    plan: Plan,
    x: FlexTensor,
    weight: FlexTensor,
}

#[derive(Debug)]
struct Conv3dBackward;

impl Backward<Flex, 2> for Conv3dBackward {
    type State = Saved;

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent_x, parent_weight] = ops.parents;
        let d_out = grads.consume::<Flex>(&ops.node).to_contiguous();
        let Saved { plan, x, weight } = ops.state;
        let (d_x, d_weight) = plan.backward(
            f32_values(&x),
            f32_values(&weight),
            f32_values(&d_out),
            parent_x.is_some(),
            parent_weight.is_some(),
        );
        if let (Some(parent), Some(d_x)) = (parent_x, d_x) {
            let shape = [plan.in_rows(), plan.in_channels];
            grads.register::<Flex>(
                parent.id,
                FlexTensor::from_data(TensorData::new(d_x, shape)),
            );
        }
        if let (Some(parent), Some(d_weight)) = (parent_weight, d_weight) {
            let shape = weight.layout().shape().dims::<5>();
            let d_weight = FlexTensor::from_data(TensorData::new(d_weight, shape));
            grads.register::<Flex>(parent.id, d_weight);
        }
    }
}
