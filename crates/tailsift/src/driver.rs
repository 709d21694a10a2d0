//! A background driver for callers that do not want to call [`Engine::poll`] themselves.
//!
//! One thread polls the engine (or a [`Sampler`], which also steps its controller) with the
//! engine's own clock, and then sleeps until the next poll can find work: the earliest due time
//! of what is buffered ([`PollReport::next_due`]), so that a complete trace is decided as soon
//! as its `completion_grace` has passed rather than up to a tick later. Two bounds shape the
//! wait ([`DriverConfig`]): polls start at least `min_interval` apart, so that at a high rate,
//! when some trace is due every few microseconds, each poll decides a batch of them instead of
//! one; and the driver never sleeps longer than `max_interval`, so a clock that jumps (a manual
//! clock in tests, a suspended machine) or a controller interval is noticed in time.
//!
//! A driver may run more than one polling thread (`pollers`). Each polls on the same schedule;
//! a poll visits the shards from a different one each time and passes over a shard another
//! thread holds, and runs a chunk's policies with the shard unlocked, so pollers that wake
//! together split the batch of traces that came due between them, even within one shard, and
//! the last trace of a batch is decided sooner.
//!
//! Dropping or stopping the [`Driver`] stops its threads; stopping never decides pending traces
//! by itself (call [`Engine::shutdown`] for that), so a driver can be restarted.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::engine::{Engine, PollReport};
use crate::sampler::Sampler;

/// What a [`Driver`] polls: an [`Engine`], or a [`Sampler`] (whose poll also steps its
/// controller).
pub trait Pollable: Send + Sync + 'static {
    /// Decides what is due at the target's clock's time.
    fn poll_now(&self) -> PollReport;

    /// The target's clock's time.
    fn now(&self) -> Duration;
}

impl Pollable for Engine {
    fn poll_now(&self) -> PollReport {
        Engine::poll_now(self)
    }

    fn now(&self) -> Duration {
        self.clock().now()
    }
}

impl Pollable for Sampler {
    fn poll_now(&self) -> PollReport {
        Sampler::poll_now(self)
    }

    fn now(&self) -> Duration {
        self.engine().clock().now()
    }
}

/// How a [`Driver`] paces its polls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DriverConfig {
    /// The longest the driver sleeps between polls, whatever is due. Default 100 ms. It bounds
    /// how late a trace is decided if the clock jumps ahead of wall time, and how late a
    /// [`Sampler`]'s controller steps; when nothing is due it costs one poll per interval, which
    /// reads each shard's published due time without locking it.
    pub max_interval: Duration,
    /// The least time from the start of one poll to the start of the next. Default 1 ms: a
    /// complete trace is decided at most about this long after it is due (plus the poll's own
    /// time), and at a high rate each poll decides the batch that came due meanwhile. Lower it
    /// for tighter latency at the cost of more, smaller polls.
    pub min_interval: Duration,
    /// Polling threads. Default 1; 0 counts as 1. More than one helps where a poll decides
    /// many traces at once and a core is free for each: on a 2-core machine ingesting 1 M
    /// spans/s on one thread, a second poller brought the wall-time p99 of decision latency
    /// down by about 1 ms and its maximum by about 3 ms (`docs/BENCHMARKS.md`, "Decision
    /// latency and glibc's malloc"). Pollers beyond the free cores add only wake-ups: an idle
    /// poll costs about 100 ns.
    pub pollers: usize,
}

impl Default for DriverConfig {
    fn default() -> DriverConfig {
        DriverConfig {
            max_interval: Duration::from_millis(100),
            min_interval: Duration::from_millis(1),
            pollers: 1,
        }
    }
}

impl DriverConfig {
    /// How long to sleep after a poll that started at engine time `started` and reported
    /// `next_due`, when the clock now reads `now`: until `next_due`, but no sooner than
    /// `min_interval` after `started` and no longer than `max_interval`.
    pub fn wait(&self, started: Duration, next_due: Duration, now: Duration) -> Duration {
        let until_due = next_due.saturating_sub(now);
        let until_min = (started + self.min_interval).saturating_sub(now);
        until_due.max(until_min).min(self.max_interval)
    }
}

/// A running background poller: one thread or more ([`DriverConfig::pollers`]).
pub struct Driver {
    /// Dropped to stop the threads: their waits end disconnected.
    stop: Option<Sender<()>>,
    threads: Vec<JoinHandle<()>>,
}

impl Driver {
    /// Starts polling `engine` whenever something comes due, and at least every `every` (see
    /// [`DriverConfig::max_interval`]; polls start at least 1 ms apart, or `every` if shorter).
    pub fn start(engine: Arc<Engine>, every: Duration) -> std::io::Result<Driver> {
        let every = every.max(Duration::from_millis(1));
        Driver::start_with(
            engine,
            DriverConfig {
                max_interval: every,
                min_interval: DriverConfig::default().min_interval.min(every),
                ..DriverConfig::default()
            },
        )
    }

    /// Starts polling `target` (an [`Engine`] or a [`Sampler`]) as `config` says. If a thread
    /// cannot be spawned, those already started are stopped and the error returned.
    pub fn start_with<P: Pollable>(
        target: Arc<P>,
        config: DriverConfig,
    ) -> std::io::Result<Driver> {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let mut driver = Driver {
            stop: Some(stop),
            threads: Vec::new(),
        };
        for i in 0..config.pollers.max(1) {
            let target = target.clone();
            let stopped = stopped.clone();
            let name = match i {
                0 => "tailsift-driver".to_string(),
                i => format!("tailsift-driver-{}", i + 1),
            };
            let thread = std::thread::Builder::new()
                .name(name)
                .spawn(move || poll_until_stopped(&*target, &config, &stopped));
            match thread {
                Ok(thread) => driver.threads.push(thread),
                Err(err) => {
                    driver.halt();
                    return Err(err);
                }
            }
        }
        Ok(driver)
    }

    /// Stops the threads and waits for them.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.take();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// One polling thread: polls, then waits as `config` says, until the driver's sender is gone.
fn poll_until_stopped<P: Pollable>(target: &P, config: &DriverConfig, stopped: &Receiver<()>) {
    loop {
        let started = target.now();
        let wall = Instant::now();
        let report = target.poll_now();
        let mut wait = config.wait(started, report.next_due, target.now());
        // The engine's clock may be manual (or stopped): never poll faster than
        // `min_interval` of wall time either.
        wait = wait.max(config.min_interval.saturating_sub(wall.elapsed()));
        match stopped.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.halt();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn waits_until_the_next_due_time() {
        let config = DriverConfig::default();
        // Polled at 10 s, the poll took 0.2 ms, the next trace is due at 10.040 s.
        let wait = config.wait(ms(10_000), ms(10_040), Duration::from_micros(10_000_200));
        assert_eq!(wait, Duration::from_micros(39_800));
    }

    #[test]
    fn polls_start_at_least_min_interval_apart() {
        let config = DriverConfig::default();
        // Something is already due again: wait out the rest of the 1 ms from the poll's start.
        let wait = config.wait(ms(10_000), ms(9_999), Duration::from_micros(10_000_300));
        assert_eq!(wait, Duration::from_micros(700));
        // A poll that took longer than min_interval is followed at once.
        assert_eq!(
            config.wait(ms(10_000), ms(10_000), ms(10_004)),
            Duration::ZERO
        );
    }

    #[test]
    fn never_sleeps_longer_than_max_interval() {
        let config = DriverConfig::default();
        assert_eq!(config.wait(ms(0), ms(30_000), ms(0)), ms(100));
    }
}
