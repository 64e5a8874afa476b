//! The vminsert binary: parses flags and runs [`vminsert::run`] until SIGTERM or SIGINT.

fn main() {
    if let Err(e) = run() {
        service::error!("{e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let config = vminsert::Config::from_args();
    if config.dry_run {
        config.validate()?;
        println!("{config:#?}");
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(vminsert::run(config, async {
        let sig = service::signals::stop_requested().await;
        service::info!("received {sig}; stopping");
    }))
}
