//! Kernels for burn's CPU backend (Flex) written over plain `f32` slices: fused
//! multi-head attention with its own backward (`attention_kernel`, wrapped as burn
//! operations in `attention_op`), strided matrix products over the `gemm` crate
//! (`matrix`, as a burn operation in `matmul_op`), branch-free row functions the
//! compiler vectorizes (`vector`, as activations in `activation_op`), and fused
//! batch and layer normalization (`batch_norm_op`, `layer_norm_op`), per-edge
//! gathered sums (`gather_sum_op`) and channels-last 3-D convolutions
//! (`conv_kernel`, with a direct path for narrow groups in `conv_direct`, as a burn
//! operation in `conv_op`) and their max-pooling (`pool_op`), each with its own
//! backward. [`crate::ops`] chooses them when a tensor lives on Flex.

/// Defines a function whose body is compiled three times — for AVX-512
/// (16 lanes), for AVX2 + FMA (8 lanes) and for the x86-64 baseline (SSE2, 4
/// lanes) — and picked at run time. The body is an `#[inline(always)]` function
/// called from each `#[target_feature]` wrapper, so the loops and the
/// `#[inline(always)]` helpers it calls are inlined and vectorized there (a closure
/// passed to a `#[target_feature]` function is not inlined into it and would run as
/// baseline code; closures passed to `#[inline(always)]` helpers such as `map`
/// inside the body are). The versions run the same operations in the same order,
/// so their results are the same.
macro_rules! multiversioned {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn portable($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx512($($arg: $ty),*) $(-> $ret)? {
                    portable($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                    portable($($arg),*)
                }
                match $crate::cpu::Simd::detect() {
                    // SAFETY: the CPU has AVX-512F, AVX2 and FMA (Simd::detect).
                    $crate::cpu::Simd::Avx512 => return unsafe { avx512($($arg),*) },
                    // SAFETY: the CPU has AVX2 and FMA (Simd::detect).
                    $crate::cpu::Simd::Avx2 => return unsafe { avx2($($arg),*) },
                    $crate::cpu::Simd::Baseline => {}
                }
            }
            portable($($arg),*)
        }
    };
}

pub(crate) mod activation_op;
pub(crate) mod attention_kernel;
pub(crate) mod attention_op;
pub(crate) mod batch_norm_op;
pub(crate) mod conv_direct;
pub(crate) mod conv_kernel;
pub(crate) mod conv_op;
pub(crate) mod gather_sum_op;
pub(crate) mod layer_norm_op;
pub(crate) mod matmul_op;
pub(crate) mod matrix;
pub(crate) mod pool_op;
pub(crate) mod vector;

use std::{any::Any, mem::MaybeUninit};

use burn::{
    backend::{flex::FlexTensor, Autodiff, Flex},
    tensor::{backend::Backend, DType, Tensor},
};

/// `x` through `training` when it is an `f32` tensor of `Autodiff<Flex>`, through
/// `inference` when of Flex, else through `otherwise` (other backends, other dtypes).
pub(crate) fn by_backend<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    training: impl FnOnce(Tensor<Autodiff<Flex>, D>) -> Tensor<Autodiff<Flex>, D>,
    inference: impl FnOnce(Tensor<Flex, D>) -> Tensor<Flex, D>,
    otherwise: impl FnOnce(Tensor<B, D>) -> Tensor<B, D>,
) -> Tensor<B, D> {
    if x.dtype() != DType::F32 {
        return otherwise(x);
    }
    let x = match same_type::<_, Tensor<Autodiff<Flex>, D>>(x) {
        Ok(cpu) => return as_backend(training(cpu)),
        Err(other) => other,
    };
    match same_type::<_, Tensor<Flex, D>>(x) {
        Ok(cpu) => as_backend(inference(cpu)),
        Err(other) => otherwise(other),
    }
}

/// `value` as a `T` when `A` is `T`, else `value` back. burn picks backends by type
/// at compile time; this is how the CPU ones are recognized.
pub(crate) fn same_type<A: 'static, T: 'static>(value: A) -> Result<T, A> {
    let mut slot = Some(value);
    let any: &mut dyn Any = &mut slot;
    if let Some(value) = any.downcast_mut::<Option<T>>().and_then(Option::take) {
        return Ok(value);
    }
    match slot {
        Some(value) => Err(value),
        None => unreachable!("taken only when the types are the same"),
    }
}

/// `tensor` as the `Tensor<B, D>` it is known to be: a result on a CPU backend
/// converted back, or an operand of the backend a first operand was found to have
/// by [`same_type`] converted along with it.
pub(crate) fn as_backend<A: 'static, B: Backend, const D: usize>(tensor: A) -> Tensor<B, D> {
    match same_type(tensor) {
        Ok(tensor) => tensor,
        Err(_) => unreachable!("a Tensor<B, D> of the backend found by same_type"),
    }
}

/// The widest vector instructions the kernels' multiversioned functions may use
/// on this CPU: their `#[target_feature(enable = "avx512f,avx2,fma")]` versions are
/// called only for `Avx512`, their `"avx2,fma"` ones only for `Avx2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) enum Simd {
    /// AVX-512F with AVX2 and FMA: 16 lanes of `f32`.
    Avx512,
    /// AVX2 with FMA: 8 lanes.
    Avx2,
    /// The target's baseline (SSE2 on x86-64).
    Baseline,
}

impl Simd {
    /// What this CPU has.
    pub(crate) fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            if is_x86_feature_detected!("avx512f") {
                return Self::Avx512;
            }
            return Self::Avx2;
        }
        Self::Baseline
    }
}

/// `x` contiguous and covering its whole buffer (copied if it is not); panics unless
/// it holds `f32`, naming `operation`.
pub(crate) fn contiguous_f32(x: &FlexTensor, operation: &str) -> FlexTensor {
    assert!(
        x.dtype() == DType::F32,
        "{operation} takes f32, got {:?}",
        x.dtype()
    );
    x.to_contiguous()
}

/// The values of a contiguous `f32` tensor: one made by [`contiguous_f32`], or the
/// gradient of an `f32` operation made contiguous.
pub(crate) fn f32_values(x: &FlexTensor) -> &[f32] {
    match x.as_slice::<f32>() {
        Some(values) => values,
        None => unreachable!("a contiguous f32 tensor"),
    }
}

/// A contiguous `f32` matrix's values, rows and columns (see [`f32_values`]).
pub(crate) fn f32_matrix(x: &FlexTensor) -> (&[f32], usize, usize) {
    let [rows, cols] = x.layout().shape().dims::<2>();
    (f32_values(x), rows, cols)
}

/// A new vector of `len` elements, every one of which `fill` writes, without the
/// zeroing pass `vec![0.0; len]` makes first (memory the kernels then overwrite:
/// 8.5 % of a PotNet fine-tuning profile went to that `memset`).
///
/// # Safety
/// When `fill` returns normally, it has written every element of the slice it is
/// given (a panic part way is fine: nothing is then read).
pub(crate) unsafe fn written<T>(len: usize, fill: impl FnOnce(&mut [MaybeUninit<T>])) -> Vec<T> {
    let mut values = Vec::with_capacity(len);
    fill(&mut values.spare_capacity_mut()[..len]);
    // SAFETY: the capacity is at least `len`, and the caller's `fill` initialized
    // the first `len` elements.
    unsafe { values.set_len(len) };
    values
}
