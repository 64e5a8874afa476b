//! The write endpoints: `/insert/<accountID>[:<projectID>]/...`.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use hyper::{Method, StatusCode, header};
use ingest::{Batch, IngestError, Limits, OnInvalid, influx};
use service::http::{self, Request, Response, text};
use service::metrics::{Counter, Histogram, LATENCY_BUCKETS, Registry};
use tokio::sync::Semaphore;
use tsdb::Tenant;

use crate::config::Config;
use crate::router::{RouteError, Router};

/// The formats vminsert accepts, by path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `/prometheus/api/v1/write`: Prometheus remote_write (protobuf + snappy).
    RemoteWrite,
    /// `/prometheus/api/v1/import`: JSON lines as `/api/v1/export` writes them.
    JsonLines,
    /// `/prometheus/api/v1/import/prometheus`: the text exposition format.
    PrometheusText,
    /// `/influx/write`, `/influx/api/v2/write`: Influx line protocol.
    Influx,
}

impl Format {
    /// The `type` label of the per-format counters, as VictoriaMetrics names them.
    pub fn metric_type(self) -> &'static str {
        match self {
            Format::RemoteWrite => "promremotewrite",
            Format::JsonLines => "vmimport",
            Format::PrometheusText => "prometheus",
            Format::Influx => "influx",
        }
    }

    /// The format served at `rest`, the path after `/insert/<tenant>/`.
    pub fn from_path(rest: &str) -> Option<Format> {
        Some(match rest.trim_end_matches('/') {
            "prometheus/api/v1/write" | "prometheus" | "api/v1/write" => Format::RemoteWrite,
            "prometheus/api/v1/import" | "api/v1/import" => Format::JsonLines,
            "prometheus/api/v1/import/prometheus" | "api/v1/import/prometheus" => {
                Format::PrometheusText
            }
            "influx/write" | "influx/api/v2/write" => Format::Influx,
            _ => return None,
        })
    }

    const ALL: [Format; 4] = [
        Format::RemoteWrite,
        Format::JsonLines,
        Format::PrometheusText,
        Format::Influx,
    ];
}

struct FormatMetrics {
    rows: Arc<Counter>,
    requests: Arc<Counter>,
    errors: Arc<Counter>,
    latency: Arc<Histogram>,
}

/// The write API.
pub struct Api {
    config: Config,
    router: Router,
    metrics: Registry,
    limits: Limits,
    slots: Semaphore,
    batches: Mutex<Vec<Batch>>,
    per_format: Vec<FormatMetrics>,
    invalid_rows: Arc<Counter>,
    unavailable: Arc<Counter>,
}

enum Failure {
    Status(StatusCode, String),
}

impl Api {
    /// The API over `router`.
    pub fn new(config: Config, router: Router, metrics: Registry) -> Self {
        let limits = Limits {
            max_labels_per_series: config.max_labels_per_timeseries,
            max_label_name_len: config.max_label_name_len,
            max_label_value_len: config.max_label_value_len,
            remote_write_invalid_series: if config.skip_invalid_series {
                OnInvalid::Skip
            } else {
                OnInvalid::Reject
            },
            ..Limits::default()
        };
        let per_format = Format::ALL
            .iter()
            .map(|f| {
                let t = f.metric_type();
                FormatMetrics {
                    rows: metrics.counter(&format!("vm_rows_inserted_total{{type=\"{t}\"}}")),
                    requests: metrics.counter(&format!(
                        "vm_http_requests_total{{path=\"/insert\",type=\"{t}\"}}"
                    )),
                    errors: metrics.counter(&format!(
                        "vm_http_request_errors_total{{path=\"/insert\",type=\"{t}\"}}"
                    )),
                    latency: metrics.histogram(
                        &format!(
                            "vm_http_request_duration_seconds{{path=\"/insert\",type=\"{t}\"}}"
                        ),
                        LATENCY_BUCKETS,
                    ),
                }
            })
            .collect();
        Self {
            slots: Semaphore::new(config.max_concurrent_inserts.max(1)),
            invalid_rows: metrics.counter("vm_rows_invalid_total"),
            unavailable: metrics.counter("vm_insert_unavailable_total"),
            config,
            router,
            limits,
            batches: Mutex::new(Vec::new()),
            per_format,
            metrics,
        }
    }

    /// The router.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// Serves one request.
    pub async fn handle(self: Arc<Self>, req: Request) -> Response {
        let path = req.uri().path().to_owned();
        match path.as_str() {
            "/health" => return text(StatusCode::OK, "OK"),
            "/metrics" => return http::metrics_response(&self.metrics),
            "/" => {
                return text(
                    StatusCode::OK,
                    "vminsert: write to /insert/<accountID>[:<projectID>]/prometheus/api/v1/write\n",
                );
            }
            _ => {}
        }
        let Some((tenant, format)) = parse_path(&path) else {
            return text(
                StatusCode::NOT_FOUND,
                format!(
                    "unsupported path {path:?}; want /insert/<accountID>[:<projectID>]/prometheus/api/v1/write (or .../api/v1/import, .../api/v1/import/prometheus, /insert/<tenant>/influx/write)\n"
                ),
            );
        };
        let tenant = match tenant {
            Ok(t) => t,
            Err(e) => return text(StatusCode::BAD_REQUEST, format!("{e}\n")),
        };
        let m = &self.per_format[Format::ALL.iter().position(|f| *f == format).unwrap_or(0)];
        m.requests.inc();
        let start = Instant::now();
        let resp = match self.write(req, tenant, format, m).await {
            Ok(()) => http::empty(StatusCode::NO_CONTENT),
            Err(Failure::Status(status, msg)) => {
                m.errors.inc();
                text(status, format!("{msg}\n"))
            }
        };
        m.latency.observe_since(start);
        resp
    }

    async fn write(
        &self,
        req: Request,
        tenant: Tenant,
        format: Format,
        m: &FormatMetrics,
    ) -> Result<(), Failure> {
        if req.method() != Method::POST && req.method() != Method::PUT {
            return Err(Failure::Status(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("method {} is not allowed; use POST", req.method()),
            ));
        }
        let encoding = req
            .headers()
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let encoding_ok = match format {
            Format::RemoteWrite => matches!(encoding.as_str(), "" | "snappy"),
            _ => matches!(encoding.as_str(), "" | "identity"),
        };
        if !encoding_ok {
            return Err(Failure::Status(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "unsupported Content-Encoding {encoding:?} for {}",
                    format.metric_type()
                ),
            ));
        }
        let query = req.uri().query().unwrap_or("").to_owned();
        let _slot = match tokio::time::timeout(self.config.max_queue_duration, self.slots.acquire())
            .await
        {
            Ok(Ok(slot)) => slot,
            _ => {
                return Err(Failure::Status(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "too many concurrent inserts: waited -insert.maxQueueDuration={:?} for one of -maxConcurrentInserts={} slots",
                        self.config.max_queue_duration, self.config.max_concurrent_inserts
                    ),
                ));
            }
        };
        let body = http::read_body(req, self.config.max_insert_request_size as usize)
            .await
            .map_err(|e| match e {
                http::BodyError::TooLarge { limit } => Failure::Status(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("request body exceeds -maxInsertRequestSize={limit} bytes"),
                ),
                http::BodyError::Read(msg) => Failure::Status(
                    StatusCode::BAD_REQUEST,
                    format!("cannot read request body: {msg}"),
                ),
            })?;
        let mut batch = self
            .batches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_default();
        batch.clear();
        // A typical request (one scrape, ~10 KiB snappy) parses in well under a millisecond: parse it
        // on the request's task. `block_in_place` hands the worker's queue to another thread
        // (about three context switches per request, a fifth of vminsert's CPU under load), so
        // it is kept for bodies big enough to hold a worker for long.
        let parsed = if body.len() <= INLINE_PARSE_MAX_BODY {
            self.parse(format, &query, &body, &mut batch)
        } else {
            tokio::task::block_in_place(|| self.parse(format, &query, &body, &mut batch))
        };
        let result = match parsed {
            Err(e) => Err(Failure::Status(
                StatusCode::BAD_REQUEST,
                format!("cannot parse {} request: {e}", format.metric_type()),
            )),
            Ok(()) => {
                self.invalid_rows.add(batch.stats().samples_skipped);
                let rows = batch.sample_count() as u64;
                match self.router.write(tenant, &batch).await {
                    Ok(()) => {
                        m.rows.add(rows);
                        Ok(())
                    }
                    Err(e @ RouteError::NotEnoughNodes { .. }) => {
                        self.unavailable.inc();
                        Err(Failure::Status(
                            StatusCode::SERVICE_UNAVAILABLE,
                            e.to_string(),
                        ))
                    }
                    Err(e) => Err(Failure::Status(
                        StatusCode::SERVICE_UNAVAILABLE,
                        e.to_string(),
                    )),
                }
            }
        };
        if batch.sample_count() < 1 << 20 {
            self.batches
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(batch);
        }
        result
    }

    fn parse(
        &self,
        format: Format,
        query: &str,
        body: &[u8],
        batch: &mut Batch,
    ) -> Result<(), IngestError> {
        let now = now_ms();
        match format {
            Format::RemoteWrite => ingest::remote_write::decode(body, &self.limits, batch),
            Format::JsonLines => ingest::json_lines::parse(body, &self.limits, batch),
            Format::PrometheusText => {
                let ts = query_param(query, "timestamp")
                    .and_then(|t| t.parse::<i64>().ok())
                    .unwrap_or(now);
                ingest::prometheus_text::parse(body, ts, &self.limits, batch)
            }
            Format::Influx => {
                let db = query_param(query, "db").unwrap_or_default();
                let mut options = influx::Options::new(now);
                options.db = &db;
                if let Some(p) = query_param(query, "precision") {
                    options.precision = p.parse()?;
                }
                influx::parse(body, &options, &self.limits, batch)
            }
        }
    }
}

/// Request bodies up to this size are parsed on the request's own task.
const INLINE_PARSE_MAX_BODY: usize = 256 << 10;

/// Splits `/insert/<tenant>/<rest>` into the tenant and the format.
fn parse_path(path: &str) -> Option<(Result<Tenant, String>, Format)> {
    let rest = path.strip_prefix("/insert/")?;
    let (tenant, rest) = rest.split_once('/')?;
    let format = Format::from_path(rest)?;
    Some((
        http::parse_tenant(tenant).map(|(a, p)| Tenant::new(a, p)),
        format,
    ))
}

fn query_param(query: &str, name: &str) -> Option<String> {
    let mut p = http::Params::default();
    p.extend_from_urlencoded(query);
    p.get(name).map(str::to_owned)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        #[track_caller]
        fn check(path: &str, want: Option<(Result<Tenant, ()>, Format)>) {
            let got = parse_path(path).map(|(t, f)| (t.map_err(|_| ()), f));
            assert_eq!(got, want, "{path}");
        }
        check(
            "/insert/0/prometheus/api/v1/write",
            Some((Ok(Tenant::new(0, 0)), Format::RemoteWrite)),
        );
        check(
            "/insert/7:9/prometheus/api/v1/import",
            Some((Ok(Tenant::new(7, 9)), Format::JsonLines)),
        );
        check(
            "/insert/1/prometheus/api/v1/import/prometheus",
            Some((Ok(Tenant::new(1, 0)), Format::PrometheusText)),
        );
        check(
            "/insert/1/influx/write",
            Some((Ok(Tenant::new(1, 0)), Format::Influx)),
        );
        check(
            "/insert/x/prometheus/api/v1/write",
            Some((Err(()), Format::RemoteWrite)),
        );
        check("/insert/1/prometheus/api/v1/query", None);
        check("/select/1/prometheus/api/v1/write", None);
        check("/insert/1", None);
    }
}
