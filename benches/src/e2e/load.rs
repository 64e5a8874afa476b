//! The load: the node_exporter-like data set, pre-encoded as remote_write 1.0 requests, and
//! what a complete store must hold afterwards (sample counts per host and time window).

use std::collections::BTreeSet;

use ingest::Sample;
use ingest::remote_write::Encoder;

use crate::node_exporter::{Labels, NodeExporter, SCRAPE_INTERVAL_MS};

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadSpec {
    /// Seed of the generator: the same seed gives byte-identical requests.
    pub seed: u64,
    /// Scraped hosts (507 series each).
    pub hosts: usize,
    /// Length of the data set, ms (a multiple of the 15 s scrape interval is sensible).
    pub duration_ms: i64,
    /// End of the data set, ms since the epoch: every sample is older, the last scrape of
    /// each host within 30 s of it.
    pub end_ms: i64,
    /// Host scrapes per request (1 = one request per scrape, 507 samples, close to what
    /// Prometheus 2.42 sends with `max_samples_per_send: 500`).
    pub scrapes_per_request: usize,
}

/// One pre-encoded request.
#[derive(Clone, Debug)]
pub struct Request {
    /// The snappy-compressed protobuf `WriteRequest`.
    pub body: Vec<u8>,
    /// Samples in it.
    pub samples: u32,
}

/// The data set as requests, and what it holds.
#[derive(Debug)]
pub struct Load {
    /// What was generated.
    pub spec: LoadSpec,
    /// The requests, in time order (a host's scrapes in order).
    pub requests: Vec<Request>,
    /// Series (hosts × series per host).
    pub series: u64,
    /// Series per host.
    pub series_per_host: usize,
    /// Samples over all requests.
    pub samples: u64,
    /// Uncompressed protobuf bytes over all requests.
    pub protobuf_bytes: u64,
    /// Scrape timestamps of each host, ascending (every series of the host has a sample at
    /// each).
    pub host_timestamps: Vec<Vec<i64>>,
    /// Earliest and latest sample timestamps, ms.
    pub min_ts: i64,
    /// See `min_ts`.
    pub max_ts: i64,
    /// A residue modulo the scrape interval (a whole second, ms) at which no sample lies:
    /// every evaluation time and window edge is congruent to it, so no edge falls on a
    /// sample (engines differ in whether a window includes its left edge).
    pub safe_residue_ms: i64,
}

/// Labels as Prometheus sends them: sorted by name, empty values left out.
pub fn prometheus_labels(labels: &Labels) -> Labels {
    let mut l: Labels = labels
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .cloned()
        .collect();
    l.sort();
    l
}

/// The `instance` label of host `h`.
pub fn instance(h: usize) -> String {
    format!("host-{h:04}:9100")
}

impl Load {
    /// Generates and encodes the data set.
    pub fn generate(spec: &LoadSpec) -> Load {
        let start_ms = spec.end_ms - spec.duration_ms - SCRAPE_INTERVAL_MS;
        let mut g = NodeExporter::new(spec.seed, spec.hosts, start_ms, spec.duration_ms);
        let series_per_host = g.series_per_host();
        // Prometheus sends labels sorted by name, and none with an empty value (the scrape
        // drops them: an empty label is one that does not exist).
        let sorted: Vec<Labels> = g.labels().iter().map(prometheus_labels).collect();
        let per_request = spec.scrapes_per_request.max(1);
        let mut requests = Vec::new();
        let mut enc = Encoder::new();
        let (mut in_request, mut req_samples) = (0, 0u32);
        let (mut samples, mut protobuf_bytes) = (0u64, 0u64);
        let mut host_timestamps = vec![Vec::new(); spec.hosts];
        let flush = |enc: &mut Encoder, n: &mut u32, reqs: &mut Vec<Request>, pb: &mut u64| {
            *pb += enc.protobuf().len() as u64;
            reqs.push(Request {
                body: enc.compress(),
                samples: *n,
            });
            enc.clear();
            *n = 0;
        };
        while let Some(s) = g.next_scrape() {
            host_timestamps[s.host].push(s.timestamp);
            for (i, v) in s.values.iter().enumerate() {
                let labels = &sorted[s.first_series + i];
                enc.push(
                    labels.iter().map(|(n, v)| (n.as_str(), v.as_str())),
                    &[Sample {
                        timestamp_ms: s.timestamp,
                        value: *v,
                    }],
                );
            }
            req_samples += s.values.len() as u32;
            samples += s.values.len() as u64;
            in_request += 1;
            if in_request == per_request {
                flush(
                    &mut enc,
                    &mut req_samples,
                    &mut requests,
                    &mut protobuf_bytes,
                );
                in_request = 0;
            }
        }
        if in_request > 0 {
            flush(
                &mut enc,
                &mut req_samples,
                &mut requests,
                &mut protobuf_bytes,
            );
        }
        let all = host_timestamps.iter().flatten();
        let min_ts = all.clone().copied().min().unwrap_or(start_ms);
        let max_ts = all.clone().copied().max().unwrap_or(start_ms);
        let residues: BTreeSet<i64> = all.map(|t| t.rem_euclid(SCRAPE_INTERVAL_MS)).collect();
        Load {
            spec: spec.clone(),
            requests,
            series: g.series_count() as u64,
            series_per_host,
            samples,
            protobuf_bytes,
            host_timestamps,
            min_ts,
            max_ts,
            safe_residue_ms: safe_residue(&residues),
        }
    }

    /// Compressed bytes over all requests.
    pub fn body_bytes(&self) -> u64 {
        self.requests.iter().map(|r| r.body.len() as u64).sum()
    }

    /// The latest time `<= t` congruent to the safe residue.
    pub fn safe_time_at_or_before(&self, t: i64) -> i64 {
        t - (t - self.safe_residue_ms).rem_euclid(SCRAPE_INTERVAL_MS)
    }

    /// Window edges for the completeness check: `edges[0] < min_ts`, `edges.last() >= max_ts`,
    /// `window_ms` apart (a multiple of the scrape interval), all at the safe residue.
    pub fn check_edges(&self, window_ms: i64) -> Vec<i64> {
        let window_ms = window_ms.max(SCRAPE_INTERVAL_MS) / SCRAPE_INTERVAL_MS * SCRAPE_INTERVAL_MS;
        let mut e = self.safe_time_at_or_before(self.min_ts - 1);
        let mut edges = vec![e];
        while e < self.max_ts {
            e += window_ms;
            edges.push(e);
        }
        edges
    }

    /// Samples of host `h` in `(from, to]`.
    pub fn expected_in(&self, h: usize, from: i64, to: i64) -> u64 {
        let ts = &self.host_timestamps[h];
        let n = ts.partition_point(|&t| t <= to) - ts.partition_point(|&t| t <= from);
        n as u64 * self.series_per_host as u64
    }
}

/// The whole second (mod 15 s) farthest from every residue in `taken`; if every whole second
/// is within 5 ms of a sample, the millisecond farthest from them.
fn safe_residue(taken: &BTreeSet<i64>) -> i64 {
    let dist = |r: i64| {
        taken
            .iter()
            .map(|&t| {
                let d = (t - r).rem_euclid(SCRAPE_INTERVAL_MS);
                d.min(SCRAPE_INTERVAL_MS - d)
            })
            .min()
            .unwrap_or(SCRAPE_INTERVAL_MS)
    };
    let best = |cands: &mut dyn Iterator<Item = i64>| {
        cands
            .map(|r| (dist(r), std::cmp::Reverse(r)))
            .max()
            .map_or(0, |(_, std::cmp::Reverse(r))| r)
    };
    let r = best(&mut (0..SCRAPE_INTERVAL_MS).step_by(1000));
    if dist(r) > 5 {
        r
    } else {
        best(&mut (0..SCRAPE_INTERVAL_MS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest::{Batch, Limits};

    fn spec(seed: u64) -> LoadSpec {
        LoadSpec {
            seed,
            hosts: 3,
            duration_ms: 20 * SCRAPE_INTERVAL_MS,
            end_ms: 1_700_000_000_000,
            scrapes_per_request: 2,
        }
    }

    #[test]
    fn requests_are_deterministic_by_seed() {
        let bodies = |seed| -> Vec<Vec<u8>> {
            Load::generate(&spec(seed))
                .requests
                .into_iter()
                .map(|r| r.body)
                .collect()
        };
        let a = bodies(1);
        assert_eq!(a, bodies(1));
        assert_ne!(a, bodies(2));
        assert_eq!(a.len(), 30, "3 hosts × 20 scrapes, 2 scrapes per request");
    }

    #[test]
    fn requests_decode_to_the_generated_samples() {
        let load = Load::generate(&spec(5));
        let mut want = NodeExporter::new(
            5,
            3,
            load.spec.end_ms - load.spec.duration_ms - SCRAPE_INTERVAL_MS,
            load.spec.duration_ms,
        );
        let mut want_samples = Vec::new();
        while let Some(s) = want.next_scrape() {
            for (l, t, v) in s.samples() {
                want_samples.push((prometheus_labels(l), t, v.to_bits()));
            }
        }
        let mut got = Vec::new();
        let mut batch = Batch::new();
        for r in &load.requests {
            batch.clear();
            ingest::remote_write::decode(&r.body, &Limits::default(), &mut batch).expect("decodes");
            assert_eq!(batch.sample_count(), r.samples as usize);
            for s in batch.iter() {
                let labels: Labels = s
                    .labels()
                    .iter()
                    .map(|l| (l.name.to_owned(), l.value.to_owned()))
                    .collect();
                for x in s.samples {
                    got.push((labels.clone(), x.timestamp_ms, x.value.to_bits()));
                }
            }
        }
        assert_eq!(got.len() as u64, load.samples);
        assert_eq!(got, want_samples);
        assert_eq!(load.samples, 3 * 20 * 507);
    }

    #[test]
    fn check_windows_cover_every_sample_and_avoid_sample_times() {
        let load = Load::generate(&spec(9));
        let edges = load.check_edges(60_000);
        assert!(edges[0] < load.min_ts && *edges.last().unwrap() >= load.max_ts);
        let total: u64 = (0..3)
            .flat_map(|h| edges.windows(2).map(move |w| (h, w[0], w[1])))
            .map(|(h, a, b)| load.expected_in(h, a, b))
            .sum();
        assert_eq!(total, load.samples);
        for ts in load.host_timestamps.iter().flatten() {
            assert_ne!(ts.rem_euclid(SCRAPE_INTERVAL_MS), load.safe_residue_ms);
        }
        assert!(load.max_ts <= load.spec.end_ms);
        assert_eq!(load.safe_residue_ms % 1000, 0);
    }
}
