//! vmstorage's HTTP endpoints: health, metrics, snapshots, and forced flush and merge.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use hyper::StatusCode;
use service::http::{self, Request, Response, json, text};
use service::metrics::Registry;
use tsdb::storage::Storage;

use crate::rpc_services::Node;

/// The HTTP API of a storage node.
pub struct Api {
    /// The storage.
    pub storage: Arc<Storage>,
    /// The RPC services' state (read-only, stopping).
    pub node: Arc<Node>,
    /// Self-metrics.
    pub metrics: Registry,
    /// -storageDataPath, for messages.
    pub data_path: PathBuf,
}

fn status_json(status: &str, extra: &str) -> String {
    format!("{{\"status\":\"{status}\"{extra}}}")
}

impl Api {
    /// Serves one request.
    pub async fn handle(self: Arc<Self>, req: Request) -> Response {
        let path = req.uri().path().to_owned();
        let mut params = http::Params::default();
        if let Some(q) = req.uri().query() {
            params.extend_from_urlencoded(q);
        }
        match path.as_str() {
            "/health" => {
                if self.node.stopping.load(Ordering::Relaxed) {
                    text(StatusCode::SERVICE_UNAVAILABLE, "stopping\n")
                } else {
                    text(StatusCode::OK, "OK")
                }
            }
            "/metrics" => http::metrics_response(&self.metrics),
            "/snapshot/create" => {
                let s = Arc::clone(&self.storage);
                match tokio::task::spawn_blocking(move || s.create_snapshot()).await {
                    Ok(Ok(name)) => json(
                        StatusCode::OK,
                        status_json(
                            "ok",
                            &format!(",\"snapshot\":{}", serde_json::Value::String(name)),
                        ),
                    ),
                    Ok(Err(e)) => json(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        status_json(
                            "error",
                            &format!(",\"msg\":{}", serde_json::Value::String(e.to_string())),
                        ),
                    ),
                    Err(_) => json(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        status_json("error", ",\"msg\":\"snapshot panicked\""),
                    ),
                }
            }
            "/snapshot/list" => match self.storage.list_snapshots() {
                Ok(names) => json(
                    StatusCode::OK,
                    format!(
                        "{{\"status\":\"ok\",\"snapshots\":{}}}",
                        serde_json::json!(names)
                    ),
                ),
                Err(e) => json(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    status_json(
                        "error",
                        &format!(",\"msg\":{}", serde_json::Value::String(e.to_string())),
                    ),
                ),
            },
            "/snapshot/delete" => {
                let Some(name) = params.get("snapshot") else {
                    return json(
                        StatusCode::BAD_REQUEST,
                        status_json("error", ",\"msg\":\"missing parameter snapshot\""),
                    );
                };
                match self.storage.delete_snapshot(name) {
                    Ok(()) => json(StatusCode::OK, status_json("ok", "")),
                    Err(e) => json(
                        StatusCode::BAD_REQUEST,
                        status_json(
                            "error",
                            &format!(",\"msg\":{}", serde_json::Value::String(e.to_string())),
                        ),
                    ),
                }
            }
            "/internal/force_flush" => {
                let s = Arc::clone(&self.storage);
                match tokio::task::spawn_blocking(move || s.force_flush()).await {
                    Ok(Ok(())) => text(StatusCode::OK, "OK"),
                    Ok(Err(e)) => text(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("cannot flush: {e}\n"),
                    ),
                    Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "flush panicked\n"),
                }
            }
            "/internal/force_merge" => {
                let s = Arc::clone(&self.storage);
                match tokio::task::spawn_blocking(move || s.force_merge()).await {
                    Ok(Ok(())) => text(StatusCode::OK, "OK"),
                    Ok(Err(e)) => text(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("cannot merge: {e}\n"),
                    ),
                    Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "merge panicked\n"),
                }
            }
            "/" => text(
                StatusCode::OK,
                format!("vmstorage for {}\n", self.data_path.display()),
            ),
            _ => text(
                StatusCode::NOT_FOUND,
                format!("unsupported path {path:?}\n"),
            ),
        }
    }
}
