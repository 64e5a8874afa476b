//! The local cluster launcher: `cargo run --release -p vmcluster`.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let config =
        vmcluster::LocalConfig::parse_from(service::flags::normalize_args(std::env::args()));
    let urls = config.urls();
    service::process::tune_allocator(std::time::Duration::from_secs(5));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    println!(
        "Starting a local cluster: {} storage nodes, -replicationFactor={}, data in {}",
        config.storage_nodes,
        config.replication_factor,
        config.data_path.display()
    );
    println!();
    println!("  Prometheus remote_write URL:   {}", urls.remote_write);
    println!(
        "  Grafana data source URL:       {}   (type: Prometheus)",
        urls.grafana
    );
    println!();
    println!("Press Ctrl-C to stop.");
    runtime.block_on(vmcluster::run(config, async {
        let sig = service::signals::stop_requested().await;
        service::info!("received {sig}; stopping the local cluster");
    }))
}
