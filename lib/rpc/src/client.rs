//! A pooled client for one storage node, with health tracking.
//!
//! Each call takes an idle connection (or dials one), sends its request, reads the answer and
//! returns the connection to the pool. A transport failure marks the node unavailable for a
//! backoff that doubles per consecutive failure (capped); callers ask [`NodeClient::is_available`]
//! to route around it, and the first call after the backoff probes it again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use prost::Message;
use tokio::io::BufStream;
use tokio::net::TcpStream;

use crate::error::{ErrorCode, RpcError};
use crate::frame::{FrameType, read_frame, write_frame};
use crate::handshake::{Role, client_hello};
use crate::messages::{ErrorMessage, InsertAck, SelectRequest, SelectResponse, decode};

/// Client settings.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Time allowed to connect and handshake.
    pub dial_timeout: Duration,
    /// Compress request payloads and ask for compressed answers.
    pub compress: bool,
    /// Idle connections kept per node.
    pub max_idle: usize,
    /// First backoff after a failure.
    pub backoff_min: Duration,
    /// Longest backoff.
    pub backoff_max: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            dial_timeout: Duration::from_secs(3),
            compress: true,
            max_idle: 8,
            backoff_min: Duration::from_millis(200),
            backoff_max: Duration::from_secs(5),
        }
    }
}

/// A connection and whether frames on it are compressed.
#[derive(Debug)]
struct Conn {
    stream: BufStream<TcpStream>,
    compress: bool,
}

#[derive(Debug, Default)]
struct Health {
    consecutive_failures: u32,
    down_until: Option<Instant>,
    last_error: Option<String>,
}

/// Counters a node client keeps, for `/metrics`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct NodeStats {
    /// Calls that succeeded.
    pub calls_ok: u64,
    /// Calls that failed for any reason.
    pub calls_failed: u64,
    /// Connections dialled.
    pub dials: u64,
}

/// A client for one storage node and one role.
#[derive(Debug)]
pub struct NodeClient {
    addr: String,
    role: Role,
    config: ClientConfig,
    idle: Mutex<Vec<Conn>>,
    health: Mutex<Health>,
    stats: Mutex<NodeStats>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl NodeClient {
    /// A client for the node at `addr` (`host:port`).
    pub fn new(addr: impl Into<String>, role: Role, config: ClientConfig) -> Self {
        Self {
            addr: addr.into(),
            role,
            config,
            idle: Mutex::new(Vec::new()),
            health: Mutex::new(Health::default()),
            stats: Mutex::new(NodeStats::default()),
        }
    }

    /// The node's address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// False while the node is in backoff after a transport failure.
    pub fn is_available(&self) -> bool {
        lock(&self.health)
            .down_until
            .is_none_or(|t| Instant::now() >= t)
    }

    /// The last transport error, if the node is failing.
    pub fn last_error(&self) -> Option<String> {
        lock(&self.health).last_error.clone()
    }

    /// Call counters.
    pub fn stats(&self) -> NodeStats {
        *lock(&self.stats)
    }

    fn record(&self, result: &Result<(), &RpcError>) {
        let mut stats = lock(&self.stats);
        match result {
            Ok(()) => {
                stats.calls_ok += 1;
                let mut h = lock(&self.health);
                h.consecutive_failures = 0;
                h.down_until = None;
                h.last_error = None;
            }
            Err(e) => {
                stats.calls_failed += 1;
                if e.is_unavailable() {
                    let mut h = lock(&self.health);
                    h.consecutive_failures = h.consecutive_failures.saturating_add(1);
                    let factor = 1u32 << h.consecutive_failures.min(16).saturating_sub(1);
                    let backoff = (self.config.backoff_min * factor).min(self.config.backoff_max);
                    h.down_until = Some(Instant::now() + backoff);
                    h.last_error = Some(e.to_string());
                }
            }
        }
    }

    fn transport(&self, message: impl std::fmt::Display) -> RpcError {
        RpcError::Transport {
            node: self.addr.clone(),
            message: message.to_string(),
        }
    }

    fn protocol(&self, message: impl Into<String>) -> RpcError {
        RpcError::Protocol {
            node: self.addr.clone(),
            message: message.into(),
        }
    }

    async fn checkout(&self) -> Result<Conn, RpcError> {
        if let Some(conn) = lock(&self.idle).pop() {
            return Ok(conn);
        }
        lock(&self.stats).dials += 1;
        let dial = async {
            let stream = TcpStream::connect(&self.addr)
                .await
                .map_err(|e| self.transport(format!("cannot connect: {e}")))?;
            let _ = stream.set_nodelay(true);
            // Between processes of one host compression only costs CPU: skip it there.
            let local = stream.peer_addr().is_ok_and(|a| a.ip().is_loopback());
            let compress = self.config.compress && !local;
            let mut stream = BufStream::with_capacity(64 << 10, 64 << 10, stream);
            client_hello(&mut stream, self.role, compress)
                .await
                .map_err(|e| self.transport(e))?;
            Ok(Conn { stream, compress })
        };
        match tokio::time::timeout(self.config.dial_timeout, dial).await {
            Ok(res) => res,
            Err(_) => Err(self.transport(format!(
                "cannot connect within {} ms",
                self.config.dial_timeout.as_millis()
            ))),
        }
    }

    fn checkin(&self, conn: Conn) {
        let mut idle = lock(&self.idle);
        if idle.len() < self.config.max_idle {
            idle.push(conn);
        }
    }

    /// Drops every pooled connection (after the node restarted, say).
    pub fn reset(&self) {
        lock(&self.idle).clear();
    }

    fn remote_error(&self, payload: &[u8]) -> RpcError {
        match decode::<ErrorMessage>(payload, "error message") {
            Ok(e) => RpcError::Remote {
                node: self.addr.clone(),
                code: ErrorCode::from_u32(e.code),
                message: e.message,
            },
            Err(e) => self.protocol(e),
        }
    }

    /// Sends a row batch ([`crate::row_batch`]) and waits until the node has it in its WAL.
    /// Returns the number of rows the node accepted.
    pub async fn insert(&self, batch: &[u8], timeout: Duration) -> Result<u64, RpcError> {
        let call = async {
            let mut conn = self.checkout().await?;
            write_frame(
                &mut conn.stream,
                FrameType::InsertRequest,
                batch,
                conn.compress,
            )
            .await
            .map_err(|e| self.transport(format!("cannot send rows: {e}")))?;
            let (ty, payload) = read_frame(&mut conn.stream)
                .await
                .map_err(|e| self.transport(format!("cannot read ack: {e}")))?;
            match ty {
                FrameType::InsertAck => {
                    let ack: InsertAck =
                        decode(&payload, "insert ack").map_err(|e| self.protocol(e))?;
                    self.checkin(conn);
                    Ok(ack.rows)
                }
                FrameType::Error => {
                    let err = self.remote_error(&payload);
                    self.checkin(conn);
                    Err(err)
                }
                other => {
                    Err(self.protocol(format!("unexpected {other:?} frame in answer to an insert")))
                }
            }
        };
        let res = match tokio::time::timeout(timeout, call).await {
            Ok(res) => res,
            Err(_) => Err(RpcError::Timeout {
                node: self.addr.clone(),
                timeout_ms: timeout.as_millis() as u64,
            }),
        };
        self.record(&res.as_ref().map(|_| ()));
        res
    }

    /// Sends a select request; hands every series chunk to `on_chunk` as it arrives and returns
    /// the final answer. An error from `on_chunk` abandons the call (and the connection).
    pub async fn select(
        &self,
        request: &SelectRequest,
        timeout: Duration,
        mut on_chunk: impl FnMut(Vec<u8>) -> Result<(), RpcError> + Send,
    ) -> Result<SelectResponse, RpcError> {
        let mut request = request.clone();
        request.timeout_ms = timeout.as_millis() as u64;
        let call = async {
            let mut conn = self.checkout().await?;
            write_frame(
                &mut conn.stream,
                FrameType::SelectRequest,
                &request.encode_to_vec(),
                conn.compress,
            )
            .await
            .map_err(|e| self.transport(format!("cannot send request: {e}")))?;
            loop {
                let (ty, payload) = read_frame(&mut conn.stream)
                    .await
                    .map_err(|e| self.transport(format!("cannot read answer: {e}")))?;
                match ty {
                    FrameType::SeriesChunk => on_chunk(payload)?,
                    FrameType::SelectResponse => {
                        let resp =
                            decode(&payload, "select response").map_err(|e| self.protocol(e))?;
                        self.checkin(conn);
                        return Ok(resp);
                    }
                    FrameType::Error => {
                        let err = self.remote_error(&payload);
                        self.checkin(conn);
                        return Err(err);
                    }
                    other => {
                        return Err(self.protocol(format!(
                            "unexpected {other:?} frame in answer to a select"
                        )));
                    }
                }
            }
        };
        let res = match tokio::time::timeout(timeout, call).await {
            Ok(res) => res,
            Err(_) => Err(RpcError::Timeout {
                node: self.addr.clone(),
                timeout_ms: timeout.as_millis() as u64,
            }),
        };
        self.record(&res.as_ref().map(|_| ()));
        res
    }
}
