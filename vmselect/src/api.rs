//! The HTTP API: routing of `/select/<tenant>/prometheus/...` and the handlers.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use promql::ast::ExprKind;
use promql::{Engine, EngineConfig, ErrorKind, Expr, LabelMatcher, QueryError};
use rpc::messages::{
    LabelNamesRequest, LabelValuesRequest, SeriesRequest, TsdbStatusRequest, select_request,
    select_response,
};
use service::http::{self, Params, Request, Response, json, prom_error, text};
use service::metrics::{Counter, Histogram, LATENCY_BUCKETS, Registry};
use tokio::sync::Semaphore;
use tsdb::Tenant;

use crate::cluster::{Cluster, merge_series_names, merge_strings};
use crate::config::Config;
use crate::json::{render_query, render_series, render_strings, write_labels, write_str};
use crate::querier::{ClusterQuerier, decode_labels, fanout_error, merge_blocks, search_query};
use crate::search::SearchChunks;
use crate::times::{parse_duration_param, parse_time};

/// The Prometheus version reported by `/api/v1/status/buildinfo`: recent enough that Grafana
/// sends `match[]` to the label values API.
pub const PROMETHEUS_COMPAT_VERSION: &str = "2.42.0";

/// Everything a request handler needs.
pub struct Api {
    /// Flags.
    pub config: Config,
    /// The storage nodes.
    pub cluster: Arc<Cluster>,
    /// Self-metrics.
    pub metrics: Registry,
    limiter: Semaphore,
    requests: Arc<Counter>,
    errors: Arc<Counter>,
    latency: Arc<Histogram>,
}

/// An error answer: HTTP status, Prometheus `errorType`, message.
struct ApiError(StatusCode, &'static str, String);

impl ApiError {
    fn bad_data(msg: impl Into<String>) -> Self {
        ApiError(StatusCode::BAD_REQUEST, "bad_data", msg.into())
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        let msg = e.to_string();
        match e.kind() {
            ErrorKind::BadData => ApiError(StatusCode::BAD_REQUEST, "bad_data", msg),
            ErrorKind::Execution | ErrorKind::Limit => {
                ApiError(StatusCode::UNPROCESSABLE_ENTITY, "execution", msg)
            }
            ErrorKind::Timeout => ApiError(StatusCode::SERVICE_UNAVAILABLE, "timeout", msg),
            ErrorKind::Storage => ApiError(StatusCode::SERVICE_UNAVAILABLE, "unavailable", msg),
        }
    }
}

type ApiResult = Result<Response, ApiError>;

impl Api {
    /// Builds the API over `cluster`.
    pub fn new(config: Config, cluster: Arc<Cluster>, metrics: Registry) -> Self {
        Self {
            limiter: Semaphore::new(config.max_concurrent_requests.max(1)),
            requests: metrics.counter("vm_http_requests_total{path=\"/select\"}"),
            errors: metrics.counter("vm_http_request_errors_total{path=\"/select\"}"),
            latency: metrics.histogram(
                "vm_http_request_duration_seconds{path=\"/select\"}",
                LATENCY_BUCKETS,
            ),
            config,
            cluster,
            metrics,
        }
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
                    "vmselect: the Prometheus query API is at /select/<accountID>[:<projectID>]/prometheus/api/v1/...\n",
                );
            }
            _ => {}
        }
        let start = Instant::now();
        self.requests.inc();
        let resp = match self.route(req, &path).await {
            Ok(r) => r,
            Err(ApiError(status, ty, msg)) => {
                self.errors.inc();
                prom_error(status, ty, &msg)
            }
        };
        self.latency.observe_since(start);
        resp
    }

    async fn route(&self, req: Request, path: &str) -> ApiResult {
        let mut parts = path.trim_start_matches('/').splitn(3, '/');
        let (kind, tenant, rest) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        if kind != "select" && kind != "delete" {
            return Err(ApiError(
                StatusCode::NOT_FOUND,
                "bad_data",
                format!(
                    "unsupported path {path:?}; want /select/<accountID>[:<projectID>]/prometheus/api/v1/..."
                ),
            ));
        }
        let (a, p) = http::parse_tenant(tenant).map_err(ApiError::bad_data)?;
        let tenant = Tenant::new(a, p);
        let rest = rest.strip_prefix("prometheus/").unwrap_or(rest);
        if !(req.method() == Method::GET || req.method() == Method::POST) {
            return Err(ApiError(
                StatusCode::METHOD_NOT_ALLOWED,
                "bad_data",
                format!("method {} is not allowed; use GET or POST", req.method()),
            ));
        }
        let params = http::read_params(req, self.config.max_request_size as usize)
            .await
            .map_err(|e| match e {
                http::BodyError::TooLarge { limit } => ApiError(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "bad_data",
                    format!("request body exceeds -search.maxRequestSize={limit}"),
                ),
                http::BodyError::Read(m) => ApiError::bad_data(m),
            })?;
        if kind == "delete" {
            return match rest {
                "api/v1/admin/tsdb/delete_series" => self.delete_series(tenant, &params).await,
                _ => Err(ApiError(
                    StatusCode::NOT_FOUND,
                    "bad_data",
                    format!("unsupported path {path:?}"),
                )),
            };
        }
        match rest {
            "api/v1/query" => self.query(tenant, &params, false).await,
            "api/v1/query_range" => self.query(tenant, &params, true).await,
            "api/v1/series" => self.series(tenant, &params).await,
            "api/v1/labels" => self.label_names(tenant, &params).await,
            "api/v1/export" => self.export(tenant, &params).await,
            "federate" => self.federate(tenant, &params).await,
            "api/v1/status/tsdb" => self.tsdb_status(tenant, &params).await,
            "api/v1/status/buildinfo" => Ok(json(
                StatusCode::OK,
                format!(
                    "{{\"status\":\"success\",\"data\":{{\"version\":\"{PROMETHEUS_COMPAT_VERSION}\",\"revision\":\"\",\"branch\":\"\",\"buildUser\":\"\",\"buildDate\":\"\",\"goVersion\":\"\",\"application\":\"vmselect {}\"}}}}",
                    env!("CARGO_PKG_VERSION")
                ),
            )),
            "api/v1/metadata" => Ok(json(StatusCode::OK, "{\"status\":\"success\",\"data\":{}}")),
            "api/v1/rules" => Ok(json(
                StatusCode::OK,
                "{\"status\":\"success\",\"data\":{\"groups\":[]}}",
            )),
            "api/v1/alerts" => Ok(json(
                StatusCode::OK,
                "{\"status\":\"success\",\"data\":{\"alerts\":[]}}",
            )),
            "api/v1/query_exemplars" => {
                Ok(json(StatusCode::OK, "{\"status\":\"success\",\"data\":[]}"))
            }
            r => match r
                .strip_prefix("api/v1/label/")
                .and_then(|x| x.strip_suffix("/values"))
            {
                Some(name) if !name.is_empty() => {
                    let name = http::percent_decode(name);
                    self.label_values(tenant, &name, &params).await
                }
                _ => Err(ApiError(
                    StatusCode::NOT_FOUND,
                    "bad_data",
                    format!("unsupported path {path:?}"),
                )),
            },
        }
    }

    /// Waits for a query slot, or fails with 503 after -search.maxQueueDuration.
    async fn slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>, ApiError> {
        match tokio::time::timeout(self.config.max_queue_duration, self.limiter.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                format!(
                    "too many concurrent queries: waited -search.maxQueueDuration={:?} for one of -search.maxConcurrentRequests={} slots",
                    self.config.max_queue_duration, self.config.max_concurrent_requests
                ),
            )),
        }
    }

    fn timeout(&self, params: &Params) -> Result<Duration, ApiError> {
        let max = self.config.max_query_duration;
        match params.get("timeout") {
            Some(t) => {
                let ms = parse_duration_param(t).map_err(|e| {
                    ApiError::bad_data(format!("invalid parameter \"timeout\": {e}"))
                })?;
                if ms <= 0 {
                    return Err(ApiError::bad_data(
                        "invalid parameter \"timeout\": must be positive",
                    ));
                }
                Ok(Duration::from_millis(ms as u64).min(max))
            }
            None => Ok(max),
        }
    }

    fn deny_partial(&self, params: &Params) -> bool {
        self.config.deny_partial_response
            || matches!(params.get("deny_partial_response"), Some("1" | "true"))
    }

    fn querier(&self, tenant: Tenant, deadline: Instant, deny_partial: bool) -> ClusterQuerier<'_> {
        ClusterQuerier {
            cluster: &self.cluster,
            tenant,
            handle: tokio::runtime::Handle::current(),
            deadline,
            deny_partial,
            dedup_interval_ms: self.config.dedup_min_scrape_interval.as_millis() as i64,
            max_series: self.config.max_unique_timeseries as u64,
            partial: AtomicBool::new(false),
        }
    }

    fn engine_config(&self, timeout: Duration) -> EngineConfig {
        let limit = |v: usize| (v > 0).then_some(v);
        EngineConfig {
            lookback_delta_ms: self.config.lookback_delta.as_millis() as i64,
            max_series: limit(self.config.max_unique_timeseries),
            max_samples: limit(self.config.max_samples_per_query),
            max_points_per_series: limit(self.config.max_points_per_timeseries),
            max_memory_bytes: limit(self.config.max_memory_per_query as usize),
            timeout: Some(timeout),
            ..EngineConfig::default()
        }
    }

    async fn query(&self, tenant: Tenant, params: &Params, range: bool) -> ApiResult {
        let query = params
            .get("query")
            .ok_or_else(|| ApiError::bad_data("missing parameter \"query\""))?
            .to_owned();
        let timeout = self.timeout(params)?;
        let now = now_ms();
        let (start, end, step) = if range {
            let get = |name: &str| -> Result<i64, ApiError> {
                let v = params
                    .get(name)
                    .ok_or_else(|| ApiError::bad_data(format!("missing parameter \"{name}\"")))?;
                parse_time(v)
                    .map_err(|e| ApiError::bad_data(format!("invalid parameter \"{name}\": {e}")))
            };
            let (start, end) = (get("start")?, get("end")?);
            let step_s = params
                .get("step")
                .ok_or_else(|| ApiError::bad_data("missing parameter \"step\""))?;
            let step = parse_duration_param(step_s)
                .map_err(|e| ApiError::bad_data(format!("invalid parameter \"step\": {e}")))?;
            if end < start {
                return Err(ApiError::bad_data(
                    "invalid parameter \"end\": end timestamp must not be before start time",
                ));
            }
            if step <= 0 {
                return Err(ApiError::bad_data(
                    "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
                ));
            }
            let points = (end - start) / step + 1;
            if points > self.config.max_points_per_timeseries as i64 {
                return Err(ApiError::bad_data(format!(
                    "exceeded maximum resolution of {} points per timeseries (-search.maxPointsPerTimeseries). Try decreasing the query resolution (?step=XX)",
                    self.config.max_points_per_timeseries
                )));
            }
            (start, end, step)
        } else {
            let t = match params.get("time") {
                Some(t) => parse_time(t)
                    .map_err(|e| ApiError::bad_data(format!("invalid parameter \"time\": {e}")))?,
                None => now,
            };
            (t, t, 0)
        };
        let _permit = self.slot().await?;
        let deadline = Instant::now() + timeout;
        let deny = self.deny_partial(params);
        let engine = Engine::new(self.engine_config(timeout));
        let result = tokio::task::block_in_place(|| {
            let querier = self.querier(tenant, deadline, deny);
            let res = if range {
                engine.range(&querier, &query, start, end, step)
            } else {
                engine.instant(&querier, &query, start)
            };
            res.map(|r| (r, querier.is_partial()))
        });
        let (result, partial) = result.map_err(|e| name_limit_flags(e.into()))?;
        Ok(json(
            StatusCode::OK,
            render_query(&result.value, partial, &result.annotations),
        ))
    }

    /// The matchers of every `match[]` (each must be a series selector).
    fn match_params(params: &Params, required: bool) -> Result<Vec<Vec<LabelMatcher>>, ApiError> {
        let all = params.all("match[]");
        if all.is_empty() && required {
            return Err(ApiError::bad_data("no match[] parameter provided"));
        }
        all.into_iter()
            .map(|m| match promql::parse(m) {
                Ok(Expr {
                    kind: ExprKind::Selector(sel),
                    ..
                }) => Ok(sel.matchers),
                Ok(_) => Err(ApiError::bad_data(format!(
                    "invalid parameter \"match[]\": {m:?} is not a series selector"
                ))),
                Err(e) => Err(ApiError::bad_data(format!(
                    "invalid parameter \"match[]\": {e}"
                ))),
            })
            .collect()
    }

    /// The `start`/`end` of a lookup; Prometheus's defaults are all time.
    fn lookup_range(params: &Params) -> Result<(i64, i64), ApiError> {
        let get = |name: &str, default: i64| -> Result<i64, ApiError> {
            match params.get(name) {
                Some(v) if !v.is_empty() => parse_time(v)
                    .map_err(|e| ApiError::bad_data(format!("invalid parameter \"{name}\": {e}"))),
                _ => Ok(default),
            }
        };
        let end = get("end", i64::MAX / 2)?;
        let start = get("start", i64::MIN / 2)?;
        if end < start {
            return Err(ApiError::bad_data(
                "invalid parameter \"end\": end timestamp must not be before start time",
            ));
        }
        Ok((start, end))
    }

    /// Runs a non-search select kind built per `match[]` (or once without matchers) and
    /// returns the answers of all nodes and whether any was partial.
    async fn lookup(
        &self,
        params: &Params,
        required: bool,
        build: impl Fn(Option<rpc::messages::SearchQuery>) -> select_request::Kind,
        tenant: Tenant,
    ) -> Result<(Vec<rpc::messages::SelectResponse>, bool), ApiError> {
        let timeout = self.timeout(params)?;
        let (start, end) = Self::lookup_range(params)?;
        let matcher_sets = Self::match_params(params, required)?;
        let queries: Vec<Option<rpc::messages::SearchQuery>> = if matcher_sets.is_empty() {
            vec![Some(search_query(tenant, &[], start, end, 0))]
        } else {
            matcher_sets
                .iter()
                .map(|m| Some(search_query(tenant, m, start, end, 0)))
                .collect()
        };
        let _permit = self.slot().await?;
        let mut answers = Vec::new();
        let mut partial = false;
        for q in queries {
            let request = Cluster::request(build(q));
            let fan = self
                .cluster
                .call(&request, timeout, self.deny_partial(params), &|_, _| Ok(()))
                .await
                .map_err(|e| ApiError::from(fanout_error(e)))?;
            partial |= fan.is_partial;
            answers.extend(fan.answers);
        }
        Ok((answers, partial))
    }

    fn limit_param(params: &Params, max: usize) -> Result<usize, ApiError> {
        match params.get("limit") {
            Some(l) if !l.is_empty() => {
                let n: usize = l.parse().map_err(|_| {
                    ApiError::bad_data(format!(
                        "invalid parameter \"limit\": {l:?} is not a non-negative integer"
                    ))
                })?;
                Ok(if n == 0 { max } else { n.min(max) })
            }
            _ => Ok(max),
        }
    }

    async fn label_names(&self, tenant: Tenant, params: &Params) -> ApiResult {
        let limit = Self::limit_param(params, self.config.max_tag_values)?;
        let (answers, partial) = self
            .lookup(
                params,
                false,
                |q| {
                    select_request::Kind::LabelNames(LabelNamesRequest {
                        query: q,
                        limit: limit as u64,
                    })
                },
                tenant,
            )
            .await?;
        Ok(json(
            StatusCode::OK,
            render_strings(&merge_strings(&answers, limit), partial),
        ))
    }

    async fn label_values(&self, tenant: Tenant, name: &str, params: &Params) -> ApiResult {
        let limit = Self::limit_param(params, self.config.max_tag_values)?;
        let (answers, partial) = self
            .lookup(
                params,
                false,
                |q| {
                    select_request::Kind::LabelValues(LabelValuesRequest {
                        query: q,
                        label_name: name.to_owned(),
                        limit: limit as u64,
                    })
                },
                tenant,
            )
            .await?;
        Ok(json(
            StatusCode::OK,
            render_strings(&merge_strings(&answers, limit), partial),
        ))
    }

    async fn series(&self, tenant: Tenant, params: &Params) -> ApiResult {
        let limit = Self::limit_param(params, self.config.max_series)?;
        let (answers, partial) = self
            .lookup(
                params,
                true,
                |q| {
                    select_request::Kind::Series(SeriesRequest {
                        query: q,
                        limit: limit as u64,
                    })
                },
                tenant,
            )
            .await?;
        let mut names = merge_series_names(&answers);
        names.truncate(limit);
        let labels = names
            .iter()
            .map(|n| decode_labels(n))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(json(StatusCode::OK, render_series(&labels, partial)))
    }

    async fn tsdb_status(&self, tenant: Tenant, params: &Params) -> ApiResult {
        let top_n: u64 = match params.get("topN") {
            Some(n) => n
                .parse()
                .map_err(|_| ApiError::bad_data(format!("invalid parameter \"topN\": {n:?}")))?,
            None => 10,
        };
        let mut scoped = params.clone();
        if let Some(date) = params.get("date") {
            // One UTC day, as VictoriaMetrics's `date=YYYY-MM-DD`.
            let day = parse_time(&format!("{date}T00:00:00Z"))
                .map_err(|e| ApiError::bad_data(format!("invalid parameter \"date\": {e}")))?;
            scoped.0.push(("start".into(), (day / 1000).to_string()));
            scoped
                .0
                .push(("end".into(), ((day + 86_399_999) / 1000).to_string()));
        } else if params.get("start").is_none() {
            let now = now_ms();
            scoped.0.push((
                "start".into(),
                ((now - now.rem_euclid(86_400_000)) / 1000).to_string(),
            ));
        }
        let (answers, partial) = self
            .lookup(
                &scoped,
                false,
                |q| select_request::Kind::TsdbStatus(TsdbStatusRequest { query: q, top_n }),
                tenant,
            )
            .await?;
        Ok(json(
            StatusCode::OK,
            render_tsdb_status(&answers, top_n as usize, partial),
        ))
    }

    async fn delete_series(&self, tenant: Tenant, params: &Params) -> ApiResult {
        let (answers, _) = self
            .lookup(
                params,
                true,
                |q| select_request::Kind::DeleteSeries(q.unwrap_or_default()),
                tenant,
            )
            .await?;
        let deleted: u64 = answers
            .iter()
            .filter_map(|a| match a.kind {
                Some(select_response::Kind::Deleted(n)) => Some(n),
                _ => None,
            })
            .sum();
        let _ = deleted;
        Ok(http::empty(StatusCode::NO_CONTENT))
    }

    /// Raw samples as JSON lines, as VictoriaMetrics's `/api/v1/export`.
    async fn export(&self, tenant: Tenant, params: &Params) -> ApiResult {
        let matcher_sets = Self::match_params(params, true)?;
        let (start, end) = Self::lookup_range(params)?;
        let timeout = self.timeout(params)?;
        let _permit = self.slot().await?;
        let deadline = Instant::now() + timeout;
        let deny = self.deny_partial(params);
        let body = tokio::task::block_in_place(|| -> Result<String, ApiError> {
            let querier = self.querier(tenant, deadline, deny);
            let mut all = SearchChunks::default();
            for m in &matcher_sets {
                all.append(querier.search_blocks(m, start, end)?);
            }
            let mut out = String::new();
            let set = all.into_set();
            for i in 0..set.len() {
                let labels = decode_labels(set.name(i))?;
                let blocks: Vec<&[u8]> = set.blocks(i).collect();
                let (ts, vs) = merge_blocks(&blocks, start, end, querier.dedup_interval_ms)?;
                if ts.is_empty() {
                    continue;
                }
                out.push_str("{\"metric\":");
                write_labels(&mut out, &labels);
                out.push_str(",\"values\":[");
                for (i, v) in vs.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    push_json_number(&mut out, *v);
                }
                out.push_str("],\"timestamps\":[");
                for (i, t) in ts.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&t.to_string());
                }
                out.push_str("]}\n");
            }
            Ok(out)
        })?;
        Ok(http::with_type(
            StatusCode::OK,
            "application/stream+json",
            body,
        ))
    }

    /// The latest sample of each matching series in the Prometheus text format.
    async fn federate(&self, tenant: Tenant, params: &Params) -> ApiResult {
        let matcher_sets = Self::match_params(params, true)?;
        let t = match params.get("time") {
            Some(v) => parse_time(v)
                .map_err(|e| ApiError::bad_data(format!("invalid parameter \"time\": {e}")))?,
            None => now_ms(),
        };
        let lookback = self.config.lookback_delta.as_millis() as i64;
        let timeout = self.timeout(params)?;
        let _permit = self.slot().await?;
        let deadline = Instant::now() + timeout;
        let deny = self.deny_partial(params);
        let body = tokio::task::block_in_place(|| -> Result<String, ApiError> {
            let querier = self.querier(tenant, deadline, deny);
            let mut all = SearchChunks::default();
            for m in &matcher_sets {
                all.append(querier.search_blocks(m, t - lookback + 1, t)?);
            }
            let mut out = String::new();
            let set = all.into_set();
            for i in 0..set.len().min(self.config.max_series) {
                let labels = decode_labels(set.name(i))?;
                let blocks: Vec<&[u8]> = set.blocks(i).collect();
                let (ts, vs) =
                    merge_blocks(&blocks, t - lookback + 1, t, querier.dedup_interval_ms)?;
                let (Some(&ts), Some(&v)) = (ts.last(), vs.last()) else {
                    continue;
                };
                if promql::is_stale_nan(v) {
                    continue;
                }
                write_text_sample(&mut out, &labels, v, ts);
            }
            Ok(out)
        })?;
        Ok(http::with_type(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            body,
        ))
    }
}

/// Renames engine limit names to the flags that set them.
fn name_limit_flags(e: ApiError) -> ApiError {
    let ApiError(status, ty, msg) = e;
    let msg = msg
        .replace("limit max_series=", "limit -search.maxUniqueTimeseries=")
        .replace("limit max_samples=", "limit -search.maxSamplesPerQuery=")
        .replace(
            "limit max_points_per_series=",
            "limit -search.maxPointsPerTimeseries=",
        )
        .replace(
            "limit max_memory_bytes=",
            "limit -search.maxMemoryPerQuery=",
        );
    let msg = if msg.starts_with("query timed out") {
        format!(
            "{msg}; the limit is -search.maxQueryDuration or the timeout parameter, whichever is smaller"
        )
    } else {
        msg
    };
    ApiError(status, ty, msg)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Appends a float as a JSON number where possible; NaN and infinities as VictoriaMetrics
/// exports them (`NaN`, `Inf`, `-Inf` bare words its importer reads back).
fn push_json_number(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        out.push_str(&format!("{v}"));
    }
}

/// Appends `name{labels} value timestamp` in the text exposition format.
fn write_text_sample(out: &mut String, labels: &promql::Labels, v: f64, ts: i64) {
    out.push_str(labels.metric_name().unwrap_or(""));
    let mut first = true;
    for l in labels.iter().filter(|l| l.name != "__name__") {
        out.push(if first { '{' } else { ',' });
        first = false;
        out.push_str(l.name);
        out.push_str("=\"");
        for c in l.value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    if !first {
        out.push('}');
    }
    out.push(' ');
    out.push_str(&service::metrics::format_value(v));
    out.push(' ');
    out.push_str(&ts.to_string());
    out.push('\n');
}

/// Merges the per-node cardinality statistics: counts add up across nodes (replicas count
/// twice, as in VictoriaMetrics cluster), lists are re-ranked.
fn render_tsdb_status(
    answers: &[rpc::messages::SelectResponse],
    top_n: usize,
    partial: bool,
) -> String {
    use std::collections::HashMap;
    let mut total = 0u64;
    let mut pairs_total = 0u64;
    let mut by_metric: HashMap<String, u64> = HashMap::new();
    let mut by_label: HashMap<String, u64> = HashMap::new();
    let mut by_pair: HashMap<String, u64> = HashMap::new();
    for a in answers {
        if let Some(select_response::Kind::TsdbStatus(s)) = &a.kind {
            total += s.total_series;
            pairs_total += s.total_label_value_pairs;
            for (map, list) in [
                (&mut by_metric, &s.series_count_by_metric_name),
                (&mut by_label, &s.label_value_count_by_label_name),
                (&mut by_pair, &s.series_count_by_label_value_pair),
            ] {
                for nc in list {
                    *map.entry(nc.name.clone()).or_default() += nc.count;
                }
            }
        }
    }
    let top = |map: HashMap<String, u64>| -> String {
        let mut v: Vec<(String, u64)> = map.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.truncate(top_n);
        let mut out = String::from("[");
        for (i, (name, count)) in v.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"name\":");
            write_str(&mut out, name);
            out.push_str(&format!(",\"value\":{count}}}"));
        }
        out.push(']');
        out
    };
    format!(
        "{{\"status\":\"success\",\"data\":{{\"headStats\":{{\"numSeries\":{total},\"numLabelPairs\":{pairs_total},\"chunkCount\":0,\"minTime\":0,\"maxTime\":0}},\"totalSeries\":{total},\"totalLabelValuePairs\":{pairs_total},\"seriesCountByMetricName\":{},\"labelValueCountByLabelName\":{},\"seriesCountByLabelValuePair\":{},\"memoryInBytesByLabelName\":[]}},\"isPartial\":{partial}}}",
        top(by_metric),
        top(by_label),
        top(by_pair)
    )
}
