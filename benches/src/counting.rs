//! A counting global allocator: how many allocations, how many bytes, how many bytes live.
//!
//! The harness and the allocation tests install it with
//!
//! ```ignore
//! #[global_allocator]
//! static GLOBAL: tailsift_benches::counting::CountingAlloc = tailsift_benches::counting::CountingAlloc;
//! ```
//!
//! It wraps the system's allocator ([`System`](std::alloc::System), glibc malloc here), or
//! mimalloc or jemalloc with the crate's `mimalloc` or `jemalloc` feature ([`ALLOCATOR`] names
//! it), and keeps four process-wide relaxed atomics. Counting can be switched off
//! ([`set_enabled`]) so timed runs do not pay for the shared counters (two threads that allocate
//! would contend on their cache line); a run that needs counts switches it on for its whole
//! length, so every allocation it counts is matched by the free it counts.
//!
//! Without the allocator installed the counters stay at zero and [`installed`] is false.
//!
//! The harness's programs call [`set_up`] first thing: glibc's malloc tuned as the `tailsift`
//! binary tunes it ([`tailsift::malloc`]). To measure glibc's defaults instead, run them with
//! `TAILSIFT_GLIBC_MALLOC=defaults`; [`allocator`] says which it was.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::OnceLock;

use tailsift::malloc::{tune_glibc_malloc, GlibcTuning};

#[cfg(feature = "mimalloc")]
use mimalloc::MiMalloc as Inner;
#[cfg(not(any(feature = "mimalloc", feature = "jemalloc")))]
use std::alloc::System as Inner;
#[cfg(all(feature = "jemalloc", not(feature = "mimalloc")))]
use tikv_jemallocator::Jemalloc as Inner;

/// The allocator [`CountingAlloc`] wraps, as the harness reports it.
pub const ALLOCATOR: &str = if cfg!(feature = "mimalloc") {
    "mimalloc"
} else if cfg!(feature = "jemalloc") {
    "jemalloc"
} else {
    "the system's (glibc malloc)"
};

/// What [`set_up`] did to glibc's malloc.
static TUNING: OnceLock<GlibcTuning> = OnceLock::new();

/// Sets up the process's allocator for the harness's figures: glibc's malloc tuned
/// ([`tune_glibc_malloc`]), the condition the decision latency target is met in (the `tailsift`
/// binary leaves glibc as it is since session 12). Call it first thing in `main`. Returns the
/// description [`allocator`] gives.
pub fn set_up() -> String {
    TUNING.get_or_init(tune_glibc_malloc);
    glibc()
}

/// What glibc's malloc runs with, as [`set_up`] left it.
fn glibc() -> String {
    match TUNING.get() {
        Some(tuning) => format!("glibc malloc, {tuning}"),
        None => "glibc malloc, as the process found it".to_string(),
    }
}

/// The allocator, as the harness reports it: [`ALLOCATOR`], and for glibc how it is tuned.
pub fn allocator() -> String {
    if cfg!(any(feature = "mimalloc", feature = "jemalloc")) {
        ALLOCATOR.to_string()
    } else {
        glibc()
    }
}

static ENABLED: AtomicBool = AtomicBool::new(true);
static INSTALLED: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static ALLOCATED_BYTES: AtomicU64 = AtomicU64::new(0);
static FREES: AtomicU64 = AtomicU64::new(0);
static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);

/// The counting allocator: the allocator [`ALLOCATOR`] names, plus counters.
#[derive(Clone, Copy, Debug, Default)]
pub struct CountingAlloc;

/// Reads before writing, so threads do not keep dirtying a shared cache line.
#[inline]
fn mark_installed() {
    if !INSTALLED.load(Ordering::Relaxed) {
        INSTALLED.store(true, Ordering::Relaxed);
    }
}

#[inline]
fn on_alloc(size: usize) {
    if ENABLED.load(Ordering::Relaxed) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED_BYTES.fetch_add(size as u64, Ordering::Relaxed);
        LIVE_BYTES.fetch_add(size as i64, Ordering::Relaxed);
    }
}

#[inline]
fn on_free(size: usize) {
    if ENABLED.load(Ordering::Relaxed) {
        FREES.fetch_add(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(size as i64, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to the wrapped allocator with the same arguments and returns its
// result unchanged; the counters have no effect on the memory handed out.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        mark_installed();
        let ptr = Inner.alloc(layout);
        if !ptr.is_null() {
            on_alloc(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        mark_installed();
        let ptr = Inner.alloc_zeroed(layout);
        if !ptr.is_null() {
            on_alloc(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        Inner.dealloc(ptr, layout);
        on_free(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = Inner.realloc(ptr, layout, new_size);
        if !new.is_null() {
            // A reallocation is one allocation event (as Go's and jemalloc's counters see it)
            // of the new size, and the free of the old block.
            on_alloc(new_size);
            on_free(layout.size());
        }
        new
    }
}

/// Switches counting on or off for the whole process.
pub fn set_enabled(enabled: bool) {
    ENABLED.store(enabled, Ordering::SeqCst);
}

/// Whether the counting allocator is the global allocator (it has served an allocation).
pub fn installed() -> bool {
    INSTALLED.load(Ordering::Relaxed)
}

/// The counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllocSnapshot {
    /// Allocations (and reallocations) so far.
    pub allocations: u64,
    /// Bytes requested by them.
    pub allocated_bytes: u64,
    /// Frees so far.
    pub frees: u64,
    /// Bytes allocated and not yet freed (while counting was on).
    pub live_bytes: i64,
}

impl AllocSnapshot {
    /// The counters now.
    pub fn now() -> AllocSnapshot {
        AllocSnapshot {
            allocations: ALLOCATIONS.load(Ordering::SeqCst),
            allocated_bytes: ALLOCATED_BYTES.load(Ordering::SeqCst),
            frees: FREES.load(Ordering::SeqCst),
            live_bytes: LIVE_BYTES.load(Ordering::SeqCst),
        }
    }

    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &AllocSnapshot) -> AllocDelta {
        AllocDelta {
            allocations: self.allocations.saturating_sub(earlier.allocations),
            allocated_bytes: self.allocated_bytes.saturating_sub(earlier.allocated_bytes),
            frees: self.frees.saturating_sub(earlier.frees),
            live_bytes: self.live_bytes - earlier.live_bytes,
        }
    }
}

/// The difference between two [`AllocSnapshot`]s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllocDelta {
    /// Allocations made.
    pub allocations: u64,
    /// Bytes requested.
    pub allocated_bytes: u64,
    /// Frees made.
    pub frees: u64,
    /// Change in live bytes (negative when more was freed than allocated).
    pub live_bytes: i64,
}
