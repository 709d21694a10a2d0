//! A background driver for callers that do not want to call [`Engine::poll`] themselves.
//!
//! One thread wakes on a crossbeam ticker and polls the engine with the engine's own clock.
//! Dropping or stopping the [`Driver`] stops the thread; stopping never decides pending traces
//! by itself (call [`Engine::shutdown`] for that), so a driver can be restarted.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{select, tick, Sender};

use crate::engine::Engine;

/// A running background poller.
pub struct Driver {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Driver {
    /// Starts polling `engine` every `every` (a tenth of `completion_grace` is a good choice:
    /// decisions are then at most that late).
    pub fn start(engine: Arc<Engine>, every: Duration) -> std::io::Result<Driver> {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(1);
        let ticker = tick(every.max(Duration::from_millis(1)));
        let thread = std::thread::Builder::new()
            .name("tailsift-driver".into())
            .spawn(move || loop {
                select! {
                    recv(ticker) -> _ => { engine.poll_now(); }
                    recv(stopped) -> _ => break,
                }
            })?;
        Ok(Driver {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Stops the thread and waits for it.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.halt();
    }
}
