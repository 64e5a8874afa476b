//! The send phase: pre-encoded requests posted over N concurrent connections as fast as the
//! target accepts them; non-2xx answers are counted, and retried when they are worth retrying.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::load::Request;
use crate::http_client::Client;

/// How to send.
#[derive(Clone, Debug)]
pub struct SendOptions {
    /// `host:port` of the write endpoint.
    pub addr: String,
    /// The remote_write path, e.g. `/api/v1/write`.
    pub path: String,
    /// Concurrent connections.
    pub concurrency: usize,
    /// Attempts after the first for a request that fails with 5xx, 429 or an I/O error.
    pub max_retries: u32,
    /// Per-request I/O timeout.
    pub timeout: Duration,
}

/// What the send phase did.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct SendStats {
    /// Requests posted (first attempts).
    pub requests: u64,
    /// Samples in requests answered 2xx.
    pub samples_acked: u64,
    /// Samples in requests given up on (4xx other than 429, or out of retries).
    pub samples_rejected: u64,
    /// Non-2xx answers by status code, retried or not.
    pub non_2xx: BTreeMap<u16, u64>,
    /// I/O errors (connection refused or reset, timeouts).
    pub io_errors: u64,
    /// Attempts after the first.
    pub retries: u64,
    /// Wall time of the whole phase, s.
    pub wall_s: f64,
    /// Acknowledged samples per second of wall time.
    pub samples_per_s: f64,
    /// Up to five distinct error messages, for the report.
    pub errors: Vec<String>,
}

impl SendStats {
    /// Non-2xx answers over all codes.
    pub fn non_2xx_total(&self) -> u64 {
        self.non_2xx.values().sum()
    }
}

#[derive(Default)]
struct Shared {
    stats: SendStats,
}

impl Shared {
    fn note_error(&mut self, msg: String) {
        if self.stats.errors.len() < 5 && !self.stats.errors.contains(&msg) {
            self.stats.errors.push(msg);
        }
    }
}

const HEADERS: [(&str, &str); 3] = [
    ("Content-Encoding", "snappy"),
    ("Content-Type", "application/x-protobuf"),
    ("X-Prometheus-Remote-Write-Version", "0.1.0"),
];

/// Posts every request once successfully (or gives up on it), `concurrency` at a time, in
/// order of the slice (each connection takes the next unsent request).
pub fn send_all(requests: &[Request], opts: &SendOptions) -> SendStats {
    let next = AtomicUsize::new(0);
    let shared = Mutex::new(Shared::default());
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..opts.concurrency.max(1) {
            scope.spawn(|| {
                let mut client = Client::new(opts.addr.clone(), opts.timeout);
                let mut local = SendStats::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(req) = requests.get(i) else { break };
                    local.requests += 1;
                    send_one(&mut client, req, opts, &mut local, &shared);
                }
                let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
                let t = &mut s.stats;
                t.requests += local.requests;
                t.samples_acked += local.samples_acked;
                t.samples_rejected += local.samples_rejected;
                t.io_errors += local.io_errors;
                t.retries += local.retries;
                for (k, v) in local.non_2xx {
                    *t.non_2xx.entry(k).or_default() += v;
                }
            });
        }
    });
    let mut stats = shared.into_inner().unwrap_or_else(|e| e.into_inner()).stats;
    stats.wall_s = started.elapsed().as_secs_f64();
    stats.samples_per_s = stats.samples_acked as f64 / stats.wall_s.max(1e-9);
    stats
}

fn send_one(
    client: &mut Client,
    req: &Request,
    opts: &SendOptions,
    local: &mut SendStats,
    shared: &Mutex<Shared>,
) {
    let mut backoff = Duration::from_millis(50);
    for attempt in 0..=opts.max_retries {
        if attempt > 0 {
            local.retries += 1;
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
        let retry = match client.post(&opts.path, &HEADERS, &req.body) {
            Ok(r) if (200..300).contains(&r.status) => {
                local.samples_acked += u64::from(req.samples);
                return;
            }
            Ok(r) => {
                *local.non_2xx.entry(r.status).or_default() += 1;
                let text = r.text();
                let msg = format!(
                    "{}: {}",
                    r.status,
                    text.trim().chars().take(300).collect::<String>()
                );
                shared
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .note_error(msg);
                r.status >= 500 || r.status == 429
            }
            Err(e) => {
                local.io_errors += 1;
                shared
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .note_error(format!("I/O: {e}"));
                true
            }
        };
        if !retry {
            break;
        }
    }
    local.samples_rejected += u64::from(req.samples);
}
