//! The storage node's side: accept loops for the insert and select ports.
//!
//! A connection carries one call at a time. Service implementations are blocking (they call
//! the storage engine) and run on tokio's blocking pool; a search streams its chunks through a
//! bounded channel, so a slow reader slows the search instead of filling memory. On stop, the
//! accept loop ends, idle connections close, and calls in flight finish.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use prost::Message;
use tokio::io::BufStream;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::error::{ErrorCode, ServiceError};
use crate::frame::{FrameError, FrameType, read_frame, write_frame};
use crate::handshake::{Role, server_hello};
use crate::messages::{
    ErrorMessage, InsertAck, SelectRequest, SelectResponse, select_request, select_response,
};

/// What a storage node does with a row batch.
pub trait InsertService: Send + Sync + 'static {
    /// Stores every row of `batch` ([`crate::row_batch`] encoding) durably enough to
    /// acknowledge it (in the WAL); returns the number of rows stored. Blocking.
    fn insert(&self, batch: &[u8]) -> Result<u64, ServiceError>;
}

/// What a storage node does with a select call.
pub trait SelectService: Send + Sync + 'static {
    /// Answers one call before `deadline`; a search streams series chunks through `chunks`
    /// first. Blocking.
    fn select(
        &self,
        kind: select_request::Kind,
        deadline: Instant,
        chunks: &mut ChunkSender,
    ) -> Result<select_response::Kind, ServiceError>;
}

/// Sends series chunks of a search to the client.
#[derive(Debug)]
pub struct ChunkSender {
    to: ChunkSink,
}

/// Where a call's chunks go: to the connection's task while the call runs on the blocking
/// pool, or kept until a call run on the connection's own thread returns.
#[derive(Debug)]
enum ChunkSink {
    Channel(mpsc::Sender<Vec<u8>>),
    Held(Vec<Vec<u8>>),
}

impl ChunkSender {
    /// Sends one encoded chunk ([`crate::series_chunk`]), waiting while the client is behind.
    /// Fails when the client went away.
    pub fn send(&mut self, chunk: Vec<u8>) -> Result<(), ServiceError> {
        match &mut self.to {
            ChunkSink::Channel(tx) => tx
                .blocking_send(chunk)
                .map_err(|_| ServiceError::new(ErrorCode::Internal, "client went away")),
            ChunkSink::Held(held) => {
                held.push(chunk);
                Ok(())
            }
        }
    }
}

/// Server settings.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Deadline for calls that do not carry one.
    pub default_timeout: Duration,
    /// Longest deadline a call may ask for.
    pub max_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            default_timeout: Duration::from_secs(30),
            max_timeout: Duration::from_secs(600),
        }
    }
}

/// Counters of a server, for `/metrics`.
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Calls answered successfully.
    pub calls_ok: AtomicU64,
    /// Calls answered with an error.
    pub calls_failed: AtomicU64,
    /// Connections refused at the handshake or dropped for protocol errors.
    pub protocol_errors: AtomicU64,
}

enum Service {
    Insert(Arc<dyn InsertService>),
    Select(Arc<dyn SelectService>),
}

impl Clone for Service {
    fn clone(&self) -> Self {
        match self {
            Service::Insert(s) => Service::Insert(Arc::clone(s)),
            Service::Select(s) => Service::Select(Arc::clone(s)),
        }
    }
}

/// Serves inserts on `listener` until `stop` turns true; then waits for calls in flight.
pub async fn serve_insert(
    listener: TcpListener,
    service: Arc<dyn InsertService>,
    config: ServerConfig,
    stats: Arc<ServerStats>,
    stop: watch::Receiver<bool>,
) {
    serve(
        listener,
        Role::Insert,
        Service::Insert(service),
        config,
        stats,
        stop,
    )
    .await;
}

/// Serves selects on `listener` until `stop` turns true; then waits for calls in flight.
pub async fn serve_select(
    listener: TcpListener,
    service: Arc<dyn SelectService>,
    config: ServerConfig,
    stats: Arc<ServerStats>,
    stop: watch::Receiver<bool>,
) {
    serve(
        listener,
        Role::Select,
        Service::Select(service),
        config,
        stats,
        stop,
    )
    .await;
}

async fn serve(
    listener: TcpListener,
    role: Role,
    service: Service,
    config: ServerConfig,
    stats: Arc<ServerStats>,
    mut stop: watch::Receiver<bool>,
) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        stats.connections.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        let (service, config, stats, stop) = (
            service.clone(),
            config.clone(),
            Arc::clone(&stats),
            stop.clone(),
        );
        conns.spawn(async move { serve_conn(stream, role, service, config, stats, stop).await });
        while conns.try_join_next().is_some() {}
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

async fn serve_conn(
    stream: TcpStream,
    role: Role,
    service: Service,
    config: ServerConfig,
    stats: Arc<ServerStats>,
    mut stop: watch::Receiver<bool>,
) {
    let mut conn = BufStream::with_capacity(64 << 10, 64 << 10, stream);
    let compress =
        match tokio::time::timeout(Duration::from_secs(10), server_hello(&mut conn, role)).await {
            Ok(Ok(c)) => c,
            _ => {
                stats.protocol_errors.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
    loop {
        // Idle between calls: a stop closes the connection here, never inside a call.
        let frame = tokio::select! {
            f = read_frame(&mut conn) => f,
            () = stopped(&mut stop) => return,
        };
        let (ty, payload) = match frame {
            Ok(f) => f,
            Err(FrameError::Io(_)) => return,
            Err(FrameError::Protocol(msg)) => {
                stats.protocol_errors.fetch_add(1, Ordering::Relaxed);
                let _ = send_error(&mut conn, ErrorCode::InvalidRequest, &msg).await;
                return;
            }
        };
        let ok = match (&service, ty) {
            (Service::Insert(svc), FrameType::InsertRequest) => {
                match insert_call(svc, payload).await {
                    Ok(Ok(rows)) => write_frame(
                        &mut conn,
                        FrameType::InsertAck,
                        &InsertAck { rows }.encode_to_vec(),
                        false,
                    )
                    .await
                    .map(|_| true),
                    Ok(Err(e)) => send_error(&mut conn, e.code, &e.message)
                        .await
                        .map(|_| false),
                    Err(msg) => send_error(&mut conn, ErrorCode::Internal, msg)
                        .await
                        .map(|_| false),
                }
            }
            (Service::Select(svc), FrameType::SelectRequest) => {
                select_call(&mut conn, Arc::clone(svc), &payload, &config, compress).await
            }
            (_, other) => {
                stats.protocol_errors.fetch_add(1, Ordering::Relaxed);
                let msg = format!("unexpected {other:?} frame on a {role:?} connection");
                let _ = send_error(&mut conn, ErrorCode::InvalidRequest, &msg).await;
                return;
            }
        };
        match ok {
            Ok(true) => stats.calls_ok.fetch_add(1, Ordering::Relaxed),
            Ok(false) => stats.calls_failed.fetch_add(1, Ordering::Relaxed),
            Err(_) => return,
        };
    }
}

/// Runs one insert. A batch that vminsert's group commit builds (under a few MiB) is stored on
/// the connection's own task: handing it to the blocking pool cost a thread wake-up and two
/// context switches per call, a large share of the node's CPU at thousands of calls per second.
/// Bigger batches go to the blocking pool so that they do not hold a worker for long.
async fn insert_call(
    svc: &Arc<dyn InsertService>,
    payload: Vec<u8>,
) -> Result<Result<u64, ServiceError>, &'static str> {
    let outcome = if payload.len() <= INLINE_INSERT_MAX_BYTES {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| svc.insert(&payload))).ok()
    } else {
        let svc = Arc::clone(svc);
        tokio::task::spawn_blocking(move || svc.insert(&payload))
            .await
            .ok()
    };
    outcome.ok_or("insert panicked")
}

/// Insert payloads up to this size are stored on the connection's task.
const INLINE_INSERT_MAX_BYTES: usize = 4 << 20;

async fn select_call(
    conn: &mut BufStream<TcpStream>,
    svc: Arc<dyn SelectService>,
    payload: &[u8],
    config: &ServerConfig,
    compress: bool,
) -> std::io::Result<bool> {
    let request = match SelectRequest::decode(payload) {
        Ok(r) => r,
        Err(e) => {
            send_error(
                conn,
                ErrorCode::InvalidRequest,
                &format!("cannot decode select request: {e}"),
            )
            .await?;
            return Ok(false);
        }
    };
    let Some(kind) = request.kind else {
        send_error(
            conn,
            ErrorCode::InvalidRequest,
            "select request names no call",
        )
        .await?;
        return Ok(false);
    };
    let timeout = match request.timeout_ms {
        0 => config.default_timeout,
        ms => Duration::from_millis(ms).min(config.max_timeout),
    };
    let deadline = Instant::now() + timeout;
    // Lookups (everything but a search) answer with one response and no chunk stream: on a
    // multi-threaded runtime they run on this task's thread (the runtime hands its other tasks
    // to another worker) instead of hopping to the blocking pool and back, two thread wake-ups
    // that were a large part of a small lookup's latency. A search streams its chunks while it
    // runs, so it keeps the pool.
    let inline = !matches!(kind, select_request::Kind::Search(_))
        && tokio::runtime::Handle::current().runtime_flavor()
            == tokio::runtime::RuntimeFlavor::MultiThread;
    let result: Result<Result<select_response::Kind, ServiceError>, ()> = if inline {
        let mut sender = ChunkSender {
            to: ChunkSink::Held(Vec::new()),
        };
        let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            tokio::task::block_in_place(|| svc.select(kind, deadline, &mut sender))
        }));
        if let ChunkSink::Held(held) = sender.to {
            for c in held {
                write_frame(conn, FrameType::SeriesChunk, &c, compress).await?;
            }
        }
        done.map_err(|_| ())
    } else {
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(4);
        let mut sender = ChunkSender {
            to: ChunkSink::Channel(tx),
        };
        let mut work = tokio::task::spawn_blocking(move || svc.select(kind, deadline, &mut sender));
        // Forward chunks while the call runs; then send its answer.
        let done = loop {
            tokio::select! {
                chunk = rx.recv() => match chunk {
                    Some(c) => write_frame(conn, FrameType::SeriesChunk, &c, compress).await?,
                    None => break (&mut work).await,
                },
                done = &mut work => {
                    while let Some(c) = rx.recv().await {
                        write_frame(conn, FrameType::SeriesChunk, &c, compress).await?;
                    }
                    break done;
                }
            }
        };
        done.map_err(|_| ())
    };
    match result {
        Ok(Ok(kind)) => {
            let resp = SelectResponse { kind: Some(kind) };
            write_frame(
                conn,
                FrameType::SelectResponse,
                &resp.encode_to_vec(),
                compress,
            )
            .await?;
            Ok(true)
        }
        Ok(Err(e)) => send_error(conn, e.code, &e.message).await.map(|_| false),
        Err(_) => send_error(conn, ErrorCode::Internal, "select panicked")
            .await
            .map(|_| false),
    }
}

/// Resolves once `stop` turns true (never, if its sender is gone without that).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    loop {
        let now = *stop.borrow_and_update();
        if now {
            return;
        }
        if stop.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

async fn send_error(
    conn: &mut BufStream<TcpStream>,
    code: ErrorCode,
    message: &str,
) -> std::io::Result<()> {
    let msg = ErrorMessage {
        code: code as u32,
        message: message.to_owned(),
    };
    write_frame(conn, FrameType::Error, &msg.encode_to_vec(), false).await
}
