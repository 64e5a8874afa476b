//! The vminsert binary: parses flags and runs [`vminsert::run`] until SIGTERM or SIGINT.

fn main() {
    let config = vminsert::Config::from_args();
    if config.dry_run {
        if let Err(e) = config.validate() {
            service::error!("{e:#}");
            std::process::exit(1);
        }
        println!("{config:#?}");
        return;
    }
    service::signals::run_until_stopped("vminsert", |stop| async move {
        vminsert::run(config, stop)
            .await
            .map_err(|e| format!("{e:#}"))
    });
}
