//! `malloc::tune_glibc_malloc`, in a test binary of its own: its settings are the process's.

/// One test, in order: the environment's choices are left alone; glibc's defaults behave as
/// the module says; then the tuning changes that. (Two tests would run on parallel threads of
/// one process, and the first one's environment variable would be seen by the second.)
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn glibc_is_tuned_unless_the_environment_sets_it() {
    use tailsift::malloc::{tune_glibc_malloc, GlibcTuning, Setting};

    if std::env::var_os("GLIBC_TUNABLES").is_some()
        || std::env::var_os("TAILSIFT_GLIBC_MALLOC").is_some()
    {
        // Whoever runs the tests chose glibc's settings: nothing of ours to check.
        return;
    }
    // SAFETY: `mallinfo2` only reads glibc's allocator statistics (summed over arenas).
    let info = || unsafe { libc::mallinfo2() };
    let in_fastbins = || info().fsmblks;
    let mapped_blocks = || info().hblks;

    std::env::set_var("TAILSIFT_GLIBC_MALLOC", "defaults");
    let declined = tune_glibc_malloc();
    assert_eq!(
        declined,
        GlibcTuning {
            fastbins_off: Setting::Declined,
            mmap_threshold: Setting::Declined,
        }
    );
    assert_eq!(
        declined.to_string(),
        "glibc's defaults (TAILSIFT_GLIBC_MALLOC=defaults)"
    );
    std::env::remove_var("TAILSIFT_GLIBC_MALLOC");
    std::env::set_var(
        "GLIBC_TUNABLES",
        "glibc.malloc.mxfast=128:glibc.malloc.mmap_threshold=131072",
    );
    assert_eq!(
        tune_glibc_malloc(),
        GlibcTuning {
            fastbins_off: Setting::LeftToEnvironment,
            mmap_threshold: Setting::LeftToEnvironment,
        }
    );
    std::env::remove_var("GLIBC_TUNABLES");

    // glibc's defaults, as they were when the test started: freed small blocks wait in
    // fastbins, and a freed 30 MiB block raises the mmap threshold to 30 MiB, so that blocks
    // below it grow the heap rather than being mapped on their own.
    let before = in_fastbins();
    free_small_blocks::<6>();
    assert!(
        in_fastbins() >= before + 1_000 * 48,
        "fastbins held {before} bytes, then {}",
        in_fastbins()
    );
    drop(std::hint::black_box(Vec::<u8>::with_capacity(30 << 20)));
    let before = mapped_blocks();
    // Kept to the end, so that the heap has no room for the next 20 MiB.
    let in_the_heap: Vec<Vec<u8>> = (0..2)
        .map(|_| std::hint::black_box(Vec::with_capacity(20 << 20)))
        .collect();
    assert_eq!(mapped_blocks(), before, "20 MiB blocks grew the heap");

    let tuned = tune_glibc_malloc();
    assert_eq!(
        tuned,
        GlibcTuning {
            fastbins_off: Setting::Applied,
            mmap_threshold: Setting::Applied,
        }
    );
    assert_eq!(
        tuned.to_string(),
        "fastbins off, mmap threshold pinned at 128 KiB"
    );
    let before = in_fastbins();
    // Blocks of another size: those of the first round, still in fastbins, would be handed out
    // and freed again, and the figure would not move whatever the setting.
    free_small_blocks::<10>();
    // None land there now (the figure may only fall, as glibc consolidates what was there).
    assert!(
        in_fastbins() <= before,
        "fastbins grew from {before} to {} bytes",
        in_fastbins()
    );
    // The threshold is back at 128 KiB and stays there, also after a larger mapped block is
    // freed: a block the heap has no room for is mapped on its own.
    drop(std::hint::black_box(Vec::<u8>::with_capacity(30 << 20)));
    let before = mapped_blocks();
    let mapped = std::hint::black_box(Vec::<u8>::with_capacity(20 << 20));
    assert_eq!(mapped_blocks(), before + 1, "20 MiB was mapped on its own");
    drop((mapped, in_the_heap));
    assert_eq!(tune_glibc_malloc(), tuned, "idempotent");
}

/// Frees 2,000 small blocks of `N` words, all allocated before any is freed, so that glibc
/// cannot hand a freed one back out; more than its per-thread cache (7 blocks per size) keeps.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn free_small_blocks<const N: usize>() {
    let blocks: Vec<Box<[u64; N]>> = (0..2_000u64).map(|i| Box::new([i; N])).collect();
    drop(std::hint::black_box(blocks));
}
