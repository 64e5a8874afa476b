//! Fan-out to every storage node: one select call per node in parallel, with the rules that
//! decide whether an answer built without some nodes is complete, partial, or an error.

use std::sync::Arc;
use std::time::Duration;

use rpc::client::NodeClient;
use rpc::messages::{SelectRequest, SelectResponse, select_request, select_response};
use rpc::{ErrorCode, RpcError};
use service::metrics::{Counter, Registry};

/// Why a fanned-out call failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum FanoutError {
    /// A node refused the request itself (bad request, over a limit): retrying elsewhere
    /// cannot help. The message comes from the node and names the limit.
    #[error("{0}")]
    Refused(String, ErrorCode),
    /// Too many nodes failed for a complete answer and partial answers are denied, or every
    /// node failed.
    #[error("{0}")]
    Unavailable(String),
    /// The query's deadline passed before a node answered: the query fails as a timeout
    /// rather than answering partially.
    #[error("{0}")]
    Timeout(String),
}

/// The result of one call on every node.
#[derive(Debug, Default)]
pub struct Fanout {
    /// Answers of the nodes that answered.
    pub answers: Vec<SelectResponse>,
    /// Whether some data may be missing because nodes failed.
    pub is_partial: bool,
}

/// The storage nodes and the rules of completeness.
pub struct Cluster {
    nodes: Vec<Arc<NodeClient>>,
    replication_factor: usize,
    node_errors: Vec<Arc<Counter>>,
    partial_answers: Arc<Counter>,
}

impl Cluster {
    /// A cluster over `nodes`; answers stay complete while fewer than `replication_factor`
    /// nodes fail.
    pub fn new(nodes: Vec<Arc<NodeClient>>, replication_factor: usize, metrics: &Registry) -> Self {
        let node_errors = nodes
            .iter()
            .map(|n| {
                metrics.counter(&format!(
                    "vm_rpc_select_errors_total{{addr=\"{}\"}}",
                    n.addr()
                ))
            })
            .collect();
        Self {
            nodes,
            replication_factor: replication_factor.max(1),
            node_errors,
            partial_answers: metrics.counter("vm_partial_results_total"),
        }
    }

    /// The nodes.
    pub fn nodes(&self) -> &[Arc<NodeClient>] {
        &self.nodes
    }

    /// Sends `request` to every node at once. `on_chunk(node, chunk)` receives search chunks
    /// as they arrive. Node failures are tolerated per the completeness rules; refusals fail
    /// the call.
    pub async fn call(
        &self,
        request: &SelectRequest,
        timeout: Duration,
        deny_partial: bool,
        on_chunk: &(dyn Fn(usize, Vec<u8>) -> Result<(), RpcError> + Sync),
    ) -> Result<Fanout, FanoutError> {
        let calls = self.nodes.iter().enumerate().map(|(i, node)| async move {
            node.select(request, timeout, move |chunk| on_chunk(i, chunk))
                .await
        });
        let results = join_all(calls).await;
        let mut out = Fanout::default();
        let mut failures = Vec::new();
        for (i, res) in results.into_iter().enumerate() {
            match res {
                Ok(answer) => out.answers.push(answer),
                Err(e) => {
                    if matches!(e, RpcError::Timeout { .. }) || e.code() == Some(ErrorCode::Timeout)
                    {
                        return Err(FanoutError::Timeout(format!(
                            "storage node did not answer in time: {e}"
                        )));
                    }
                    if let Some(code @ (ErrorCode::LimitExceeded | ErrorCode::InvalidRequest)) =
                        e.code()
                    {
                        let msg = match &e {
                            RpcError::Remote { message, .. } => message.clone(),
                            other => other.to_string(),
                        };
                        return Err(FanoutError::Refused(msg, code));
                    }
                    self.node_errors[i].inc();
                    failures.push(e.to_string());
                }
            }
        }
        if failures.is_empty() {
            return Ok(out);
        }
        if failures.len() == self.nodes.len() {
            return Err(FanoutError::Unavailable(format!(
                "all {} storage nodes failed: {}",
                self.nodes.len(),
                failures.join("; ")
            )));
        }
        if failures.len() < self.replication_factor {
            return Ok(out);
        }
        if deny_partial {
            return Err(FanoutError::Unavailable(format!(
                "cannot answer completely: {} of {} storage nodes failed and partial responses are denied \
                 (-search.denyPartialResponse or deny_partial_response=1): {}",
                failures.len(),
                self.nodes.len(),
                failures.join("; ")
            )));
        }
        self.partial_answers.inc();
        out.is_partial = true;
        Ok(out)
    }

    /// A select request of `kind` with the call's timeout filled in by the client.
    pub fn request(kind: select_request::Kind) -> SelectRequest {
        SelectRequest {
            timeout_ms: 0,
            kind: Some(kind),
        }
    }
}

/// Runs futures concurrently and returns their outputs in order.
pub async fn join_all<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut outputs: Vec<Option<F::Output>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if outputs[i].is_some() {
                continue;
            }
            match f.as_mut().poll(cx) {
                std::task::Poll::Ready(v) => outputs[i] = Some(v),
                std::task::Poll::Pending => pending = true,
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// Collects the string lists of every answer into one sorted, de-duplicated list of at most
/// `limit` entries (0: no limit).
pub fn merge_strings(answers: &[SelectResponse], limit: usize) -> Vec<String> {
    let mut all: Vec<String> = answers
        .iter()
        .filter_map(|a| match &a.kind {
            Some(select_response::Kind::Strings(s)) => Some(s.values.iter().cloned()),
            _ => None,
        })
        .flatten()
        .collect();
    all.sort_unstable();
    all.dedup();
    if limit > 0 {
        all.truncate(limit);
    }
    all
}

/// Collects the series names of every answer, sorted and de-duplicated.
pub fn merge_series_names(answers: &[SelectResponse]) -> Vec<Vec<u8>> {
    let mut all: Vec<Vec<u8>> = answers
        .iter()
        .filter_map(|a| match &a.kind {
            Some(select_response::Kind::Series(s)) => Some(s.values.iter().cloned()),
            _ => None,
        })
        .flatten()
        .collect();
    all.sort_unstable();
    all.dedup();
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn join_all_keeps_order() {
        let futs = (0..5u64).map(|i| async move {
            tokio::time::sleep(Duration::from_millis(10 * (5 - i))).await;
            i
        });
        assert_eq!(join_all(futs).await, vec![0, 1, 2, 3, 4]);
    }
}
