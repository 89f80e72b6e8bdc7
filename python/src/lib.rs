//! `mmhost._native`: the Rust side of the `mmhost` Python package. The Python
//! modules beside it turn pymatgen, ASE and NumPy objects into the plain inputs
//! these functions take, and results back into NumPy arrays.

mod dataset;
mod errors;
mod inputs;
mod interrupt;
mod models;
mod search;
mod training;

use pyo3::prelude::*;

#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(module)?;
    module.add_class::<models::FinetunedModel>()?;
    module.add_class::<models::PretrainedModel>()?;
    module.add_class::<dataset::Dataset>()?;
    module.add_function(wrap_pyfunction!(training::train, module)?)?;
    module.add_function(wrap_pyfunction!(training::finetune, module)?)?;
    module.add_function(wrap_pyfunction!(search::plugin_dirs, module)?)?;
    module.add_function(wrap_pyfunction!(search::build_profile_dir, module)?)?;
    module.add_function(wrap_pyfunction!(search::repository_models_dir, module)?)?;
    Ok(())
}
