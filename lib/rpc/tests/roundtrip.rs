//! Client and server over real sockets on 127.0.0.1: inserts, streamed selects, errors, node
//! failure and recovery, graceful stop.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rpc::client::{ClientConfig, NodeClient};
use rpc::error::{ErrorCode, RpcError, ServiceError};
use rpc::handshake::Role;
use rpc::messages::{SearchQuery, SelectRequest, StringList, select_request, select_response};
use rpc::row_batch::{self, RowBatchWriter};
use rpc::series_chunk::{self, SeriesChunkWriter};
use rpc::server::{
    ChunkSender, InsertService, SelectService, ServerConfig, ServerStats, serve_insert,
    serve_select,
};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tsdb::Tenant;

/// A stored row: tenant, series name, timestamp, value bits.
type StoredRow = (Tenant, Vec<u8>, i64, u64);

/// Keeps rows in memory; refuses batches once `read_only` is set.
#[derive(Default)]
struct Rows {
    rows: Mutex<Vec<StoredRow>>,
    read_only: Mutex<bool>,
}

impl InsertService for Rows {
    fn insert(&self, batch: &[u8]) -> Result<u64, ServiceError> {
        if *self.read_only.lock().unwrap() {
            return Err(ServiceError::new(
                ErrorCode::ReadOnly,
                "storage is read-only: free disk space is low",
            ));
        }
        // A series named "panic" makes the service panic, as a bug in storage would.
        row_batch::decode(batch, |_, n, _, _| assert!(n != b"panic", "test panic"))
            .map_err(|e| ServiceError::new(ErrorCode::InvalidRequest, e))?;
        let mut rows = self.rows.lock().unwrap();
        row_batch::decode(batch, |t, n, ts, v| {
            rows.push((t, n.to_vec(), ts, v.to_bits()))
        })
        .map_err(|e| ServiceError::new(ErrorCode::InvalidRequest, e))
    }
}

impl SelectService for Rows {
    fn select(
        &self,
        kind: select_request::Kind,
        _deadline: Instant,
        chunks: &mut ChunkSender,
    ) -> Result<select_response::Kind, ServiceError> {
        match kind {
            select_request::Kind::Search(q) => {
                if q.max_series == 1 {
                    return Err(ServiceError::new(
                        ErrorCode::LimitExceeded,
                        "more than 1 series match (-search.maxUniqueTimeseries)",
                    ));
                }
                let rows = self.rows.lock().unwrap().clone();
                let mut w = SeriesChunkWriter::new();
                for (i, (_, name, _, _)) in rows.iter().enumerate() {
                    let block = format!("block-{i}");
                    w.push_series(name, [block.as_bytes()].into_iter());
                    // One chunk per series, to exercise streaming of many frames.
                    chunks.send(w.take())?;
                }
                let (series, blocks) = w.totals();
                Ok(select_response::Kind::SearchDone(
                    rpc::messages::SearchDone {
                        series: series as u64,
                        blocks: blocks as u64,
                    },
                ))
            }
            select_request::Kind::LabelNames(_) => Ok(select_response::Kind::Strings(StringList {
                values: vec!["__name__".into(), "job".into()],
            })),
            // A lookup for the label "panic" panics, as a bug in storage would.
            select_request::Kind::LabelValues(r) => {
                assert!(r.label_name != "panic", "test panic");
                Ok(select_response::Kind::Strings(StringList {
                    values: vec![r.label_name],
                }))
            }
            // A lookup that streams more chunks than the search channel holds.
            select_request::Kind::Series(_) => {
                for i in 0..6 {
                    let mut w = SeriesChunkWriter::new();
                    w.push_series(format!("s{i}").as_bytes(), std::iter::empty::<&[u8]>());
                    chunks.send(w.take())?;
                }
                Ok(select_response::Kind::Strings(StringList {
                    values: vec![],
                }))
            }
            _ => Err(ServiceError::new(
                ErrorCode::InvalidRequest,
                "not supported by this test service",
            )),
        }
    }
}

/// Calls `each(name, block count)` for every series of a search chunk (a select callback).
fn each_series(chunk: &[u8], mut each: impl FnMut(&[u8], usize)) -> Result<(), RpcError> {
    series_chunk::decode(chunk, |n, blocks| {
        each(n, blocks.len());
        Ok(())
    })
    .map_err(|e| RpcError::Protocol {
        node: "test".into(),
        message: e,
    })
}

/// Stops both servers and waits (at most 5 s) for them to end.
async fn stop_servers(
    stop: watch::Sender<bool>,
    h1: tokio::task::JoinHandle<()>,
    h2: tokio::task::JoinHandle<()>,
) {
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        h1.await.unwrap();
        h2.await.unwrap();
    })
    .await
    .unwrap();
}

async fn start(
    svc: Arc<Rows>,
) -> (
    String,
    String,
    watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
    tokio::task::JoinHandle<()>,
) {
    let ins = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sel = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (ia, sa) = (
        ins.local_addr().unwrap().to_string(),
        sel.local_addr().unwrap().to_string(),
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let h1 = tokio::spawn(serve_insert(
        ins,
        svc.clone(),
        ServerConfig::default(),
        Arc::new(ServerStats::default()),
        stop_rx.clone(),
    ));
    let h2 = tokio::spawn(serve_select(
        sel,
        svc,
        ServerConfig::default(),
        Arc::new(ServerStats::default()),
        stop_rx,
    ));
    (ia, sa, stop_tx, h1, h2)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_then_stream_select() {
    let svc = Arc::new(Rows::default());
    let (ia, sa, stop, h1, h2) = start(svc.clone()).await;
    let inserter = NodeClient::new(ia.clone(), Role::Insert, ClientConfig::default());
    let mut batch = RowBatchWriter::new();
    let stale = f64::from_bits(0x7ff0000000000002);
    batch.push_series(Tenant::new(7, 8), b"series-a", [(1, 1.0), (2, stale)]);
    batch.push_series(Tenant::new(0, 0), b"series-b", [(i64::MIN, -0.0)]);
    assert_eq!(
        inserter
            .insert(batch.as_bytes(), Duration::from_secs(5))
            .await
            .unwrap(),
        3
    );
    // The connection is reused for the second call.
    assert_eq!(
        inserter
            .insert(batch.as_bytes(), Duration::from_secs(5))
            .await
            .unwrap(),
        3
    );
    assert_eq!(inserter.stats().dials, 1);
    let stored = svc.rows.lock().unwrap().clone();
    assert_eq!(stored.len(), 6);
    assert_eq!(
        stored[1],
        (
            Tenant::new(7, 8),
            b"series-a".to_vec(),
            2,
            0x7ff0000000000002
        )
    );
    assert_eq!(stored[2].2, i64::MIN);

    let selecter = NodeClient::new(sa, Role::Select, ClientConfig::default());
    let req = SelectRequest {
        timeout_ms: 0,
        kind: Some(select_request::Kind::Search(SearchQuery::default())),
    };
    let mut names = Vec::new();
    let resp = selecter
        .select(&req, Duration::from_secs(5), |chunk| {
            each_series(&chunk, |n, blocks| names.push((n.to_vec(), blocks)))
        })
        .await
        .unwrap();
    assert_eq!(names.len(), 6);
    assert_eq!(names[0], (b"series-a".to_vec(), 1));
    match resp.kind {
        Some(select_response::Kind::SearchDone(d)) => assert_eq!((d.series, d.blocks), (6, 6)),
        other => panic!("unexpected answer {other:?}"),
    }

    // Errors carry their code and message, and keep the connection usable.
    let limited = SelectRequest {
        timeout_ms: 0,
        kind: Some(select_request::Kind::Search(SearchQuery {
            max_series: 1,
            ..Default::default()
        })),
    };
    let err = selecter
        .select(&limited, Duration::from_secs(5), |_| Ok(()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::LimitExceeded));
    assert!(
        err.to_string().contains("-search.maxUniqueTimeseries"),
        "{err}"
    );
    assert!(selecter.is_available());

    // An insert connection refuses select frames.
    let wrong = NodeClient::new(ia, Role::Select, ClientConfig::default());
    let err = wrong
        .select(&req, Duration::from_secs(5), |_| Ok(()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not serve"), "{err}");

    // Read-only storage: the refusal is typed, and routes the node out for a while.
    *svc.read_only.lock().unwrap() = true;
    let err = inserter
        .insert(batch.as_bytes(), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::ReadOnly));
    assert!(!inserter.is_available());

    stop_servers(stop, h1, h2).await;
}

/// Lookups run on the connection's own thread: they answer, a panic in one is an internal
/// error that leaves the connection usable, and chunks a lookup sends all arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_run_inline_and_survive_a_panic() {
    let svc = Arc::new(Rows::default());
    let (_ia, sa, stop, h1, h2) = start(svc).await;
    let selecter = NodeClient::new(sa, Role::Select, ClientConfig::default());
    let values = |label: &str| SelectRequest {
        timeout_ms: 0,
        kind: Some(select_request::Kind::LabelValues(
            rpc::messages::LabelValuesRequest {
                label_name: label.into(),
                ..Default::default()
            },
        )),
    };
    for label in ["job", "panic", "instance"] {
        let got = selecter
            .select(&values(label), Duration::from_secs(5), |_| Ok(()))
            .await;
        match (label, got) {
            ("panic", Err(e)) => assert_eq!(e.code(), Some(ErrorCode::Internal), "{e}"),
            (_, Ok(r)) => match r.kind {
                Some(select_response::Kind::Strings(l)) => assert_eq!(l.values, vec![label]),
                other => panic!("unexpected answer {other:?}"),
            },
            (label, other) => panic!("{label}: unexpected {other:?}"),
        }
    }
    assert_eq!(
        selecter.stats().dials,
        1,
        "the connection survived the panic"
    );
    let series = SelectRequest {
        timeout_ms: 0,
        kind: Some(select_request::Kind::Series(
            rpc::messages::SeriesRequest::default(),
        )),
    };
    let mut names = Vec::new();
    selecter
        .select(&series, Duration::from_secs(5), |chunk| {
            each_series(&chunk, |n, _| {
                names.push(String::from_utf8_lossy(n).into_owned())
            })
        })
        .await
        .unwrap();
    assert_eq!(names, ["s0", "s1", "s2", "s3", "s4", "s5"]);
    stop_servers(stop, h1, h2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_node_backs_off_then_recovers() {
    // Reserve a port, then close it: connecting fails at once.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let cfg = ClientConfig {
        backoff_min: Duration::from_millis(100),
        ..Default::default()
    };
    let client = NodeClient::new(addr.to_string(), Role::Insert, cfg);
    let err = client
        .insert(b"", Duration::from_secs(2))
        .await
        .unwrap_err();
    assert!(matches!(err, RpcError::Transport { .. }), "{err}");
    assert!(!client.is_available());
    assert!(client.last_error().unwrap().contains("cannot connect"));

    // The node comes up on that port; after the backoff the client uses it again.
    let svc = Arc::new(Rows::default());
    let listener = TcpListener::bind(addr).await.unwrap();
    let (stop_tx, stop_rx) = watch::channel(false);
    let h = tokio::spawn(serve_insert(
        listener,
        svc,
        ServerConfig::default(),
        Arc::new(ServerStats::default()),
        stop_rx,
    ));
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(client.is_available());
    let mut batch = RowBatchWriter::new();
    batch.push_series(Tenant::default(), b"x", [(1, 1.0)]);
    assert_eq!(
        client
            .insert(batch.as_bytes(), Duration::from_secs(2))
            .await
            .unwrap(),
        1
    );
    assert!(client.last_error().is_none());
    stop_tx.send(true).unwrap();
    h.await.unwrap();
}

/// A panicking insert, whether stored on the connection's task (small batch) or on the blocking
/// pool (a batch over 4 MiB), is answered with an internal error; the server keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_insert_is_an_internal_error_for_small_and_large_batches() {
    let svc = Arc::new(Rows::default());
    let (ia, _sa, stop, h1, h2) = start(svc.clone()).await;
    let client = NodeClient::new(ia, Role::Insert, ClientConfig::default());
    let timeout = Duration::from_secs(10);
    for filler_series in [0usize, 40_000] {
        let mut batch = RowBatchWriter::new();
        let long_name = vec![b'x'; 100];
        for i in 0..filler_series {
            batch.push_series(Tenant::new(0, 0), &long_name, [(i as i64, 1.0)]);
        }
        batch.push_series(Tenant::new(0, 0), b"panic", [(1, 1.0)]);
        assert_eq!(batch.len() > 4 << 20, filler_series > 0);
        let err = client.insert(batch.as_bytes(), timeout).await.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::Internal), "{err}");
        assert!(err.to_string().contains("insert panicked"), "{err}");
    }
    let mut batch = RowBatchWriter::new();
    batch.push_series(Tenant::new(0, 0), b"after", [(5, 2.0)]);
    assert_eq!(client.insert(batch.as_bytes(), timeout).await.unwrap(), 1);
    assert_eq!(svc.rows.lock().unwrap().len(), 1);
    stop.send(true).unwrap();
    h1.await.unwrap();
    h2.await.unwrap();
}
