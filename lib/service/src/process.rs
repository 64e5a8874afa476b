//! Process self-metrics read from `/proc/self`: resident memory, CPU time, open files, start
//! time. Registered once per process so that every component reports itself the same way.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::metrics::Registry;

/// Registers `process_*` gauges and counters in `registry`.
pub fn register_process_metrics(registry: &Registry) {
    let start = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    registry.gauge_fn("process_start_time_seconds", move || start);
    registry.gauge_fn("process_resident_memory_bytes", || {
        rss_bytes().unwrap_or(0) as f64
    });
    registry.counter_fn("process_cpu_seconds_total", || cpu_seconds().unwrap_or(0.0));
    registry.gauge_fn("process_open_fds", || {
        std::fs::read_dir("/proc/self/fd").map_or(0.0, |d| d.count() as f64)
    });
}

/// Resident set size of this process in bytes, from `/proc/self/statm`.
pub fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

/// User plus system CPU seconds of this process, from `/proc/self/stat`.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after = &stat[stat.rfind(')')? + 2..];
    let mut f = after.split_whitespace().skip(11);
    let utime: f64 = f.next()?.parse().ok()?;
    let stime: f64 = f.next()?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

fn page_size() -> u64 {
    // SAFETY: sysconf only reads a configuration value; it has no memory-safety preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if v > 0 { v as u64 } else { 4096 }
}

fn clock_ticks() -> f64 {
    // SAFETY: as above, a read-only configuration query.
    let v = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if v > 0 { v as f64 } else { 100.0 }
}

/// Free bytes available to unprivileged users on the file system holding `path`.
pub fn free_disk_bytes(path: &std::path::Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `statvfs` is plain data, so all-zero bytes are a valid value to overwrite.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a valid out-pointer for the call.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(st.f_bavail as u64 * st.f_frsize as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process_figures() {
        let rss = rss_bytes().unwrap();
        assert!(rss > 100_000, "rss {rss}");
        assert!(cpu_seconds().unwrap() >= 0.0);
        assert!(free_disk_bytes(std::path::Path::new("/")).unwrap() > 0);
        assert!(free_disk_bytes(std::path::Path::new("/no/such/dir")).is_err());
        let r = Registry::new();
        register_process_metrics(&r);
        let text = r.render();
        assert!(text.contains("process_resident_memory_bytes "), "{text}");
    }
}

/// Tunes glibc's allocator for a long-running server and starts returning freed memory to the
/// system every `trim_every`. glibc otherwise keeps up to 8 arenas per core and holds on to
/// freed memory, which measured as 1.5× to 2× the resident memory the processes need
/// (docs/benchmarks.md, "End-to-end"). A no-op on other C libraries.
pub fn tune_allocator(trim_every: std::time::Duration) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator parameters; it is called before the process
        // starts its worker threads.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
            // A fixed threshold (which also turns off glibc's dynamic one): buffers of 512 KiB
            // and more (row batches, frames, part buffers) are mapped on their own and go back
            // to the system when freed, instead of fragmenting the heaps.
            libc::mallopt(libc::M_MMAP_THRESHOLD, 512 << 10);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 8 << 20);
        }
        let _ = std::thread::Builder::new()
            .name("malloc-trim".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(trim_every);
                    // SAFETY: malloc_trim releases free memory at the top of the heaps and in
                    // free pages; it takes the arena locks itself and touches no caller memory.
                    unsafe {
                        libc::malloc_trim(0);
                    }
                }
            });
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = trim_every;
}

#[cfg(test)]
mod allocator_tests {
    #[test]
    fn tuning_the_allocator_keeps_it_working() {
        super::tune_allocator(std::time::Duration::from_millis(10));
        let v: Vec<Vec<u8>> = (0..1000).map(|i| vec![0u8; i * 100]).collect();
        drop(v);
        std::thread::sleep(std::time::Duration::from_millis(30));
        let after: Vec<u8> = vec![1u8; 1 << 20];
        assert_eq!(after.iter().map(|&b| b as usize).sum::<usize>(), 1 << 20);
    }
}
