//! The vmstorage binary: parses flags and runs [`vmstorage::run`] until SIGTERM or SIGINT.

fn main() {
    if let Err(e) = run() {
        service::error!("{e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let config = vmstorage::Config::from_args();
    if config.dry_run {
        config.validate()?;
        println!("{config:#?}");
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(vmstorage::run(config, async {
        let sig = service::signals::stop_requested().await;
        service::info!("received {sig}; stopping");
    }))
}
