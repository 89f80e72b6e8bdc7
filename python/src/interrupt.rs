//! Long calls run on a worker thread while the calling thread, without the GIL,
//! waits for them and checks for signals: Ctrl-C raises `KeyboardInterrupt` after
//! the work stops at its next step (training leaves a checkpoint of that step).

use std::{thread, time::Duration};

use mmhost::run::Interrupt;
use pyo3::prelude::*;

/// How often the waiting thread looks for signals.
const POLL: Duration = Duration::from_millis(50);

/// Runs `work` on a scoped worker thread; on a signal, requests `interrupt`, waits
/// for `work` to return and raises the signal's exception.
pub fn run<T: Send>(
    py: Python<'_>,
    interrupt: &Interrupt,
    work: impl FnOnce() -> T + Send,
) -> PyResult<T> {
    thread::scope(|scope| {
        let worker = scope.spawn(work);
        loop {
            let finished = py.detach(|| {
                thread::sleep(POLL);
                worker.is_finished()
            });
            if finished {
                break;
            }
            if let Err(signal) = py.check_signals() {
                interrupt.request();
                let _ = py.detach(|| worker.join());
                return Err(signal);
            }
        }
        worker
            .join()
            .map_err(|_| super::errors::failed("the mmhost worker thread panicked"))
    })
}
