//! Tensor operations for any burn backend that run fused, vectorized kernels when
//! the tensors live on burn's CPU backend (Flex): multi-head self-attention (with
//! its own backward under autodiff), sigmoid and SiLU (likewise), GELU
//! (inference), matrix products and linear layers that write straight into their
//! output (likewise), batch normalization in training (likewise), and the
//! per-edge sum of gathered node rows (likewise).

pub mod activation;
pub mod attention;
pub mod graph;
pub mod linear;
pub mod norm;

pub use activation::{gelu, sigmoid, silu};
pub use attention::self_attention;
pub use graph::gather_sum;
pub use linear::{linear, matmul};
pub use norm::{batch_norm, normalize_batch, update_running, BatchNormalized};
