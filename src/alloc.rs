//! The process's allocator, and handing freed memory back to the system.
//!
//! mimalloc instead of glibc's allocator: the pipeline allocates many small strings on
//! reader threads and frees them on the writer, which glibc's per-thread arenas handle
//! slowly (a quarter of import CPU was in malloc/free) and with fragmentation.
//!
//! mimalloc purges freed memory a second after it is freed, and only when a thread gets
//! around to it: a burst of gzip bombs (64 over HTTP and 64 over SMTP, each refused after
//! inflating 50 MiB) took the process to 1.58 GB and left 1.4 GB resident, although the
//! in-flight budget never let more than 256 MiB be held at once. [`configure`] makes
//! purging immediate (peak 0.33–0.37 GB, 0.08 GB after; bulk import as fast) and
//! [`give_back_freed_memory`] purges what idle threads freed.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its `mi_option_e` of v3, which the Rust bindings
/// do not name); `tests::purge_delay_is_the_option_we_think` checks its default.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Makes freed memory go back to the system at once, unless `MIMALLOC_PURGE_DELAY` says
/// otherwise. Call first thing in `main`.
pub fn configure() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: setting an option takes plain integers and is allowed at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) }
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

    #[test]
    fn purge_delay_is_the_option_we_think() {
        // mimalloc v3 sets `purge_delay` to 1000 ms by default, and no other option to
        // 1000. The test binary never calls `configure`.
        // SAFETY: reading an option takes a plain integer.
        let delay = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(delay, 1000);
    }
}
