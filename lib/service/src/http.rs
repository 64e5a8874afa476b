//! HTTP serving for every process: an accept loop over hyper with graceful stop, bounded body
//! reading, query and form parsing, and responses in Prometheus's JSON shapes.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// An incoming request.
pub type Request = hyper::Request<Incoming>;
/// A complete response.
pub type Response = hyper::Response<Full<Bytes>>;
/// A boxed response future.
pub type ResponseFuture = Pin<Box<dyn Future<Output = Response> + Send>>;
/// What serves every request of one listener.
pub type Handler = Arc<dyn Fn(Request) -> ResponseFuture + Send + Sync>;

/// Time a client has to send a request's head.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Time a client has to send a request's body (bodies are read into memory whole).
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Accepts connections on `listener` and serves them with `handler` until `stop` resolves;
/// then stops accepting and waits up to `grace` for requests in flight.
pub async fn serve(
    listener: TcpListener,
    handler: Handler,
    stop: impl Future<Output = ()>,
    grace: Duration,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(stop);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    crate::warn!("cannot accept HTTP connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let handler = Arc::clone(&handler);
        let service = service_fn(move |req: Request| {
            let fut = handler(req);
            async move { Ok::<_, Infallible>(fut.await) }
        });
        // A client gets HEADER_READ_TIMEOUT to send its request head: slow-header clients
        // cannot hold connections open forever.
        let conn = http1::Builder::new()
            .keep_alive(true)
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(grace, graceful.shutdown()).await;
}

/// Why a request body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// The body is larger than the limit (answer 413).
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The connection failed while reading.
    Read(String),
}

impl BodyError {
    /// The response that explains this error to the client.
    pub fn response(&self) -> Response {
        match self {
            BodyError::TooLarge { limit } => text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body exceeds the limit of {limit} bytes (-maxRequestSize)\n"),
            ),
            BodyError::Read(e) => text(
                StatusCode::BAD_REQUEST,
                format!("cannot read request body: {e}\n"),
            ),
        }
    }
}

/// Reads the whole body, refusing more than `limit` bytes (also when Content-Length says so).
pub async fn read_body(req: Request, limit: usize) -> Result<Bytes, BodyError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    let collect = Limited::new(req.into_body(), limit).collect();
    match tokio::time::timeout(BODY_READ_TIMEOUT, collect).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            Err(BodyError::TooLarge { limit })
        }
        Ok(Err(e)) => Err(BodyError::Read(e.to_string())),
        Err(_) => Err(BodyError::Read(format!(
            "the body did not arrive within {} s",
            BODY_READ_TIMEOUT.as_secs()
        ))),
    }
}

/// Query parameters (and, for form POSTs, body parameters) in the order given.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, e.g. `match[]`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Appends the pairs of a `application/x-www-form-urlencoded` string.
    pub fn extend_from_urlencoded(&mut self, s: &str) {
        for pair in s.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            self.0.push((percent_decode(k), percent_decode(v)));
        }
    }
}

/// Reads the URL query and, for a POST with a form body, the form too.
pub async fn read_params(req: Request, body_limit: usize) -> Result<Params, BodyError> {
    let mut params = Params::default();
    if let Some(q) = req.uri().query() {
        params.extend_from_urlencoded(q);
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if req.method() == hyper::Method::POST && is_form {
        let body = read_body(req, body_limit).await?;
        params.extend_from_urlencoded(&String::from_utf8_lossy(&body));
    }
    Ok(params)
}

/// Decodes `%XX` escapes and `+` as space; invalid escapes are kept literally and invalid
/// UTF-8 is replaced.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// A plain-text response.
pub fn text(status: StatusCode, body: impl Into<Bytes>) -> Response {
    with_type(status, "text/plain; charset=utf-8", body)
}

/// A JSON response.
pub fn json(status: StatusCode, body: impl Into<Bytes>) -> Response {
    with_type(status, "application/json", body)
}

/// A response with the given content type.
pub fn with_type(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response {
    let mut resp = hyper::Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    resp
}

/// The `/metrics` answer: `registry` in the Prometheus text format.
pub fn metrics_response(registry: &crate::metrics::Registry) -> Response {
    with_type(
        StatusCode::OK,
        "text/plain; version=0.0.4; charset=utf-8",
        registry.render(),
    )
}

/// An empty response (e.g. 204 for a successful remote write).
pub fn empty(status: StatusCode) -> Response {
    let mut resp = hyper::Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = status;
    resp
}

/// An error in Prometheus's JSON shape: `{"status":"error","errorType":...,"error":...}`.
pub fn prom_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    let body = serde_json::json!({"status": "error", "errorType": error_type, "error": message});
    json(status, body.to_string())
}

/// Parses the tenant of `/insert/<accountID>[:<projectID>]/...` and `/select/<tenant>/...`.
pub fn parse_tenant(s: &str) -> Result<(u32, u32), String> {
    let (a, p) = s.split_once(':').unwrap_or((s, "0"));
    let parse = |v: &str, what: &str| {
        v.parse::<u32>().map_err(|_| {
            format!("cannot parse {what} {v:?} in tenant {s:?}: want an integer in 0..=4294967295")
        })
    };
    Ok((parse(a, "accountID")?, parse(p, "projectID")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_forms_and_queries() {
        let mut p = Params::default();
        p.extend_from_urlencoded(
            "query=up%7Bjob%3D%22a%22%7D&match[]=a&match%5B%5D=b+c&bad=%zz%4&flag",
        );
        assert_eq!(p.get("query"), Some("up{job=\"a\"}"));
        assert_eq!(p.all("match[]"), vec!["a", "b c"]);
        assert_eq!(p.get("bad"), Some("%zz%4"));
        assert_eq!(p.get("flag"), Some(""));
        assert_eq!(p.get("missing"), None);
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
    }

    #[test]
    fn tenants() {
        assert_eq!(parse_tenant("0"), Ok((0, 0)));
        assert_eq!(parse_tenant("12:34"), Ok((12, 34)));
        assert!(parse_tenant("x").unwrap_err().contains("accountID"));
        assert!(parse_tenant("1:-2").unwrap_err().contains("projectID"));
        assert!(parse_tenant("4294967296").is_err());
    }
}
