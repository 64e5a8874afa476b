//! Group commit towards one storage node.
//!
//! Concurrent HTTP requests append their rows to the node's pending batch and wait. A few
//! sender tasks per node take whatever is pending, send it as one batch, and wake every request
//! whose rows it carried with the node's answer. While one batch is in flight the next one
//! fills, so the "answer only after every copy is acknowledged" rule costs latency, not
//! throughput.

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

#[derive(Default)]
struct Pending {
    batch: RowBatchWriter,
    waiters: Vec<oneshot::Sender<Result<(), RpcError>>>,
    /// Buffers of sent batches, handed back for the next batches to fill (at most one per
    /// sender is kept).
    spare: Vec<Vec<u8>>,
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
        {
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            fill(&mut p.batch);
            p.waiters.push(tx);
        }
        self.wake.notify_one();
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
        if buf.capacity() > MAX_PENDING_BYTES {
            return;
        }
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if p.spare.len() < self.senders.load(Ordering::Relaxed) {
            p.spare.push(buf);
        }
    }

    async fn sender_loop(&self) {
        loop {
            self.wake.notified().await;
            loop {
                let taken = {
                    let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
                    if p.waiters.is_empty() {
                        None
                    } else {
                        let next = p.spare.pop().unwrap_or_default();
                        Some((p.batch.take_into(next), std::mem::take(&mut p.waiters)))
                    }
                };
                let Some((batch, waiters)) = taken else { break };
                self.taken.notify_waiters();
                // Another sender may take the next batch meanwhile.
                self.wake.notify_one();
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
                self.give_back(batch);
            }
        }
    }
}
