//! Long calls run on a worker thread while the calling thread, without the GIL,
//! waits for them: it returns as soon as the work ends, runs the Python callbacks
//! the work reports through (so they run on the caller's thread, and an exception
//! they raise stops the work), and checks for signals. Ctrl-C raises
//! `KeyboardInterrupt` once the work has stopped at its next step (training leaves a
//! checkpoint of that step).

use std::{thread, time::Duration};

use crossbeam_channel::{unbounded, RecvTimeoutError};
use mmhost::run::Interrupt;
use pyo3::prelude::*;

use crate::errors;

/// How often the waiting thread looks for signals.
const POLL: Duration = Duration::from_millis(50);

/// What the worker sends the waiting thread.
enum Event<T> {
    /// A line for the Python callback (JSON).
    Message(String),
    Done(T),
}

/// Runs `work` on a scoped worker thread. `work` gets a function that hands a
/// message to `callback` (called on this thread). On a signal or an exception of
/// the callback, requests `interrupt`, waits for `work` to return and raises.
pub fn run<T: Send>(
    py: Python<'_>,
    interrupt: &Interrupt,
    callback: Option<&Py<PyAny>>,
    work: impl FnOnce(&dyn Fn(String)) -> T + Send,
) -> PyResult<T> {
    let (sender, receiver) = unbounded::<Event<T>>();
    thread::scope(|scope| {
        scope.spawn(move || {
            let report = |message: String| {
                let _ = sender.send(Event::Message(message));
            };
            let done = work(&report);
            let _ = sender.send(Event::Done(done));
        });
        let mut failure: Option<PyErr> = None;
        loop {
            match py.detach(|| receiver.recv_timeout(POLL)) {
                Ok(Event::Done(value)) => return failure.map_or(Ok(value), Err),
                Ok(Event::Message(message)) => {
                    if let (Some(callback), None) = (callback, &failure) {
                        if let Err(error) = callback.call1(py, (message,)) {
                            interrupt.request();
                            failure = Some(error);
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(failure
                        .unwrap_or_else(|| errors::failed("the mmhost worker thread panicked")))
                }
            }
            // After every event, not only on timeouts: a stream of messages must not
            // keep a Ctrl-C waiting.
            if failure.is_none() {
                if let Err(signal) = py.check_signals() {
                    interrupt.request();
                    failure = Some(signal);
                }
            }
        }
    })
}
