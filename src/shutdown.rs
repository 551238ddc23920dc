//! A background task's side of shutdown, on its own so that the tasks
//! `tasks` starts can take it without importing the place that starts them.

use tokio::sync::watch;

/// A task's side of shutdown: `tasks::Tasks` holds the sending side.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Watches `rx`: shutdown is asked for when it turns `true` or its
    /// sender is gone.
    pub fn new(rx: watch::Receiver<bool>) -> Shutdown {
        Shutdown(rx)
    }

    /// Resolves once shutdown was asked for, or the sender was dropped.
    /// Cancel-safe, for `select!` loops.
    pub async fn requested(&mut self) {
        // An error means the sender is gone: stop as well.
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}
