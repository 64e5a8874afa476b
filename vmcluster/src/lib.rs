//! A local cluster in one process: storage nodes, vminsert and vmselect started in-process
//! through their `run` functions, with data in one folder. For trying the system out and for
//! development; production runs the three binaries separately (see `k8s/`).

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use service::flags::parse_listen_addr;
use tokio::sync::watch;

/// Flags of the local cluster.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "vmcluster",
    version,
    about = "Runs a local cluster: storage nodes, vminsert and vmselect in one process"
)]
pub struct LocalConfig {
    /// Folder for all data; storage node i keeps its data in `<dataPath>/vmstorage-<i>`.
    #[arg(long = "dataPath", default_value = "data")]
    pub data_path: PathBuf,
    /// Number of storage nodes.
    #[arg(long = "storageNodes", default_value_t = 2)]
    pub storage_nodes: usize,
    /// Copies of each series (at most the number of storage nodes).
    #[arg(long = "replicationFactor", default_value_t = 1)]
    pub replication_factor: usize,
    /// vminsert's HTTP address.
    #[arg(long = "vminsertAddr", default_value = "127.0.0.1:8480", value_parser = parse_listen_addr)]
    pub vminsert_addr: std::net::SocketAddr,
    /// vmselect's HTTP address.
    #[arg(long = "vmselectAddr", default_value = "127.0.0.1:8481", value_parser = parse_listen_addr)]
    pub vmselect_addr: std::net::SocketAddr,
    /// Storage node 0's HTTP port; node i uses this + 10·i for HTTP, and 8400 + 10·i, 8401 + 10·i
    /// for vminsert and vmselect RPC (node 0 has the standard ports 8482, 8400, 8401).
    #[arg(long = "storageBasePort", default_value_t = 8482)]
    pub storage_base_port: u16,
    /// How long data is kept (as vmstorage's -retentionPeriod).
    #[arg(long = "retentionPeriod", default_value = "1")]
    pub retention_period: String,
}

impl Default for LocalConfig {
    fn default() -> Self {
        LocalConfig::parse_from(["vmcluster"])
    }
}

/// The URLs a user needs.
#[derive(Debug, Clone)]
pub struct Urls {
    /// Prometheus remote_write URL (tenant 0).
    pub remote_write: String,
    /// Grafana Prometheus data source URL (tenant 0).
    pub grafana: String,
}

impl LocalConfig {
    /// The URLs of this cluster.
    pub fn urls(&self) -> Urls {
        Urls {
            remote_write: format!(
                "http://{}/insert/0/prometheus/api/v1/write",
                self.vminsert_addr
            ),
            grafana: format!("http://{}/select/0/prometheus", self.vmselect_addr),
        }
    }
}

/// Runs the local cluster until `stop` resolves; then stops vminsert and vmselect first and the
/// storage nodes last, so every accepted row is flushed.
pub async fn run(
    config: LocalConfig,
    stop: impl std::future::Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        config.storage_nodes >= 1,
        "-storageNodes must be at least 1"
    );
    anyhow::ensure!(
        (1..=config.storage_nodes).contains(&config.replication_factor),
        "-replicationFactor must be between 1 and -storageNodes={}",
        config.storage_nodes
    );
    let (front_tx, front_rx) = watch::channel(false);
    let (back_tx, back_rx) = watch::channel(false);
    let host = config.vminsert_addr.ip();
    let mut storages = Vec::new();
    let (mut insert_nodes, mut select_nodes) = (Vec::new(), Vec::new());
    for i in 0..config.storage_nodes {
        let off = 10 * i as u16;
        let http = config.storage_base_port + off;
        let (ins, sel) = (8400 + off, 8401 + off);
        let args = vec![
            "vmstorage".to_string(),
            format!(
                "--storageDataPath={}",
                config.data_path.join(format!("vmstorage-{i}")).display()
            ),
            format!("--httpListenAddr={host}:{http}"),
            format!("--vminsertAddr={host}:{ins}"),
            format!("--vmselectAddr={host}:{sel}"),
            format!("--retentionPeriod={}", config.retention_period),
        ];
        let cfg = vmstorage::Config::try_parse_from(args)?;
        storages.push(tokio::spawn(vmstorage::run(cfg, wait_for(back_rx.clone()))));
        insert_nodes.push(format!("{host}:{ins}"));
        select_nodes.push(format!("{host}:{sel}"));
    }
    let insert_cfg = vminsert::Config::try_parse_from([
        "vminsert".to_string(),
        format!("--httpListenAddr={}", config.vminsert_addr),
        format!("--storageNode={}", insert_nodes.join(",")),
        format!("--replicationFactor={}", config.replication_factor),
    ])?;
    let select_cfg = vmselect::Config::try_parse_from([
        "vmselect".to_string(),
        format!("--httpListenAddr={}", config.vmselect_addr),
        format!("--storageNode={}", select_nodes.join(",")),
        format!("--replicationFactor={}", config.replication_factor),
    ])?;
    let insert = tokio::spawn(vminsert::run(insert_cfg, wait_for(front_rx.clone())));
    let select = tokio::spawn(vmselect::run(select_cfg, wait_for(front_rx)));

    stop.await;
    let _ = front_tx.send(true);
    let (a, b) = (insert.await?, select.await?);
    let _ = back_tx.send(true);
    let mut result = a.and(b);
    for s in storages {
        result = result.and(s.await?);
    }
    result
}

async fn wait_for(mut rx: watch::Receiver<bool>) {
    loop {
        let now = *rx.borrow_and_update();
        if now {
            return;
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Time the local cluster allows itself to stop.
pub const STOP_GRACE: Duration = Duration::from_secs(30);
