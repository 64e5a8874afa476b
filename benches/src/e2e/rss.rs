//! Resident memory of a system's processes, sampled in a background thread: the peak of the
//! sum over processes (sampled at the same instant), per phase, and each process's own peak.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;

use crate::procs::{peak_rss_of, rss_of};

/// CPU time (user + system, all threads) process `pid` has used, s, from `/proc/<pid>/stat`.
pub fn cpu_seconds_of(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_whitespace();
    // After `)`: state is field 3, utime field 14, stime field 15.
    let utime: u64 = f.nth(11)?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    // SAFETY: sysconf reads a configuration value; no memory effects.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Some((utime + stime) as f64 / if tick > 0 { tick as f64 } else { 100.0 })
}

/// What the sampler saw.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct RssStats {
    /// The largest sum over all processes at one sampling instant, bytes.
    pub peak_sum_bytes: u64,
    /// The same per phase (`ingest`, `check`, `merge`, `queries`, ...).
    pub peak_sum_by_phase: BTreeMap<String, u64>,
    /// Each process's largest sampled RSS.
    pub peak_by_process: BTreeMap<String, u64>,
    /// Each process's own high-water mark (`VmHWM`) read just before it stops: catches peaks
    /// between samples.
    pub hwm_by_process: BTreeMap<String, u64>,
    /// Sum of `hwm_by_process` (an upper bound of the true peak of the sum).
    pub hwm_sum_bytes: u64,
    /// The sum over processes after the run, idle (median of a few samples), bytes.
    pub steady_sum_bytes: u64,
    /// Samples taken.
    pub samples: u64,
}

/// A running sampler; [`RssSampler::finish`] stops it.
#[derive(Debug)]
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    phase: Arc<Mutex<String>>,
    pids: Vec<(String, u32)>,
    handle: JoinHandle<RssStats>,
}

fn sum_now(pids: &[(String, u32)]) -> (u64, Vec<u64>) {
    let each: Vec<u64> = pids.iter().map(|(_, p)| rss_of(*p).unwrap_or(0)).collect();
    (each.iter().sum(), each)
}

impl RssSampler {
    /// Starts sampling `pids` every `every`, in phase `phase`.
    pub fn start(pids: Vec<(String, u32)>, every: Duration, phase: &str) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let phase = Arc::new(Mutex::new(phase.to_owned()));
        let handle = {
            let (stop, phase, pids) = (stop.clone(), phase.clone(), pids.clone());
            std::thread::spawn(move || {
                let mut s = RssStats::default();
                while !stop.load(Ordering::Relaxed) {
                    let (sum, each) = sum_now(&pids);
                    s.samples += 1;
                    s.peak_sum_bytes = s.peak_sum_bytes.max(sum);
                    let p = phase.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    let e = s.peak_sum_by_phase.entry(p).or_default();
                    *e = (*e).max(sum);
                    for ((name, _), v) in pids.iter().zip(each) {
                        let e = s.peak_by_process.entry(name.clone()).or_default();
                        *e = (*e).max(v);
                    }
                    std::thread::sleep(every);
                }
                s
            })
        };
        RssSampler {
            stop,
            phase,
            pids,
            handle,
        }
    }

    /// Names the phase the next samples belong to.
    pub fn phase(&self, name: &str) {
        *self.phase.lock().unwrap_or_else(|e| e.into_inner()) = name.to_owned();
    }

    /// Waits `settle`, takes the steady figure (median of five samples 200 ms apart), reads
    /// every process's high-water mark and stops the sampler. Call while the processes run.
    pub fn finish(self, settle: Duration) -> RssStats {
        self.phase("idle");
        std::thread::sleep(settle);
        let mut sums: Vec<u64> = (0..5)
            .map(|_| {
                let s = sum_now(&self.pids).0;
                std::thread::sleep(Duration::from_millis(200));
                s
            })
            .collect();
        sums.sort_unstable();
        let hwm: BTreeMap<String, u64> = self
            .pids
            .iter()
            .map(|(n, p)| (n.clone(), peak_rss_of(*p).unwrap_or(0)))
            .collect();
        self.stop.store(true, Ordering::Relaxed);
        let mut s = self.handle.join().unwrap_or_default();
        s.steady_sum_bytes = sums[2];
        s.hwm_sum_bytes = hwm.values().sum();
        s.hwm_by_process = hwm;
        s
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn own_cpu_time_is_read() {
        let me = std::process::id();
        let t = super::cpu_seconds_of(me).expect("own /proc/self/stat");
        assert!(t >= 0.0);
        assert!(super::rss_of(me).is_some_and(|r| r > 0));
    }
}
