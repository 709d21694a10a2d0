//! Counting only a probe's timed part with `perf stat`, through perf's control fifos.
//!
//! ```text
//! mkfifo /tmp/ctl /tmp/ack
//! TAILSIFT_PERF_CTL=/tmp/ctl,/tmp/ack perf stat --control fifo:/tmp/ctl,/tmp/ack -D -1 \
//!     -e cycles,instructions target/release/examples/trace_cost_probe 1 150 300
//! ```
//!
//! `-D -1` starts perf with its counters disabled; the probe enables them around its timed part
//! and waits for perf's acknowledgement each time, so the counts cover that part alone. Without
//! the variable, nothing happens.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};

/// perf's control and acknowledgement fifos, when `TAILSIFT_PERF_CTL` names them.
pub struct PerfControl {
    ctl: File,
    ack: File,
}

impl PerfControl {
    /// Opens the fifos named by `TAILSIFT_PERF_CTL` (`CTL,ACK`), or `None` when it is unset.
    /// A variable that names fifos that cannot be opened is reported and ignored.
    pub fn from_env() -> Option<PerfControl> {
        let value = std::env::var("TAILSIFT_PERF_CTL").ok()?;
        let Some((ctl, ack)) = value.split_once(',') else {
            eprintln!("TAILSIFT_PERF_CTL must be CTL_FIFO,ACK_FIFO; ignored");
            return None;
        };
        let opened = OpenOptions::new()
            .write(true)
            .open(ctl)
            .and_then(|ctl| Ok((ctl, File::open(ack)?)));
        match opened {
            Ok((ctl, ack)) => Some(PerfControl { ctl, ack }),
            Err(e) => {
                eprintln!("TAILSIFT_PERF_CTL: cannot open the fifos ({e}); ignored");
                None
            }
        }
    }

    /// Turns perf's counters on.
    pub fn enable(&mut self) {
        self.send(b"enable\n");
    }

    /// Turns perf's counters off.
    pub fn disable(&mut self) {
        self.send(b"disable\n");
    }

    fn send(&mut self, command: &[u8]) {
        let mut ack = [0u8; 5];
        let sent = self
            .ctl
            .write_all(command)
            .and_then(|()| self.ack.read_exact(&mut ack));
        if let Err(e) = sent {
            eprintln!("perf control: {e}");
        }
    }
}
