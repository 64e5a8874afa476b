//! Starting a real cluster of processes on 127.0.0.1 for a test, and talking to it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use benches::http_client::{Client, Response, encode_param};
use benches::procs::{Proc, bin, free_port, wait_http_ok};

/// One storage node's processes and addresses.
pub struct StorageNode {
    pub proc_: Proc,
    pub http: String,
    pub insert: String,
    pub select: String,
}

/// A cluster: storage nodes, one vminsert, one vmselect; everything stops on drop.
pub struct Cluster {
    pub storages: Vec<StorageNode>,
    pub vminsert: Proc,
    pub vmselect: Proc,
    pub insert_addr: String,
    pub select_addr: String,
    /// Holds the data and logs until the cluster is dropped.
    pub _dir: tempfile::TempDir,
}

/// Options of [`Cluster::start`].
pub struct Options {
    pub storage_nodes: usize,
    pub replication_factor: usize,
    pub extra_storage_flags: Vec<String>,
    pub extra_insert_flags: Vec<String>,
    pub extra_select_flags: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            storage_nodes: 2,
            replication_factor: 1,
            extra_storage_flags: Vec::new(),
            extra_insert_flags: Vec::new(),
            extra_select_flags: Vec::new(),
        }
    }
}

const READY: Duration = Duration::from_secs(30);

impl Cluster {
    /// Starts the processes and waits until each answers `/health`.
    pub fn start(opts: Options) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut storages = Vec::new();
        for i in 0..opts.storage_nodes {
            let (http, insert, select) = (
                format!("127.0.0.1:{}", free_port()),
                format!("127.0.0.1:{}", free_port()),
                format!("127.0.0.1:{}", free_port()),
            );
            let mut args = vec![
                format!(
                    "-storageDataPath={}",
                    dir.path().join(format!("vmstorage-{i}")).display()
                ),
                format!("-httpListenAddr={http}"),
                format!("-vminsertAddr={insert}"),
                format!("-vmselectAddr={select}"),
                "-retentionPeriod=100y".to_string(),
                "-storage.minFreeDiskSpaceBytes=0".to_string(),
            ];
            args.extend(opts.extra_storage_flags.iter().cloned());
            let log = dir.path().join(format!("vmstorage-{i}.log"));
            let proc_ = Proc::start(
                &format!("vmstorage-{i}"),
                &must_bin("vmstorage"),
                &args,
                &log,
            )
            .expect("start vmstorage");
            storages.push(StorageNode {
                proc_,
                http,
                insert,
                select,
            });
        }
        for s in &mut storages {
            wait_http_ok(&mut s.proc_, &s.http, "/health", READY).unwrap_or_else(|e| panic!("{e}"));
        }
        let insert_addr = format!("127.0.0.1:{}", free_port());
        let select_addr = format!("127.0.0.1:{}", free_port());
        let nodes = |f: fn(&StorageNode) -> &String| {
            storages
                .iter()
                .map(f)
                .cloned()
                .collect::<Vec<_>>()
                .join(",")
        };
        let mut iargs = vec![
            format!("-httpListenAddr={insert_addr}"),
            format!("-storageNode={}", nodes(|s| &s.insert)),
            format!("-replicationFactor={}", opts.replication_factor),
            // Fail over quickly in tests.
            "-rpc.insertTimeout=5s".to_string(),
        ];
        iargs.extend(opts.extra_insert_flags.iter().cloned());
        let mut sargs = vec![
            format!("-httpListenAddr={select_addr}"),
            format!("-storageNode={}", nodes(|s| &s.select)),
            format!("-replicationFactor={}", opts.replication_factor),
            "-search.maxQueryDuration=20s".to_string(),
        ];
        sargs.extend(opts.extra_select_flags.iter().cloned());
        let mut vminsert = Proc::start(
            "vminsert",
            &must_bin("vminsert"),
            &iargs,
            &dir.path().join("vminsert.log"),
        )
        .expect("start vminsert");
        let mut vmselect = Proc::start(
            "vmselect",
            &must_bin("vmselect"),
            &sargs,
            &dir.path().join("vmselect.log"),
        )
        .expect("start vmselect");
        wait_http_ok(&mut vminsert, &insert_addr, "/health", READY)
            .unwrap_or_else(|e| panic!("{e}"));
        wait_http_ok(&mut vmselect, &select_addr, "/health", READY)
            .unwrap_or_else(|e| panic!("{e}"));
        Cluster {
            storages,
            vminsert,
            vmselect,
            insert_addr,
            select_addr,
            _dir: dir,
        }
    }

    /// A client for vminsert.
    pub fn insert_client(&self) -> Client {
        Client::new(self.insert_addr.clone(), Duration::from_secs(30))
    }

    /// A client for vmselect.
    pub fn select_client(&self) -> Client {
        Client::new(self.select_addr.clone(), Duration::from_secs(30))
    }

    /// Makes every storage node flush its buffers into searchable, durable parts.
    pub fn flush(&self) {
        for s in &self.storages {
            let r = Client::new(s.http.clone(), Duration::from_secs(30))
                .get("/internal/force_flush")
                .expect("flush");
            assert_eq!(r.status, 200, "{}", r.text());
        }
    }

    /// GETs a vmselect API path for `tenant` with query parameters, returning status and JSON.
    pub fn select_json(
        &self,
        tenant: &str,
        api: &str,
        params: &[(&str, &str)],
    ) -> (u16, serde_json::Value) {
        let r = self.select_get(tenant, api, params);
        let v = serde_json::from_slice(&r.body)
            .unwrap_or_else(|e| panic!("{api}: not JSON ({e}): {}", r.text()));
        (r.status, v)
    }

    /// GETs a vmselect API path for `tenant`.
    pub fn select_get(&self, tenant: &str, api: &str, params: &[(&str, &str)]) -> Response {
        let q: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{}={}", encode_param(k), encode_param(v)))
            .collect();
        let path = format!("/select/{tenant}/prometheus/{api}?{}", q.join("&"));
        self.select_client()
            .get(&path)
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// Logs of every process, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for p in self
            .storages
            .iter()
            .map(|s| &s.proc_)
            .chain([&self.vminsert, &self.vmselect])
        {
            out.push_str(&format!("--- {} ---\n{}\n", p.name, p.log_tail(3000)));
        }
        out
    }
}

fn must_bin(name: &str) -> PathBuf {
    bin(name).unwrap_or_else(|e| panic!("{e}"))
}

/// Prometheus-text lines for a set of samples, `name{labels} value ts`.
pub fn text_lines(samples: &[(&str, f64, i64)]) -> String {
    samples
        .iter()
        .map(|(series, v, ts)| format!("{series} {v} {ts}\n"))
        .collect()
}

/// Now in milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The result array of a successful query answer.
pub fn result(v: &serde_json::Value) -> &Vec<serde_json::Value> {
    v["data"]["result"]
        .as_array()
        .unwrap_or_else(|| panic!("no data.result in {v}"))
}

/// A snappy remote_write body with one sample (`ts`, `value`) for each of the series
/// `metric{series="0"}` .. `metric{series="<series - 1>"}`.
pub fn one_sample_per_series(metric: &str, series: usize, ts: i64, value: f64) -> Vec<u8> {
    use ingest::remote_write::{TimeSeries, WriteRequest};
    WriteRequest {
        timeseries: (0..series)
            .map(|i| TimeSeries {
                labels: vec![
                    ("__name__".into(), metric.into()),
                    ("series".into(), i.to_string()),
                ],
                samples: vec![ingest::Sample {
                    timestamp_ms: ts,
                    value,
                }],
            })
            .collect(),
    }
    .encode()
}

/// Posts a remote_write `body` to tenant 0 until it gets a 2xx, as Prometheus retries, pausing
/// `pause` after each failed attempt and describing it to `on_failure`. Returns false if
/// `deadline` passes first.
pub fn post_until_acked(
    client: &mut Client,
    body: &[u8],
    deadline: Instant,
    pause: Duration,
    mut on_failure: impl FnMut(String),
) -> bool {
    loop {
        match client.post(
            "/insert/0/prometheus/api/v1/write",
            &[("Content-Encoding", "snappy")],
            body,
        ) {
            Ok(r) if r.status / 100 == 2 => return true,
            Ok(r) => on_failure(format!("{} {}", r.status, r.text())),
            Err(e) => on_failure(e.to_string()),
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(pause);
    }
}
