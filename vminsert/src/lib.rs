//! vminsert: the stateless write front end. It accepts Prometheus remote_write and the import
//! formats, validates and canonicalises series, and stores each series on
//! `-replicationFactor` storage nodes chosen by rendezvous hashing, answering only once every
//! copy is acknowledged.

pub mod config;
pub mod http;
pub mod node_writer;
pub mod ring;
pub mod router;

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use rpc::client::{ClientConfig, NodeClient};
use rpc::handshake::Role;
use service::metrics::Registry;

pub use config::Config;

/// Runs vminsert until `stop` resolves, then finishes requests in flight.
pub async fn run(config: Config, stop: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
    config.validate()?;
    let metrics = Registry::new();
    service::process::register_process_metrics(&metrics);
    let client_config = ClientConfig {
        compress: !config.disable_compression,
        ..ClientConfig::default()
    };
    let mut writers = Vec::new();
    for addr in &config.storage_node {
        let client = Arc::new(NodeClient::new(
            addr.clone(),
            Role::Insert,
            client_config.clone(),
        ));
        let c = Arc::clone(&client);
        metrics.gauge_fn(
            &format!("vm_rpc_vmstorage_is_reachable{{addr=\"{addr}\"}}"),
            move || f64::from(u8::from(c.is_available())),
        );
        let writer = node_writer::NodeWriter::new(client, config.insert_timeout, &metrics);
        writer.start(config.senders_per_node);
        writers.push(writer);
    }
    let router = router::Router::new(writers, config.replication_factor, &metrics);
    let listener = tokio::net::TcpListener::bind(config.http_listen_addr)
        .await
        .with_context(|| {
            format!(
                "cannot listen on -httpListenAddr={}",
                config.http_listen_addr
            )
        })?;
    service::info!(
        "vminsert listening on {} with {} storage nodes, -replicationFactor={}",
        listener
            .local_addr()
            .map_or_else(|_| config.http_listen_addr.to_string(), |a| a.to_string()),
        config.storage_node.len(),
        config.replication_factor
    );
    let grace = config.shutdown_timeout;
    let api = Arc::new(http::Api::new(config, router, metrics));
    let handler: service::http::Handler = Arc::new(move |req| {
        let api = Arc::clone(&api);
        Box::pin(async move { api.handle(req).await })
    });
    service::http::serve(listener, handler, stop, grace).await;
    service::info!("vminsert stopped");
    Ok(())
}
