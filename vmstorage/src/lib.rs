//! vmstorage: the stateful storage node. It keeps series and samples in `lib/tsdb` under
//! `-storageDataPath`, takes row batches from vminsert on `-vminsertAddr`, answers searches
//! from vmselect on `-vmselectAddr`, and serves health, metrics, snapshots and maintenance on
//! `-httpListenAddr`.

pub mod config;
pub mod http;
pub mod rpc_services;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use rpc::server::{ServerConfig, ServerStats, serve_insert, serve_select};
use service::metrics::Registry;
use tokio::sync::watch;
use tsdb::storage::{Storage, StorageConfig};

pub use config::Config;

/// Runs a storage node until `stop` resolves; then refuses new batches, finishes those in
/// flight, flushes everything to disk and closes the storage.
pub async fn run(config: Config, stop: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
    config.validate()?;
    let metrics = Registry::new();
    service::process::register_process_metrics(&metrics);
    let mut storage_config = StorageConfig::default();
    storage_config.table.retention_ms = config.retention_period.as_millis() as i64;
    storage_config.table.dedup_interval_ms = config.dedup_min_scrape_interval.as_millis() as i64;
    storage_config.table.flush_interval = config.flush_interval;
    storage_config.table.fsync = if config.wal_fsync {
        tsdb::FsyncMode::PowerLoss
    } else {
        tsdb::FsyncMode::ProcessCrash
    };
    let path = config.storage_data_path.clone();
    let storage = tokio::task::spawn_blocking(move || Storage::open(&path, storage_config))
        .await
        .context("storage open panicked")?
        .with_context(|| {
            format!(
                "cannot open storage at -storageDataPath={}",
                config.storage_data_path.display()
            )
        })?;
    let storage = Arc::new(storage);
    register_storage_metrics(&metrics, &storage);
    let node = Arc::new(rpc_services::Node::new(
        Arc::clone(&storage),
        config.max_unique_timeseries,
        &metrics,
    ));

    let n = Arc::downgrade(&node);
    metrics.gauge_fn("vm_storage_is_read_only", move || {
        n.upgrade().map_or(0.0, |n| {
            f64::from(u8::from(n.read_only.load(Ordering::Relaxed)))
        })
    });
    let data_path = config.storage_data_path.clone();
    metrics.gauge_fn("vm_free_disk_space_bytes", move || {
        service::process::free_disk_bytes(&data_path).map_or(0.0, |b| b as f64)
    });

    let insert_listener = tokio::net::TcpListener::bind(config.vminsert_addr)
        .await
        .with_context(|| format!("cannot listen on -vminsertAddr={}", config.vminsert_addr))?;
    let select_listener = tokio::net::TcpListener::bind(config.vmselect_addr)
        .await
        .with_context(|| format!("cannot listen on -vmselectAddr={}", config.vmselect_addr))?;
    let http_listener = tokio::net::TcpListener::bind(config.http_listen_addr)
        .await
        .with_context(|| {
            format!(
                "cannot listen on -httpListenAddr={}",
                config.http_listen_addr
            )
        })?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let server_config = ServerConfig {
        max_timeout: config.max_query_duration.max(Duration::from_secs(1)),
        ..ServerConfig::default()
    };
    let insert_stats = Arc::new(ServerStats::default());
    let select_stats = Arc::new(ServerStats::default());
    register_server_metrics(&metrics, "vminsert", &insert_stats);
    register_server_metrics(&metrics, "vmselect", &select_stats);
    let inserts = tokio::spawn(serve_insert(
        insert_listener,
        node.clone(),
        server_config.clone(),
        insert_stats,
        stop_rx.clone(),
    ));
    let selects = tokio::spawn(serve_select(
        select_listener,
        node.clone(),
        server_config,
        select_stats,
        stop_rx.clone(),
    ));
    let disk_watch = tokio::spawn(watch_free_disk(
        Arc::clone(&node),
        config.storage_data_path.clone(),
        config.min_free_disk_space_bytes,
        stop_rx.clone(),
    ));

    service::info!(
        "vmstorage serving -storageDataPath={} on http {}, vminsert {}, vmselect {}",
        config.storage_data_path.display(),
        http_listener
            .local_addr()
            .map_or_else(|_| config.http_listen_addr.to_string(), |a| a.to_string()),
        config.vminsert_addr,
        config.vmselect_addr
    );
    let api = Arc::new(http::Api {
        storage: Arc::clone(&storage),
        node: Arc::clone(&node),
        metrics: metrics.clone(),
        data_path: config.storage_data_path.clone(),
    });
    let handler: service::http::Handler = Arc::new(move |req| {
        let api = Arc::clone(&api);
        Box::pin(async move { api.handle(req).await })
    });
    let (http_stop_tx, http_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let http = tokio::spawn(service::http::serve(
        http_listener,
        handler,
        async move {
            let _ = http_stop_rx.await;
        },
        Duration::from_secs(5),
    ));

    stop.await;
    service::info!("vmstorage stopping: refusing new batches, finishing those in flight");
    node.stopping.store(true, Ordering::SeqCst);
    let _ = stop_tx.send(true);
    let grace = config.shutdown_timeout;
    let _ = tokio::time::timeout(grace, async {
        let _ = inserts.await;
        let _ = selects.await;
    })
    .await;
    let _ = disk_watch.await;
    let _ = http_stop_tx.send(());
    let _ = http.await;
    drop(node);
    let storage = Arc::try_unwrap(storage)
        .map_err(|_| anyhow::anyhow!("storage still in use at shutdown"))?;
    tokio::task::spawn_blocking(move || storage.close())
        .await
        .context("storage close panicked")?
        .context("cannot close storage cleanly")?;
    service::info!("vmstorage stopped; all data flushed");
    Ok(())
}

/// Turns the node read-only while free disk space is below `min_free`, and back.
async fn watch_free_disk(
    node: Arc<rpc_services::Node>,
    path: std::path::PathBuf,
    min_free: u64,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if let Ok(free) = service::process::free_disk_bytes(&path) {
            let low = free < min_free;
            if node.read_only.swap(low, Ordering::Relaxed) != low {
                if low {
                    service::warn!(
                        "free disk space {free} bytes is below -storage.minFreeDiskSpaceBytes={min_free}: refusing inserts"
                    );
                } else {
                    service::info!(
                        "free disk space {free} bytes is enough again: accepting inserts"
                    );
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
    }
}

fn register_server_metrics(metrics: &Registry, name: &str, stats: &Arc<ServerStats>) {
    for (what, f) in [
        (
            "conns_total",
            (|s: &ServerStats| s.connections.load(Ordering::Relaxed)) as fn(&ServerStats) -> u64,
        ),
        ("calls_total", |s: &ServerStats| {
            s.calls_ok.load(Ordering::Relaxed)
        }),
        ("call_errors_total", |s: &ServerStats| {
            s.calls_failed.load(Ordering::Relaxed)
        }),
        ("protocol_errors_total", |s: &ServerStats| {
            s.protocol_errors.load(Ordering::Relaxed)
        }),
    ] {
        let s = Arc::clone(stats);
        metrics.counter_fn(&format!("vm_{name}_{what}"), move || f(&s) as f64);
    }
}

fn register_storage_metrics(metrics: &Registry, storage: &Arc<Storage>) {
    // Weak references: the registry must not keep the storage alive past its close.
    type Get = fn(&tsdb::storage::StorageStats) -> u64;
    let gauges: [(&str, bool, Get); 16] = [
        ("vm_data_size_bytes", false, |s| s.data_bytes),
        ("vm_data_rows", false, |s| s.data_rows),
        ("vm_rows_deleted_total", true, |s| s.rows_deleted),
        ("vm_cache_size_bytes{type=\"storage/tsid\"}", false, |s| {
            s.index_cache_bytes
        }),
        ("vm_index_size_bytes", false, |s| s.index_bytes),
        ("vm_series_total", false, |s| s.series),
        ("vm_parts", false, |s| s.parts),
        ("vm_pending_rows", false, |s| s.pending_rows),
        ("vm_rows_added_total", true, |s| s.rows_added),
        ("vm_new_series_created_total", true, |s| s.new_series),
        ("vm_rows_dropped_total{reason=\"too_old\"}", true, |s| {
            s.rows_dropped_too_old
        }),
        ("vm_rows_dropped_total{reason=\"too_new\"}", true, |s| {
            s.rows_dropped_too_new
        }),
        ("vm_merges_total", true, |s| s.merges),
        ("vm_background_errors_total", true, |s| s.background_errors),
        ("vm_index_cache_hits_total", true, |s| s.index_cache_hits),
        ("vm_index_cache_misses_total", true, |s| {
            s.index_cache_misses
        }),
    ];
    for (name, counter, get) in gauges {
        let weak = Arc::downgrade(storage);
        let f = move || weak.upgrade().map_or(0.0, |s| get(&s.stats()) as f64);
        if counter {
            metrics.counter_fn(name, f);
        } else {
            metrics.gauge_fn(name, f);
        }
    }
}
