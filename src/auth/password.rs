//! Argon2id password hashing (PHC strings) with a timing-equal path for unknown
//! users, and the gate that bounds how many verifications run at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::error::AppError;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Hashes a password with Argon2id and a random salt, as a PHC string.
pub fn hash(password: &str) -> String {
    let salt_bytes = crate::secret::random_bytes::<16>();
    let salt = SaltString::encode_b64(&salt_bytes).expect("16 bytes is a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters accepts any password")
        .to_string()
}

/// Checks a password against a PHC string; a malformed hash never matches.
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Runs a full verification against a fixed hash and returns false, so a login
/// for an unknown user costs the same time as a wrong password (no user
/// enumeration by timing).
pub fn verify_unknown_user(password: &str) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash("pixbin-dummy-password-for-timing"));
    let _ = verify(password, phc);
    false
}

/// Verifications that may wait for a hashing slot; more are refused at once.
pub const HASH_QUEUE: usize = 16;
/// The longest a verification waits for a slot before it is refused.
const HASH_WAIT: Duration = Duration::from_secs(5);
/// What a refused verification tells the client to wait, in seconds.
const BUSY_RETRY_SECS: u64 = 1;

/// Bounds the password verifications running at once (SECURITY.md A43).
///
/// Each argon2id verification takes 19 MiB and a core for tens of
/// milliseconds; unbounded, hundreds of concurrent logins took gigabytes and
/// every blocking thread, so image serving stalled. Through the gate at most
/// `size` run (half the cores, 1 to 4), up to [`HASH_QUEUE`] more wait at most
/// five seconds, and the rest are refused at once with 503 `busy` and
/// `Retry-After`, before any memory is taken. The blocking pool is shared
/// with the store, but the gate leaves all but `size` of its threads to it.
#[derive(Debug)]
pub struct HashGate {
    slots: Arc<Semaphore>,
    size: usize,
    queue: usize,
    waiting: Arc<AtomicUsize>,
    running: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

/// Counts a waiting verification for as long as it waits, even if the request
/// is dropped meanwhile.
struct Waiting(Arc<AtomicUsize>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl HashGate {
    /// Half the cores, at least 1 and at most 4: hashing never takes every core
    /// from serving.
    pub fn default_concurrency() -> usize {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get() / 2)
            .clamp(1, 4)
    }

    /// A gate letting `size` verifications run and `queue` more wait.
    pub fn new(size: usize, queue: usize) -> HashGate {
        let size = size.max(1);
        HashGate {
            slots: Arc::new(Semaphore::new(size)),
            size,
            queue,
            waiting: Arc::new(AtomicUsize::new(0)),
            running: Arc::new(AtomicUsize::new(0)),
            peak: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// How many verifications may run at once.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The most verifications that ever ran at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// Runs `f` (a verification) on the blocking pool once a slot is free;
    /// [`AppError::Busy`] when too many wait already or the wait runs out.
    /// The slot is held by the blocking task itself, so a client that hangs
    /// up cannot free it while its hash still runs.
    pub async fn run<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let busy = AppError::Busy {
            retry_after: BUSY_RETRY_SECS,
        };
        let permit = match self.slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.queue {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    return Err(busy);
                }
                let _waiting = Waiting(self.waiting.clone());
                match tokio::time::timeout(HASH_WAIT, self.slots.clone().acquire_owned()).await {
                    Ok(Ok(p)) => p,
                    _ => return Err(busy),
                }
            }
        };
        let (running, peak) = (self.running.clone(), self.peak.clone());
        Ok(tokio::task::spawn_blocking(move || {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            let out = f();
            running.fetch_sub(1, Ordering::SeqCst);
            drop(permit);
            out
        })
        .await?)
    }
}

/// A readable random password for the first admin account (~120 bits).
pub fn generate() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(crate::secret::random_bytes::<15>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ() {
        let a = hash("correct horse");
        let b = hash("correct horse");
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("$argon2id$"));
        assert!(verify("correct horse", &a));
        assert!(!verify("correct horsf", &a));
        assert!(!verify("x", "not a phc string"));
        assert!(!verify_unknown_user("anything"));
        assert_eq!(generate().len(), 20);
    }

    #[tokio::test]
    async fn the_gate_runs_its_size_queues_its_queue_and_refuses_the_rest() {
        let gate = Arc::new(HashGate::new(1, 2));
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let release_rx = Arc::new(std::sync::Mutex::new(release_rx));
        // One runs (blocked until released), two wait.
        let mut jobs = Vec::new();
        for _ in 0..3 {
            let (g, rx) = (gate.clone(), release_rx.clone());
            jobs.push(tokio::spawn(async move {
                g.run(move || rx.lock().unwrap().recv().unwrap()).await
            }));
        }
        while gate.waiting.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        // The fourth is refused at once, with a retry hint.
        let started = std::time::Instant::now();
        match gate.run(|| ()).await {
            Err(AppError::Busy { retry_after }) => assert!(retry_after >= 1),
            other => panic!("expected Busy, got {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_millis(500));
        for _ in 0..3 {
            release_tx.send(()).unwrap();
        }
        for j in jobs {
            j.await.unwrap().unwrap();
        }
        assert_eq!(gate.peak(), 1, "never more than the gate's size at once");
        assert_eq!(gate.waiting.load(Ordering::SeqCst), 0);
        // Free again.
        gate.run(|| ()).await.unwrap();
    }
}
