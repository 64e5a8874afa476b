//! The vmstorage binary: parses flags and runs [`vmstorage::run`] until SIGTERM or SIGINT.

fn main() {
    let config = vmstorage::Config::from_args();
    if config.dry_run {
        if let Err(e) = config.validate() {
            service::error!("{e:#}");
            std::process::exit(1);
        }
        println!("{config:#?}");
        return;
    }
    service::signals::run_until_stopped("vmstorage", |stop| async move {
        vmstorage::run(config, stop)
            .await
            .map_err(|e| format!("{e:#}"))
    });
}
