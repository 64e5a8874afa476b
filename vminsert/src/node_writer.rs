//! Group commit towards one storage node.
//!
//! Concurrent HTTP requests append their rows to the node's pending batch and wait. A few
//! sender tasks per node take whatever is pending, send it as one batch, and wake every request
//! whose rows it carried with the node's answer. While one batch is in flight the next one
//! fills, so the "answer only after every copy is acknowledged" rule costs latency, not
//! throughput.
//!
//! A second batch goes out while one is in flight only once it holds
//! [`PARALLEL_BATCH_BYTES`]: small batches wait for the sender in flight, so a node that keeps
//! up gets one batch at a time (as VictoriaMetrics's vminsert sends), twice as large, and every
//! batch's fixed costs (the round trip, thread wake-ups on both sides, the node's per-call work)
//! are paid half as often; a node that falls behind gets batches in parallel again.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rpc::RpcError;
use rpc::client::NodeClient;
use rpc::row_batch::RowBatchWriter;
use service::metrics::{Counter, Histogram, LATENCY_BUCKETS, Registry};
use tokio::sync::{Notify, oneshot};

/// The node's answer for the rows of one enqueue call.
pub type Ack = oneshot::Receiver<Result<(), RpcError>>;

/// Encoded rows a node's pending batch may hold before new requests wait.
pub const MAX_PENDING_BYTES: usize = 16 << 20;

/// Encoded rows a pending batch must hold to be sent while another batch to the same node
/// is in flight.
pub const PARALLEL_BATCH_BYTES: usize = 1 << 20;

#[derive(Default)]
struct Pending {
    batch: RowBatchWriter,
    waiters: Vec<oneshot::Sender<Result<(), RpcError>>>,
    /// Buffers of sent batches, handed back for the next batches to fill (at most one per
    /// sender is kept).
    spare: Vec<Vec<u8>>,
    /// Batches being sent.
    in_flight: usize,
}

impl Pending {
    /// Whether a sender should take the pending batch now: there is one, and no batch is in
    /// flight or this one is large enough to go beside it.
    fn ready(&self) -> bool {
        !self.waiters.is_empty()
            && (self.in_flight == 0 || self.batch.len() >= PARALLEL_BATCH_BYTES)
    }
}

/// Batches rows for one storage node and sends them.
pub struct NodeWriter {
    client: Arc<NodeClient>,
    pending: Mutex<Pending>,
    wake: Notify,
    /// Signalled whenever a sender takes the pending batch.
    taken: Notify,
    timeout: Duration,
    /// Sender tasks started: how many spare buffers are worth keeping.
    senders: AtomicUsize,
    rows_sent: Arc<Counter>,
    send_errors: Arc<Counter>,
    send_seconds: Arc<Histogram>,
}

impl NodeWriter {
    /// A writer for `client`'s node; `timeout` bounds each send.
    pub fn new(client: Arc<NodeClient>, timeout: Duration, metrics: &Registry) -> Arc<Self> {
        let addr = client.addr().to_owned();
        Arc::new(Self {
            client,
            pending: Mutex::new(Pending::default()),
            wake: Notify::new(),
            taken: Notify::new(),
            timeout,
            senders: AtomicUsize::new(0),
            rows_sent: metrics.counter(&format!("vm_rpc_rows_sent_total{{addr=\"{addr}\"}}")),
            send_errors: metrics.counter(&format!("vm_rpc_send_errors_total{{addr=\"{addr}\"}}")),
            send_seconds: metrics.histogram(
                &format!("vm_rpc_send_duration_seconds{{addr=\"{addr}\"}}"),
                LATENCY_BUCKETS,
            ),
        })
    }

    /// The node's client.
    pub fn client(&self) -> &NodeClient {
        &self.client
    }

    /// Lets `fill` append rows to the pending batch; the returned [`Ack`] resolves when the batch
    /// that carries them is acknowledged or has failed. While the pending batch is over
    /// [`MAX_PENDING_BYTES`] (the node is slower than the load), waits for a sender to take it:
    /// backpressure instead of unbounded memory and oversized frames.
    pub async fn enqueue(&self, fill: impl FnOnce(&mut RowBatchWriter)) -> Ack {
        loop {
            // Register for the wake-up before looking, so a take in between is not missed.
            let mut taken = std::pin::pin!(self.taken.notified());
            taken.as_mut().enable();
            let full = self
                .pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .batch
                .len()
                > MAX_PENDING_BYTES;
            if !full {
                break;
            }
            taken.await;
        }
        let (tx, rx) = oneshot::channel();
        let ready = {
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            fill(&mut p.batch);
            p.waiters.push(tx);
            p.ready()
        };
        // Otherwise the sender in flight takes the batch when it is done: no wake-up per
        // request for a sender that would only look and go back to sleep.
        if ready {
            self.wake.notify_one();
        }
        rx
    }

    /// Starts `senders` sender tasks on the current runtime.
    pub fn start(self: &Arc<Self>, senders: usize) {
        self.senders.fetch_add(senders.max(1), Ordering::Relaxed);
        for _ in 0..senders.max(1) {
            let me = Arc::clone(self);
            tokio::spawn(async move { me.sender_loop().await });
        }
    }

    /// Keeps a sent batch's buffer for a later batch, unless enough are kept already or it
    /// grew unusually large (a burst should not stay resident).
    fn give_back(&self, buf: Vec<u8>) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if buf.capacity() <= MAX_PENDING_BYTES
            && p.spare.len() < self.senders.load(Ordering::Relaxed)
        {
            p.spare.push(buf);
        }
    }

    async fn sender_loop(&self) {
        loop {
            self.wake.notified().await;
            loop {
                let taken = {
                    let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
                    if p.ready() {
                        let next = p.spare.pop().unwrap_or_default();
                        p.in_flight += 1;
                        Some((p.batch.take_into(next), std::mem::take(&mut p.waiters)))
                    } else {
                        None
                    }
                };
                let Some((batch, waiters)) = taken else { break };
                // Counts the send as done at the end of this iteration, however it ends.
                let _in_flight = InFlight(self);
                self.taken.notify_waiters();
                let start = Instant::now();
                let res = if batch.is_empty() {
                    Ok(0)
                } else {
                    self.client.insert(&batch, self.timeout).await
                };
                self.send_seconds.observe_since(start);
                let res = match res {
                    Ok(rows) => {
                        self.rows_sent.add(rows);
                        Ok(())
                    }
                    Err(e) => {
                        self.send_errors.inc();
                        Err(e)
                    }
                };
                for w in waiters {
                    let _ = w.send(res.clone());
                }
                // Back in the loop, this sender takes what filled meanwhile (another sender,
                // woken once the pending batch grew large, may have taken it first).
                self.give_back(batch);
            }
        }
    }
}

/// One batch in flight of a [`NodeWriter`]; dropping it counts the batch as done.
struct InFlight<'a>(&'a NodeWriter);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut p = self.0.pending.lock().unwrap_or_else(|e| e.into_inner());
        p.in_flight -= 1;
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]
mod tests {
    use std::sync::atomic::AtomicU64;

    use rpc::error::ServiceError;
    use rpc::handshake::Role;
    use rpc::server::{InsertService, ServerConfig, ServerStats, serve_insert};
    use tokio::net::TcpListener;
    use tokio::sync::watch;
    use tsdb::Tenant;

    use super::*;

    /// A storage node that takes `delay` per batch and records how many batches it held at
    /// once and how many rows it got.
    struct SlowNode {
        delay: Duration,
        now: AtomicUsize,
        most: AtomicUsize,
        calls: AtomicUsize,
        rows: AtomicU64,
    }

    impl InsertService for SlowNode {
        fn insert(&self, batch: &[u8]) -> Result<u64, ServiceError> {
            let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            self.calls.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(self.delay);
            let mut rows = 0;
            rpc::row_batch::decode(batch, |_, _, _, _| rows += 1).unwrap();
            self.rows.fetch_add(rows, Ordering::SeqCst);
            self.now.fetch_sub(1, Ordering::SeqCst);
            Ok(rows)
        }
    }

    /// Sends `requests` requests of `rows_each` rows, 16 at a time, through a writer with two
    /// senders to a node taking 20 ms per batch; answers the node.
    async fn send(requests: usize, rows_each: usize) -> Arc<SlowNode> {
        let node = Arc::new(SlowNode {
            delay: Duration::from_millis(20),
            now: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
            calls: AtomicUsize::new(0),
            rows: AtomicU64::new(0),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (stop, stop_rx) = watch::channel(false);
        let server = tokio::spawn(serve_insert(
            listener,
            node.clone(),
            ServerConfig::default(),
            Arc::new(ServerStats::default()),
            stop_rx,
        ));
        let client = Arc::new(NodeClient::new(addr, Role::Insert, Default::default()));
        let writer = NodeWriter::new(client, Duration::from_secs(10), &Registry::new());
        writer.start(2);
        let name = vec![b'x'; 200];
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..requests {
            let (writer, name) = (writer.clone(), name.clone());
            tasks.spawn(async move {
                let ack = writer
                    .enqueue(|b| {
                        for r in 0..rows_each {
                            b.push_series(
                                Tenant::default(),
                                &name,
                                [((i * rows_each + r) as i64, 1.0)],
                            );
                        }
                    })
                    .await;
                ack.await.unwrap().unwrap();
            });
            if tasks.len() >= 16 {
                tasks.join_next().await.unwrap().unwrap();
            }
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .unwrap()
            .unwrap();
        node
    }

    /// Small requests to a node that keeps up go one batch at a time, gathered into few
    /// batches; every row arrives.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn small_batches_go_one_at_a_time() {
        let node = send(400, 10).await;
        assert_eq!(node.rows.load(Ordering::SeqCst), 4_000);
        assert_eq!(node.most.load(Ordering::SeqCst), 1, "one batch in flight");
        let calls = node.calls.load(Ordering::SeqCst);
        assert!(
            calls <= 100,
            "{calls} batches for 400 requests of 16 in flight"
        );
    }

    /// Once the pending batch reaches PARALLEL_BATCH_BYTES while one is in flight, a second
    /// sender takes it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn large_batches_go_in_parallel() {
        // 16 requests of ~210 KiB fill well over 1 MiB while a batch is in flight.
        let node = send(200, 1_000).await;
        assert_eq!(node.rows.load(Ordering::SeqCst), 200_000);
        assert_eq!(node.most.load(Ordering::SeqCst), 2, "two batches in flight");
    }
}
