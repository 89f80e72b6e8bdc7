//! Parameters by module path: deterministic ids and named gradients.

use burn::{
    module::{AutodiffModule, Module, ModuleMapper, ModuleVisitor, Param, ParamId},
    optim::GradientsParams,
    tensor::{
        backend::{AutodiffBackend, Backend},
        ElementConversion, Tensor,
    },
};

/// A named f32 tensor copied out of burn: module path, shape and row-major values.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    /// Module path, e.g. `blocks.0.attention.qkv.weight`.
    pub name: String,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub values: Vec<f32>,
}

/// Gives every float parameter an id derived from its module path (FNV-1a of
/// `blocks.0.attention.qkv.weight`). burn draws ids at random per process; path ids
/// make optimizer state, which is keyed by id, valid across processes.
pub fn assign_path_ids<B: Backend, M: Module<B>>(module: M) -> M {
    module.map(&mut PathIds::default())
}

#[derive(Default)]
struct PathIds {
    path: Vec<String>,
}

impl<B: Backend> ModuleMapper<B> for PathIds {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (_, tensor, mapper) = param.consume();
        let id = ParamId::from(fnv1a(&self.path.join(".")));
        Param::from_mapped_value(id, tensor, mapper)
    }
}

/// FNV-1a (64-bit, the `fnv` crate) of `text`: stable across processes and builds,
/// unlike std's hasher.
fn fnv1a(text: &str) -> u64 {
    let mut hasher = fnv::FnvHasher::default();
    std::hash::Hasher::write(&mut hasher, text.as_bytes());
    std::hash::Hasher::finish(&hasher)
}

/// The gradients in `grads` of every float parameter of `module`, by module path,
/// in module order. Parameters without a gradient are left out.
pub fn named_gradients<B: AutodiffBackend, M: AutodiffModule<B>>(
    module: &M,
    grads: &GradientsParams,
) -> Vec<NamedTensor> {
    let mut collector = GradientCollector {
        path: Vec::new(),
        grads,
        out: Vec::new(),
    };
    module.visit(&mut collector);
    collector.out
}

struct GradientCollector<'a> {
    path: Vec<String>,
    grads: &'a GradientsParams,
    out: Vec<NamedTensor>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for GradientCollector<'_> {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(grad) = self.grads.get::<B::InnerBackend, D>(param.id) {
            let shape = grad.dims().to_vec();
            if let Ok(values) = grad.into_data().convert::<f32>().to_vec::<f32>() {
                self.out.push(NamedTensor {
                    name: self.path.join("."),
                    shape,
                    values,
                });
            }
        }
    }
}

/// Stores every gradient in `grads` in row-major order. Some of burn's backward
/// passes return strided views (a convolution's weight gradient is a transposed
/// one); each of the norm's and the optimizer's element-wise operations would
/// otherwise walk those strides again. One copy here, none for gradients that
/// are already contiguous.
pub(crate) fn contiguous_gradients<B: AutodiffBackend, M: AutodiffModule<B>>(
    module: &M,
    grads: &mut GradientsParams,
) {
    struct Contiguous<'a> {
        grads: &'a mut GradientsParams,
    }
    impl<B: AutodiffBackend> ModuleVisitor<B> for Contiguous<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if let Some(grad) = self.grads.remove::<B::InnerBackend, D>(param.id) {
                let dims = grad.dims();
                let flat = grad.reshape([dims.iter().product::<usize>()]);
                self.grads
                    .register::<B::InnerBackend, D>(param.id, flat.reshape(dims));
            }
        }
    }
    module.visit(&mut Contiguous { grads });
}

/// Scales every gradient in `grads` by `factor` (global-norm clipping).
pub(crate) fn scale_gradients<B: AutodiffBackend, M: AutodiffModule<B>>(
    module: &M,
    grads: &mut GradientsParams,
    factor: f32,
) {
    struct Scaler<'a> {
        grads: &'a mut GradientsParams,
        factor: f32,
    }
    impl<B: AutodiffBackend> ModuleVisitor<B> for Scaler<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if let Some(grad) = self.grads.remove::<B::InnerBackend, D>(param.id) {
                self.grads
                    .register::<B::InnerBackend, D>(param.id, grad.mul_scalar(self.factor));
            }
        }
    }
    module.visit(&mut Scaler { grads, factor });
}

/// The global L2 norm of the gradients of `module`'s parameters.
pub(crate) fn gradient_norm<B: AutodiffBackend, M: AutodiffModule<B>>(
    module: &M,
    grads: &GradientsParams,
) -> f64 {
    struct SquaredSum<'a> {
        grads: &'a GradientsParams,
        total: f64,
    }
    impl<B: AutodiffBackend> ModuleVisitor<B> for SquaredSum<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if let Some(grad) = self.grads.get::<B::InnerBackend, D>(param.id) {
                let sum: f32 = grad.clone().mul(grad).sum().into_scalar().elem();
                self.total += f64::from(sum);
            }
        }
    }
    let mut sum = SquaredSum { grads, total: 0.0 };
    module.visit(&mut sum);
    sum.total.sqrt()
}
