//! The vmselect binary: parses flags and runs [`vmselect::run`] until SIGTERM or SIGINT.

fn main() {
    let config = vmselect::Config::from_args();
    if config.dry_run {
        if let Err(e) = config.validate() {
            service::error!("{e:#}");
            std::process::exit(1);
        }
        println!("{config:#?}");
        return;
    }
    service::signals::run_until_stopped("vmselect", |stop| async move {
        vmselect::run(config, stop)
            .await
            .map_err(|e| format!("{e:#}"))
    });
}
