//! The vminsert binary: parses flags and runs [`vminsert::run`] until SIGTERM or SIGINT.

fn main() -> anyhow::Result<()> {
    let config = vminsert::Config::from_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(vminsert::run(config, async {
        let sig = service::signals::stop_requested().await;
        service::info!("received {sig}; stopping");
    }))
}
