//! Process-wide allocator tuning for a server process: what `ingot serve` does before it
//! starts its threads, and what the test suites' server processes do to measure the same.

/// Caps glibc's malloc arenas. glibc gives each thread that allocates under contention an
/// arena of its own, up to 8 per core; the server's blocking threads (tokenization,
/// templates, embeddings: one per concurrent request) then each keep a partly-free arena,
/// and RSS drifts up under many clients without any leak (the soak test saw 0-12 % growth
/// between identical runs). Four arenas keep that bounded at no measurable cost to a
/// server whose time is spent in llama.cpp. Call it once, before starting threads; it is not
/// done by [`crate::serve`] because a library embedding the server owns its allocator.
/// Other allocators (musl, macOS, Windows) need nothing: there it does nothing.
pub fn bound_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets an allocator parameter.
        if unsafe { libc::mallopt(libc::M_ARENA_MAX, 4) } != 1 {
            tracing::debug!("mallopt(M_ARENA_MAX) was refused; malloc keeps its default arenas");
        }
        // A fixed mmap threshold: the prompt cache's saved states (one to a few MiB each)
        // then always come from mmap and go back to the OS when evicted. With glibc's
        // dynamic threshold, the first freed state raises the threshold to its size, later
        // states come from the heap, and RSS keeps their high-water mark after eviction.
        // SAFETY: as above.
        if unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20) } != 1 {
            tracing::debug!("mallopt(M_MMAP_THRESHOLD) was refused");
        }
    }
}
