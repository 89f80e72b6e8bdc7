//! Tensor operations for any burn backend that run fused, vectorized kernels when
//! the tensors live on burn's CPU backend (Flex): multi-head self-attention (with
//! its own backward under autodiff), sigmoid, SiLU, ReLU and GELU (likewise),
//! matrix products and linear layers that write straight into their output
//! (likewise), batch normalization in training and layer normalization (likewise), the per-edge
//! sum of gathered node rows (likewise), and 3-D convolutions and max-pooling of
//! channels-last volumes (likewise); and softplus that does not overflow `f32`, on
//! any backend.

pub mod activation;
pub mod attention;
pub mod conv;
pub mod graph;
pub mod linear;
pub mod norm;
pub mod pool;

pub use activation::{gelu, relu, sigmoid, silu, softplus};
pub use attention::self_attention;
pub use conv::{conv3d_rows, Conv3dGeometry};
pub use graph::gather_sum;
pub use linear::{linear, matmul, matmul_transposed};
pub use norm::{batch_norm, layer_norm, normalize_batch, update_running, BatchNormalized};
pub use pool::max_pool_rows;
