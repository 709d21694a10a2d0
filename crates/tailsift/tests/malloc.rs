//! `malloc::glibc_fastbins_off`, in a test binary of its own: the setting is the process's.

/// One test, in order: the environment's setting is left alone, then fastbins go off. (Two
/// tests would run on parallel threads of one process, and the first one's environment
/// variable would be seen by the second.)
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn fastbins_go_off_unless_the_environment_sets_them() {
    use tailsift::malloc::{glibc_fastbins_off, FastbinsOff};

    if std::env::var_os("GLIBC_TUNABLES").is_some() {
        // Whoever runs the tests chose glibc's tunables: nothing of ours to check.
        return;
    }
    // Bytes glibc holds in fastbins, over every arena.
    // SAFETY: `mallinfo2` only reads glibc's allocator statistics.
    let in_fastbins = || unsafe { libc::mallinfo2() }.fsmblks;

    std::env::set_var("GLIBC_TUNABLES", "glibc.malloc.mxfast=128");
    assert_eq!(glibc_fastbins_off(), FastbinsOff::LeftToEnvironment);
    std::env::remove_var("GLIBC_TUNABLES");
    // Still glibc's default: the freed blocks wait in fastbins.
    let before = in_fastbins();
    free_small_blocks::<6>();
    assert!(
        in_fastbins() >= before + 1_000 * 48,
        "fastbins held {before} bytes, then {}",
        in_fastbins()
    );

    assert_eq!(glibc_fastbins_off(), FastbinsOff::Applied);
    let before = in_fastbins();
    // Blocks of another size: those of the first round, still in fastbins, would be handed out
    // and freed again, and the figure would not move whatever the setting.
    free_small_blocks::<10>();
    // None land there now (the figure may only fall, as allocations on other threads
    // consolidate what was there).
    assert!(
        in_fastbins() <= before,
        "fastbins grew from {before} to {} bytes",
        in_fastbins()
    );
    assert_eq!(glibc_fastbins_off(), FastbinsOff::Applied, "idempotent");
}

/// Frees 2,000 small blocks of `N` words, all allocated before any is freed, so that glibc
/// cannot hand a freed one back out; more than its per-thread cache (7 blocks per size) keeps.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn free_small_blocks<const N: usize>() {
    let blocks: Vec<Box<[u64; N]>> = (0..2_000u64).map(|i| Box::new([i; N])).collect();
    drop(std::hint::black_box(blocks));
}
