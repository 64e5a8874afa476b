//! vmselect: the stateless query front end. It serves the Prometheus HTTP query API by
//! evaluating PromQL (and the MetricsQL extensions) over data fetched from every storage node,
//! merging and de-duplicating series that several nodes hold, and saying so when an answer is
//! partial.

pub mod api;
pub mod cluster;
pub mod config;
pub mod json;
pub mod querier;
pub mod search;
pub mod times;

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use rpc::client::{ClientConfig, NodeClient};
use rpc::handshake::Role;
use service::metrics::Registry;

pub use config::Config;

/// Runs vmselect until `stop` resolves, then finishes queries in flight.
pub async fn run(config: Config, stop: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
    config.validate()?;
    let metrics = Registry::new();
    service::process::register_process_metrics(&metrics);
    let client_config = ClientConfig {
        compress: !config.disable_compression,
        ..ClientConfig::default()
    };
    let nodes: Vec<Arc<NodeClient>> = config
        .storage_node
        .iter()
        .map(|addr| {
            Arc::new(NodeClient::new(
                addr.clone(),
                Role::Select,
                client_config.clone(),
            ))
        })
        .collect();
    for n in &nodes {
        let c = Arc::clone(n);
        metrics.gauge_fn(
            &format!("vm_rpc_vmstorage_is_reachable{{addr=\"{}\"}}", n.addr()),
            move || f64::from(u8::from(c.is_available())),
        );
    }
    let cluster = Arc::new(cluster::Cluster::new(
        nodes,
        config.replication_factor,
        &metrics,
    ));
    let listener = tokio::net::TcpListener::bind(config.http_listen_addr)
        .await
        .with_context(|| {
            format!(
                "cannot listen on -httpListenAddr={}",
                config.http_listen_addr
            )
        })?;
    service::info!(
        "vmselect listening on {} with {} storage nodes",
        listener
            .local_addr()
            .map_or_else(|_| config.http_listen_addr.to_string(), |a| a.to_string()),
        config.storage_node.len()
    );
    let grace = config.shutdown_timeout;
    let api = Arc::new(api::Api::new(config, cluster, metrics));
    let handler: service::http::Handler = Arc::new(move |req| {
        let api = Arc::clone(&api);
        Box::pin(async move { api.handle(req).await })
    });
    service::http::serve(listener, handler, stop, grace).await;
    service::info!("vmselect stopped");
    Ok(())
}
