//! The vmselect binary: parses flags and runs [`vmselect::run`] until SIGTERM or SIGINT.

fn main() -> anyhow::Result<()> {
    let config = vmselect::Config::from_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(vmselect::run(config, async {
        let sig = service::signals::stop_requested().await;
        service::info!("received {sig}; stopping");
    }))
}
