//! The process's allocator, and handing freed memory back to the system.
//!
//! mimalloc instead of glibc's allocator: the pipeline allocates many small strings on
//! reader threads and frees them on the writer, which glibc's per-thread arenas handle
//! slowly (a quarter of import CPU was in malloc/free) and with fragmentation.
//!
//! mimalloc purges freed memory a second after it is freed, and only when a thread gets
//! around to it: a burst of gzip bombs (64 over HTTP and 64 over SMTP, each refused after
//! inflating 50 MiB) took the process to 1.58 GB and left 1.4 GB resident, although the
//! in-flight budget never let more than 256 MiB be held at once. Purging at once (peak
//! 0.33–0.37 GB, 0.08 GB after) costs the ordinary traffic, though: every page of small
//! buffers that empties goes back to the system and faults in again on its next use,
//! three to four times the page faults per HTTPS report (docs/benchmarks.md). So purging
//! is immediate only while a decode holds a grant beyond the first one
//! ([`purge_at_once`], taken by the pipeline), and [`give_back_freed_memory`] purges
//! what idle threads freed after such a decode.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its `mi_option_e` of v3, which the Rust bindings
/// do not name); `tests::purging_is_immediate_while_a_large_decode_runs` checks its
/// default.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// mimalloc's own purge delay (ms), kept while no large decode runs.
const RELAXED_PURGE_DELAY_MS: std::ffi::c_long = 1000;

/// Large decodes running, and whether [`purge_at_once`] may change the purge delay (not
/// when `MIMALLOC_PURGE_DELAY` set it). A mutex, not atomics: the count and the option
/// must change together, or a decode starting as the last one ends could run with the
/// relaxed delay. Taken twice per large decode only.
static LARGE_DECODES: std::sync::Mutex<(usize, bool)> = std::sync::Mutex::new((0, true));

/// Leaves the purge delay to `MIMALLOC_PURGE_DELAY` when it is set. Call first thing in
/// `main`.
pub fn configure() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        large_decodes().1 = false;
    }
}

fn large_decodes() -> std::sync::MutexGuard<'static, (usize, bool)> {
    LARGE_DECODES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn set_purge_delay(ms: std::ffi::c_long) {
    // SAFETY: setting an option takes plain integers and is allowed at any time;
    // mimalloc reads the delay each time it schedules a purge.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, ms) }
}

/// Freed memory goes back to the system at once until the returned guard is dropped
/// (and every other one): for a decode that may hold megabytes.
pub fn purge_at_once() -> PurgeAtOnce {
    let mut state = large_decodes();
    state.0 += 1;
    if state.0 == 1 && state.1 {
        set_purge_delay(0);
    }
    PurgeAtOnce(())
}

/// See [`purge_at_once`].
#[must_use]
pub struct PurgeAtOnce(());

impl Drop for PurgeAtOnce {
    fn drop(&mut self) {
        let mut state = large_decodes();
        state.0 = state.0.saturating_sub(1);
        if state.0 == 0 && state.1 {
            set_purge_delay(RELAXED_PURGE_DELAY_MS);
        }
    }
}

/// Returns the memory freed so far, by every thread, to the operating system. Costs a
/// walk of the calling thread's pages and the arenas: call it after freeing something
/// large, not per request.
pub fn give_back_freed_memory() {
    // SAFETY: mi_collect takes no arguments that point anywhere, may be called from any
    // thread at any time, and only releases memory no allocation refers to.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn purge_delay() -> std::ffi::c_long {
        // SAFETY: reading an option takes a plain integer.
        unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) }
    }

    // One test, as both parts read the process-wide option.
    #[test]
    fn purging_is_immediate_while_a_large_decode_runs() {
        // mimalloc v3 sets `purge_delay` to 1000 ms by default, and no other option to
        // 1000: the index is the option we think. The test binary never calls
        // `configure`.
        assert_eq!(purge_delay(), RELAXED_PURGE_DELAY_MS);
        let first = purge_at_once();
        assert_eq!(purge_delay(), 0);
        let second = purge_at_once();
        drop(first);
        assert_eq!(purge_delay(), 0, "another large decode still runs");
        drop(second);
        assert_eq!(purge_delay(), RELAXED_PURGE_DELAY_MS);
    }
}
