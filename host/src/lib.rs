//! The mmhost host runtime: finds and loads plugin libraries, instantiates their
//! featurizers, encoders and losses, and drives split back-propagation across them.
//! The `mmhost` binary is a thin CLI over this library.

pub mod atomic;
pub mod backprop;
pub mod batches;
pub mod catalog;
pub mod dataset;
pub mod downstream;
pub mod featurize;
pub mod finetune;
pub mod hash;
pub mod head;
pub mod import;
pub mod inputs;
pub mod plot;
pub mod plugins;
pub mod run;
pub mod session;
pub mod settings;
pub mod train;
