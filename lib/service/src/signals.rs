//! Waiting for the signals that ask a process to stop.

/// Resolves when the process receives SIGTERM or SIGINT. Returns the signal's name.
pub async fn stop_requested() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers, never resolve: the process then stops only when killed.
        std::future::pending::<()>().await;
        return "none";
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

/// The `main` of every binary: runs `run(stop)` on a multi-threaded runtime, where `stop`
/// resolves on SIGTERM or SIGINT, and exits with status 1 after logging the error if it fails.
pub fn run_until_stopped<F, Fut, E>(name: &str, run: F)
where
    F: FnOnce(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>) -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    // Before any thread starts: the allocator settings apply to every arena.
    crate::process::tune_allocator(std::time::Duration::from_secs(5));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            crate::error!("{name}: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let stop = Box::pin(async {
        let sig = stop_requested().await;
        crate::info!("received {sig}; stopping");
    });
    if let Err(e) = runtime.block_on(run(stop)) {
        crate::error!("{name}: {e}");
        std::process::exit(1);
    }
}
