//! Tensor operations for any burn backend that run fused, vectorized kernels when
//! the tensors live on burn's CPU backend (Flex): multi-head self-attention (with
//! its own backward under autodiff), sigmoid and SiLU (likewise), and GELU
//! (inference).

pub mod activation;
pub mod attention;

pub use activation::{gelu, sigmoid, silu};
pub use attention::self_attention;
