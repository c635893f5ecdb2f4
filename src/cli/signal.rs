//! The one SIGINT/SIGTERM handler of the long-running commands (`serve`, `agent`,
//! `relay`, `tail`): at the first signal it cancels the process's stop token, which
//! every task and thread of the command watches (`treestat_engine::stop`).

use tokio_util::sync::CancellationToken;
use tracing::error;

/// Starts a thread that waits for SIGINT or SIGTERM, then calls `then` (a log line,
/// `serve`'s watchdog) and cancels `stop`. The thread runs a small runtime of its own,
/// so blocking commands (the agent, the relay, the tailer) need none.
pub(super) fn cancel_on_signal(stop: CancellationToken, then: impl FnOnce() + Send + 'static) {
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            match rt {
                Ok(rt) => rt.block_on(wait_for_signal()),
                Err(e) => {
                    error!("no signal handler (SIGINT and SIGTERM end the process): {e}");
                    return;
                }
            }
            then();
            stop.cancel();
        });
    if let Err(e) = spawned {
        error!("no signal handler (SIGINT and SIGTERM end the process): {e}");
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
