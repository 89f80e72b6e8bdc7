//! A request to stop a long computation (training, fine-tuning) at the next step,
//! from another thread: a Ctrl-C seen by the Python package, for one.

use std::{
    ops::ControlFlow,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
};

/// Shared stop flag; clones see the same flag. The default is never requested.
#[derive(Clone, Debug, Default)]
pub struct Interrupt(Arc<AtomicBool>);

impl Interrupt {
    /// Asks the computation holding a clone to stop at its next step.
    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was requested.
    pub fn is_requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// `Break` once a stop was requested, `Continue` before: what a progress
    /// callback returns to stop the loop calling it.
    pub fn flow(&self) -> ControlFlow<()> {
        if self.is_requested() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}
