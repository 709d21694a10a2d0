//! A software prefetch: asks the CPU to start loading a value's cache line, so that work done
//! before the value is used hides the wait for memory. Only a hint: nothing the program sees
//! changes, and on targets without the instruction it does nothing.

/// Starts loading the cache line holding `value` into all cache levels.
#[inline(always)]
pub(crate) fn prefetch<T>(value: &T) {
    let address: *const T = value;
    prefetch_address(address.cast());
}

/// Starts loading the cache line at `address` into all cache levels. Any address will do: a
/// prefetch reads nothing the program sees and never faults.
#[inline(always)]
pub(crate) fn prefetch_address(address: *const u8) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: SSE is enabled (the cfg above; it is in the x86_64 baseline), which is all
        // `_mm_prefetch` requires; a prefetch reads nothing the program sees and never faults.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(address.cast()) };
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
    let _ = address;
}
