//! Operations over the edges of a graph batch. On Flex (`f32`) a fused operation,
//! under autodiff with a backward of its own; elsewhere burn's `select` and
//! additions.

use burn::{
    backend::{Autodiff, Flex},
    tensor::{backend::Backend, DType, Int, Tensor},
};

use crate::cpu::{as_backend, gather_sum_op, same_type};

/// `a[target] + b[source] + c + bias`: `a`, `b` `[nodes, width]`, `target`,
/// `source` `[edges]` node indices, `c` `[edges, width]`, `bias` `[width]` →
/// `[edges, width]`. With `a = x·W_i`, `b = x·W_j`, `c = e·W_e` it is a linear layer
/// on `x_i ⊕ x_j ⊕ e_ij` without building that `[edges, 3·width]` input.
///
/// # Panics
/// If an index is negative or not below `nodes` (as burn's `select`).
pub fn gather_sum<B: Backend>(
    a: Tensor<B, 2>,
    target: Tensor<B, 1, Int>,
    b: Tensor<B, 2>,
    source: Tensor<B, 1, Int>,
    c: Tensor<B, 2>,
    bias: Option<Tensor<B, 1>>,
) -> Tensor<B, 2> {
    let width = c.dims()[1];
    let bias = bias.unwrap_or_else(|| Tensor::zeros([width], &c.device()));
    let all_f32 = [a.dtype(), b.dtype(), c.dtype(), bias.dtype()]
        .iter()
        .all(|&d| d == DType::F32);
    if all_f32 {
        // `b`, `c` and `bias` have `a`'s backend B: `a`'s type stands for all four.
        if let Ok(a_cpu) = same_type::<_, Tensor<Autodiff<Flex>, 2>>(a.clone()) {
            let fused = gather_sum_op::training(
                a_cpu,
                node_indices(target),
                as_backend(b),
                node_indices(source),
                as_backend(c),
                as_backend(bias),
            );
            return as_backend(fused);
        }
        if let Ok(a_cpu) = same_type::<_, Tensor<Flex, 2>>(a.clone()) {
            let fused = gather_sum_op::inference(
                a_cpu,
                node_indices(target),
                as_backend(b),
                node_indices(source),
                as_backend(c),
                as_backend(bias),
            );
            return as_backend(fused);
        }
    }
    a.select(0, target) + b.select(0, source) + c + bias.unsqueeze_dim(0)
}

/// An index tensor's values as positions.
fn node_indices<B: Backend>(indices: Tensor<B, 1, Int>) -> Vec<usize> {
    let data = indices.into_data().convert::<i64>();
    match data.as_slice::<i64>() {
        Ok(values) => values
            .iter()
            .map(|&i| usize::try_from(i).unwrap_or_else(|_| panic!("gather_sum: index {i} < 0")))
            .collect(),
        Err(e) => unreachable!("converted to i64 above: {e:?}"),
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Distribution, TensorData, Tolerance};

    use super::*;

    type Cpu = Autodiff<Flex>;

    /// Value and the gradients of all four operands against burn's `select` and
    /// additions, with repeated and missing nodes and more edges than one block.
    #[test]
    fn matches_burns_select_and_add() {
        let device = Default::default();
        let (nodes, edges, width) = (37, 1100, 20);
        let target: Vec<i64> = (0..edges).map(|e| (e * 7 % 31) as i64).collect();
        let source: Vec<i64> = (0..edges).map(|e| (e * 13 % 37) as i64).collect();
        let index = |values: &Vec<i64>| {
            Tensor::<Cpu, 1, Int>::from_data(TensorData::new(values.clone(), [edges]), &device)
        };
        let random = |shape: [usize; 2]| {
            Tensor::<Cpu, 2>::random(shape, Distribution::Normal(0.0, 1.0), &device)
        };
        let (a, b, c) = (
            random([nodes, width]),
            random([nodes, width]),
            random([edges, width]),
        );
        let bias = Tensor::<Cpu, 1>::random([width], Distribution::Normal(0.0, 1.0), &device);
        let upstream = random([edges, width]);
        let mut results = Vec::new();
        for ours in [true, false] {
            let leaf = |t: &Tensor<Cpu, 2>| {
                Tensor::<Cpu, 2>::from_data(t.clone().into_data(), &device).require_grad()
            };
            let (a, b, c) = (leaf(&a), leaf(&b), leaf(&c));
            let bias =
                Tensor::<Cpu, 1>::from_data(bias.clone().into_data(), &device).require_grad();
            let y = if ours {
                gather_sum(
                    a.clone(),
                    index(&target),
                    b.clone(),
                    index(&source),
                    c.clone(),
                    Some(bias.clone()),
                )
            } else {
                a.clone().select(0, index(&target))
                    + b.clone().select(0, index(&source))
                    + c.clone()
                    + bias.clone().unsqueeze_dim(0)
            };
            let grads = (y.clone() * upstream.clone()).sum().backward();
            results.push([
                y.into_data(),
                a.grad(&grads).unwrap().into_data(),
                b.grad(&grads).unwrap().into_data(),
                c.grad(&grads).unwrap().into_data(),
                bias.grad(&grads).unwrap().into_data(),
            ]);
        }
        for (ours, burns) in results[0].iter().zip(&results[1]) {
            ours.assert_approx_eq::<f32>(burns, Tolerance::absolute(1e-4));
        }
    }

    /// Without autodiff (evaluation), the same sum as burn's.
    #[test]
    fn inference_matches_burns_select_and_add() {
        let device = Default::default();
        let (nodes, edges, width) = (11, 700, 9);
        let target: Vec<i64> = (0..edges).map(|e| (e * 5 % 11) as i64).collect();
        let source: Vec<i64> = (0..edges).map(|e| (e * 3 % 7) as i64).collect();
        let index = |values: &Vec<i64>| {
            Tensor::<Flex, 1, Int>::from_data(TensorData::new(values.clone(), [edges]), &device)
        };
        let random = |shape: [usize; 2]| {
            Tensor::<Flex, 2>::random(shape, Distribution::Normal(0.0, 1.0), &device)
        };
        let (a, b, c) = (
            random([nodes, width]),
            random([nodes, width]),
            random([edges, width]),
        );
        let ours = gather_sum(
            a.clone(),
            index(&target),
            b.clone(),
            index(&source),
            c.clone(),
            None,
        );
        let burns = a.select(0, index(&target)) + b.select(0, index(&source)) + c;
        ours.into_data()
            .assert_approx_eq::<f32>(&burns.into_data(), Tolerance::absolute(1e-5));
    }
}
