//! glibc's malloc in a process that runs the engine: two settings that keep it from stalling
//! a poll.
//!
//! The engine frees what it drops — every span of a dropped trace, and a kept trace's spans once
//! the sink lets them go — on the thread that polls it, and its buffers grow and shrink with
//! the traffic. Two of glibc's defaults turn that steady work into lumps:
//!
//! - **Fastbins.** glibc keeps small freed blocks (up to 128 bytes on 64-bit machines; per span,
//!   its attribute list and its string values) in lists it does not merge, and merges them all
//!   at once on a later request those lists cannot serve. At a million spans a second that is
//!   tens of thousands of blocks at a time: in the paced mission, `malloc_consolidate` alone took
//!   up to 12 ms of single polls, and the slowest polls were those. With fastbins off
//!   (`M_MXFAST` = 0) glibc merges each block as it is freed: the same work, spread evenly.
//! - **The sliding mmap threshold.** A large request the heap has no room for is mapped on its
//!   own when it is over the mmap threshold, and grows the heap otherwise. The threshold starts
//!   at 128 KiB, and each time a mapped block is freed glibc raises it to that block's size (up
//!   to 32 MiB), and the heap's trim threshold to twice that. With the engine's large buffers
//!   (span stores, queues, tables, batches of spans) freed and grown all the time, the
//!   threshold climbs and those buffers move into the heap, where growing one may copy it and
//!   where freed space stays mapped until 64 MiB of it pile up at the top. Pinning the threshold
//!   at its initial 128 KiB (`M_MMAP_THRESHOLD`) keeps them mapped on their own: a mapped block
//!   grows by remapping, without a copy, and goes back to the system when freed. It costs more
//!   page faults (the paced mission: 388,000 against 250,000), spread evenly. Which buffers
//!   made the long polls without it was not pinned down; the polls are measured.
//!
//! Measured in `docs/BENCHMARKS.md` ("Decision latency and glibc's malloc"), on the mission
//! paced at 1 M spans/s, six runs of each alternated: with both settings the p99 decision
//! latency was 6.7–9.8 ms past the grace in wall time in every run, against 11.0–16.3 ms with
//! glibc's defaults, and the longest poll 10–16 ms against 21–25 ms; the run's peak memory fell
//! from 946 to 701 MiB, and single-threaded throughput did not move.
//!
//! The price is paid where several threads free into one arena. A freed block that fits no
//! fastbin and no per-thread cache takes its arena's lock, where a fastbin push takes none: in
//! the mission with two threads ingesting and polling (the traffic built by one of them), fastbins
//! off cost 11% of the throughput (two series of 24 runs in one process, switched between
//! blocks of two: 0.882 and 0.894 of glibc's default; the anchor 0.991), and 16–19% in separate
//! processes once policies ran with the shard unlocked (session 11). It is steepest where the
//! thread that allocates the spans keeps allocating while another frees them, as a collector's
//! receiver decodes while its engine decides (session 12): `tailsift demo`, its generator on one
//! thread and the engine on another, ran the engine at 0.6–1.3 M spans/s tuned against 1.0–2.2 M
//! on glibc's defaults; the anchor with two threads and values of their own per span (as
//! decoded) at 2.1–3.0 M against 3.7–4.5 M, where one thread ran 5% faster tuned. So a program
//! whose spans are freed by another thread than the one that allocated them should measure both
//! ways, or use mimalloc or jemalloc, which free without such a lock.
//!
//! Both settings are the process's, not the engine's, so the library never changes them by
//! itself: [`tune_glibc_malloc`] is for the program that owns the process to call at startup
//! (the benches' harness does, for its figures; the `tailsift` binary did until session 12, and
//! no longer does: none of its commands decides on the wall clock, and its demo frees across
//! threads). An embedder can call it too, set the
//! same values in `GLIBC_TUNABLES` (`glibc.malloc.mxfast=0:glibc.malloc.mmap_threshold=131072`),
//! or use another global allocator (mimalloc and jemalloc defer no such merge). Where the
//! program is not linked against glibc, or its Rust allocations go to another global
//! allocator, it changes nothing that the engine uses.
//!
//! Whoever runs such a program keeps the last word: a setting that `GLIBC_TUNABLES` names is
//! left as it says, and `TAILSIFT_GLIBC_MALLOC=defaults` leaves both as glibc has them (the way
//! to measure a program on glibc's defaults; no other value is recognized, and any other value
//! tunes as if it were unset).

use std::fmt;

/// glibc's initial mmap threshold, where [`tune_glibc_malloc`] pins it: 128 KiB.
pub const MMAP_THRESHOLD: usize = 128 * 1024;

/// What [`tune_glibc_malloc`] did with one setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    /// Set for the rest of the process.
    Applied,
    /// `GLIBC_TUNABLES` sets it: the environment's choice stands.
    LeftToEnvironment,
    /// `TAILSIFT_GLIBC_MALLOC=defaults` asked for glibc's own defaults.
    Declined,
    /// glibc refused it (`mallopt` returned 0): its default stands.
    Refused,
    /// The program is not linked against glibc: nothing to set.
    NotGlibc,
}

/// What [`tune_glibc_malloc`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GlibcTuning {
    /// Fastbins off (`M_MXFAST` = 0).
    pub fastbins_off: Setting,
    /// The mmap threshold pinned at [`MMAP_THRESHOLD`] (`M_MMAP_THRESHOLD`).
    pub mmap_threshold: Setting,
}

impl fmt::Display for GlibcTuning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let describe = |setting: Setting, applied: &'static str, name: &'static str| match setting {
            Setting::Applied => applied.to_string(),
            Setting::LeftToEnvironment => format!("{name} as GLIBC_TUNABLES sets it"),
            Setting::Refused => format!("{name} as glibc's default (mallopt refused)"),
            Setting::NotGlibc | Setting::Declined => String::new(),
        };
        match self.fastbins_off {
            Setting::NotGlibc => return f.write_str("not glibc"),
            Setting::Declined => {
                return f.write_str("glibc's defaults (TAILSIFT_GLIBC_MALLOC=defaults)")
            }
            _ => {}
        }
        write!(
            f,
            "{}, {}",
            describe(self.fastbins_off, "fastbins off", "fastbins"),
            describe(
                self.mmap_threshold,
                "mmap threshold pinned at 128 KiB",
                "mmap threshold"
            ),
        )
    }
}

/// Turns glibc's fastbins off and pins its mmap threshold for the whole process, each unless
/// the environment's `GLIBC_TUNABLES` already sets it, and neither with
/// `TAILSIFT_GLIBC_MALLOC=defaults`: see the module's docs for why. Safe to call from any
/// thread at any time, and more than once; best called first thing in `main`, before other
/// threads have allocated or freed much.
pub fn tune_glibc_malloc() -> GlibcTuning {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var_os("TAILSIFT_GLIBC_MALLOC").is_some_and(|v| v == "defaults") {
            return GlibcTuning {
                fastbins_off: Setting::Declined,
                mmap_threshold: Setting::Declined,
            };
        }
        let tunables = std::env::var_os("GLIBC_TUNABLES").unwrap_or_default();
        let tunables = tunables.to_string_lossy();
        let set = |tunable: &str, param: libc::c_int, value: libc::c_int| {
            if tunables.contains(tunable) {
                return Setting::LeftToEnvironment;
            }
            // SAFETY: `mallopt` changes a parameter of glibc's allocator under glibc's own
            // lock; both values here are documented ones. Blocks already allocated or in
            // fastbins stay valid: glibc merges the latter at its next consolidation.
            if unsafe { libc::mallopt(param, value) } == 1 {
                Setting::Applied
            } else {
                Setting::Refused
            }
        };
        GlibcTuning {
            fastbins_off: set("glibc.malloc.mxfast", libc::M_MXFAST, 0),
            mmap_threshold: set(
                "glibc.malloc.mmap_threshold",
                libc::M_MMAP_THRESHOLD,
                MMAP_THRESHOLD as libc::c_int,
            ),
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        GlibcTuning {
            fastbins_off: Setting::NotGlibc,
            mmap_threshold: Setting::NotGlibc,
        }
    }
}
