//! glibc's malloc in a process that runs the engine: turning its fastbins off.
//!
//! The engine frees what it drops — every span of a dropped trace, and a kept trace's spans once
//! the sink lets them go — on the thread that polls it. Most of a span's heap blocks are small
//! (its attribute list, its string values), and glibc's malloc puts small freed blocks (up to
//! 128 bytes on 64-bit machines) in *fastbins*: lists it does not merge with their neighbours.
//! The merge is deferred to the next request that fastbins cannot serve (a block over 1 KiB,
//! say), which then merges and sorts *every* fastbin block of that arena at once. At a million
//! spans a second that is tens of thousands of blocks: the poll that meets it stalls for 5–20
//! ms, and the traces due meanwhile wait for the next poll. In the paced mission (1 M spans/s,
//! `docs/BENCHMARKS.md`, "Decision latency and glibc's fastbins"), `malloc_consolidate` alone
//! took up to 12 ms of single polls, and the slowest polls were those.
//!
//! With fastbins off, glibc merges each small block as it is freed: the same work, spread
//! evenly. The paced mission's p99 poll went from 11–13 ms to 8–10 ms and its decision
//! latency p99 from 4.7–7.9 ms past the grace to 2.3–3.7 ms; throughput did not move (the
//! mission's instructions fell 1.5%).
//!
//! The setting is the process's, not the engine's, so the library never changes it by itself:
//! [`glibc_fastbins_off`] is for the program that owns the process to call at startup (the
//! `tailsift` binary and the benches' harness do). An embedder can call it too, set
//! `GLIBC_TUNABLES=glibc.malloc.mxfast=0` in the environment instead, or use another global
//! allocator (mimalloc and jemalloc defer no such merge). Where the program is not linked
//! against glibc, or its Rust allocations go to another global allocator, it changes nothing
//! that the engine uses.

/// What [`glibc_fastbins_off`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FastbinsOff {
    /// glibc's fastbins are off for the rest of the process.
    Applied,
    /// `GLIBC_TUNABLES` sets `glibc.malloc.mxfast`: the environment's choice stands.
    LeftToEnvironment,
    /// glibc refused the setting (`mallopt` returned 0); its fastbins stay on.
    Refused,
    /// The program is not linked against glibc: nothing to turn off.
    NotGlibc,
}

impl FastbinsOff {
    /// A short description for reports: `"fastbins off"`, and so on.
    pub fn describe(self) -> &'static str {
        match self {
            FastbinsOff::Applied => "fastbins off (M_MXFAST=0)",
            FastbinsOff::LeftToEnvironment => "fastbins as GLIBC_TUNABLES sets them",
            FastbinsOff::Refused => "fastbins on (mallopt refused M_MXFAST=0)",
            FastbinsOff::NotGlibc => "not glibc",
        }
    }
}

/// Turns glibc's fastbins off for the whole process (`mallopt(M_MXFAST, 0)`), unless the
/// environment's `GLIBC_TUNABLES` already sets them: see the module's docs for why. Safe to
/// call from any thread at any time, and more than once; best called first thing in `main`,
/// before other threads have freed anything.
pub fn glibc_fastbins_off() -> FastbinsOff {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let tunables = std::env::var_os("GLIBC_TUNABLES").unwrap_or_default();
        if tunables.to_string_lossy().contains("glibc.malloc.mxfast") {
            return FastbinsOff::LeftToEnvironment;
        }
        // SAFETY: `mallopt` changes a parameter of glibc's allocator under glibc's own lock;
        // M_MXFAST = 0 is a documented value (no fastbins). Blocks already in fastbins stay
        // valid and are merged by glibc's next consolidation.
        if unsafe { libc::mallopt(libc::M_MXFAST, 0) } == 1 {
            FastbinsOff::Applied
        } else {
            FastbinsOff::Refused
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        FastbinsOff::NotGlibc
    }
}
