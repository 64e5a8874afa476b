//! Placing the series of one request on storage nodes, with replication and rerouting.

use std::sync::Arc;

use ingest::{Batch, SeriesRef};
use rpc::RpcError;
use service::metrics::{Counter, Registry};
use tsdb::Tenant;

use crate::node_writer::{Ack, NodeWriter};
use crate::ring::{Ring, series_key};

/// Why a write could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// Too few storage nodes can take the data (answer 503 so the client retries).
    #[error(
        "cannot store {replicas} copies of each series: only {available} of {total} storage nodes are available{}",
        last_error.as_ref().map(|e| format!(" (last error: {e})")).unwrap_or_default()
    )]
    NotEnoughNodes {
        /// Copies wanted (`-replicationFactor`).
        replicas: usize,
        /// Nodes that could take data.
        available: usize,
        /// Nodes configured.
        total: usize,
        /// The last node error seen, if any.
        last_error: Option<String>,
    },
    /// A storage node refused the rows for a reason rerouting cannot fix.
    #[error("storage node refused the rows: {0}")]
    Refused(RpcError),
}

/// Routes series to storage nodes.
pub struct Router {
    ring: Ring,
    writers: Vec<Arc<NodeWriter>>,
    replicas: usize,
    reroutes: Arc<Counter>,
}

impl Router {
    /// A router over `writers` (in `-storageNode` order) storing `replicas` copies per series.
    pub fn new(writers: Vec<Arc<NodeWriter>>, replicas: usize, metrics: &Registry) -> Self {
        let addrs: Vec<String> = writers
            .iter()
            .map(|w| w.client().addr().to_owned())
            .collect();
        Self {
            ring: Ring::new(&addrs),
            writers,
            replicas: replicas.max(1),
            reroutes: metrics.counter("vm_rpc_rows_rerouted_total"),
        }
    }

    /// The node writers.
    pub fn writers(&self) -> &[Arc<NodeWriter>] {
        &self.writers
    }

    /// Stores every series of `batch` on `replicas` distinct nodes; returns once every copy is
    /// acknowledged. A node that fails is skipped and its share of the request goes to the next
    /// node in each series' ranking.
    pub async fn write(&self, tenant: Tenant, batch: &Batch) -> Result<(), RouteError> {
        let series: Vec<SeriesRef<'_>> = batch.iter().collect();
        let series = series.as_slice();
        let n = self.ring.len();
        if series.is_empty() {
            return Ok(());
        }
        if self.replicas > n {
            return Err(self.not_enough(0, None));
        }
        // rankings[i*n..(i+1)*n]: node preference of series i. `next[i]` is the next rank to try.
        let mut rankings = Vec::with_capacity(series.len() * n);
        let mut order = Vec::with_capacity(n);
        for s in series {
            self.ring.rank(series_key(tenant, s.name), &mut order);
            rankings.extend(order.iter().map(|&i| i as u16));
        }
        let mut next = vec![0usize; series.len()];
        let mut failed = vec![false; n];
        // Series still needing a copy, one entry per missing copy.
        let mut wanted: Vec<usize> = (0..series.len())
            .flat_map(|i| std::iter::repeat_n(i, self.replicas))
            .collect();
        let mut last_error: Option<String> = None;
        let mut first_round = true;
        while !wanted.is_empty() {
            // One health look per node and round, not per series.
            let available: Vec<bool> = self
                .writers
                .iter()
                .map(|w| w.client().is_available())
                .collect();
            let mut per_node: Vec<Vec<usize>> = vec![Vec::new(); n];
            for &i in &wanted {
                let ranking = &rankings[i * n..(i + 1) * n];
                let node = loop {
                    let Some(&node) = ranking.get(next[i]) else {
                        return Err(self.not_enough(self.available(&failed), last_error));
                    };
                    next[i] += 1;
                    let node = node as usize;
                    if !failed[node] && available[node] {
                        break node;
                    }
                };
                if !first_round {
                    self.reroutes.add(series[i].samples.len() as u64);
                }
                per_node[node].push(i);
            }
            let mut acks: Vec<(usize, Ack)> = Vec::new();
            for (node, idx) in per_node
                .iter()
                .enumerate()
                .filter(|(_, idx)| !idx.is_empty())
            {
                let ack = self.writers[node]
                    .enqueue(|batch| {
                        for &i in idx {
                            let samples =
                                series[i].samples.iter().map(|s| (s.timestamp_ms, s.value));
                            batch.push_series(tenant, series[i].name, samples);
                        }
                    })
                    .await;
                acks.push((node, ack));
            }
            wanted.clear();
            for (node, ack) in acks {
                let res = ack.await.unwrap_or_else(|_| {
                    Err(RpcError::Transport {
                        node: self.writers[node].client().addr().to_owned(),
                        message: "sender stopped".into(),
                    })
                });
                match res {
                    Ok(()) => {}
                    Err(e) if e.is_unavailable() => {
                        failed[node] = true;
                        last_error = Some(e.to_string());
                        wanted.extend_from_slice(&per_node[node]);
                    }
                    Err(e) => return Err(RouteError::Refused(e)),
                }
            }
            first_round = false;
        }
        Ok(())
    }

    fn available(&self, failed: &[bool]) -> usize {
        self.writers
            .iter()
            .zip(failed)
            .filter(|(w, f)| !**f && w.client().is_available())
            .count()
    }

    fn not_enough(&self, available: usize, last_error: Option<String>) -> RouteError {
        RouteError::NotEnoughNodes {
            replicas: self.replicas,
            available,
            total: self.ring.len(),
            last_error,
        }
    }
}
