//! The end-to-end tests, linked as one test binary (one link of the host and burn
//! instead of one per file). Each module checks one capability; shared helpers
//! (where the built binary, plugins and real data are) live in `mmhost_tests`.

mod charge_encoder;
mod clip_loss;
mod configuration;
mod crystal_encoders;
mod data_import;
mod data_parallel;
mod describe;
mod downstream;
mod feature_cache;
mod finetune;
mod hostile_input;
mod learning;
mod plugin_faults;
mod plugin_loading;
mod plugin_lock;
mod shipped_models;
mod split_backprop;
mod text_encoder;
mod training;
mod xrd_example;
