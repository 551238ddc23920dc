//! [`AsyncTemp`]: feeds a [`TempBlob`] from async code, the way
//! `tokio::fs::File` feeds a file: each write is copied and handed to the
//! blocking pool, and the next write waits only for the one before it, so
//! receiving the body and writing it overlap.

use std::future::{Future, poll_fn};
use std::io::{self, Write};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::AsyncWrite;
use tokio::task::JoinHandle;

use super::{Discarder, ReadSeek, Syncer, TempBlob};

/// Largest single write handed to the blocking pool (as `tokio::fs`).
const MAX_WRITE: usize = 2 * 1024 * 1024;

type Done = (TempBlob, Vec<u8>, io::Result<()>);

/// A [`TempBlob`] written from async code. Wrap it in a
/// `tokio::io::BufWriter` to batch small writes.
pub struct AsyncTemp {
    /// The temp and a spare buffer while no write is in flight.
    idle: Option<(TempBlob, Vec<u8>)>,
    busy: Option<JoinHandle<Done>>,
    /// Throws the bytes away if this is dropped while a write runs (the
    /// temp is inside that write then), so an abandoned upload leaves no
    /// temp behind by the time its answer goes out.
    discard: Option<Discarder>,
}

impl Drop for AsyncTemp {
    fn drop(&mut self) {
        if self.busy.is_some()
            && let Some(d) = self.discard.take()
        {
            d();
        }
    }
}

impl std::fmt::Debug for AsyncTemp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncTemp")
            .field("busy", &self.busy.is_some())
            .finish()
    }
}

fn closed() -> io::Error {
    io::Error::other("temp lost after a failed write")
}

impl AsyncTemp {
    /// Wraps a temp.
    pub fn new(temp: TempBlob) -> Self {
        AsyncTemp {
            discard: Some(temp.discarder()),
            idle: Some((temp, Vec::new())),
            busy: None,
        }
    }

    /// Waits for the write in flight, if any, and reports its error.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(h) = self.busy.as_mut() {
            let done = ready!(Pin::new(h).poll(cx));
            self.busy = None;
            // A panicked write took the temp with it; its guard removed it.
            let (temp, buf, result) = done.map_err(io::Error::other)?;
            self.idle = Some((temp, buf));
            result?;
        }
        Poll::Ready(Ok(()))
    }

    async fn idle(&mut self) -> io::Result<&mut TempBlob> {
        poll_fn(|cx| self.poll_idle(cx)).await?;
        self.idle.as_mut().map(|(t, _)| t).ok_or_else(closed)
    }

    /// Makes everything written durable (on the blocking pool).
    pub async fn sync_all(&mut self) -> io::Result<()> {
        self.idle().await?;
        let (mut temp, buf) = self.idle.take().ok_or_else(closed)?;
        let (temp, result) = tokio::task::spawn_blocking(move || {
            let r = temp.sync_all();
            (temp, r)
        })
        .await
        .map_err(io::Error::other)?;
        self.idle = Some((temp, buf));
        result
    }

    /// See [`TempBlob::syncer`]; usable while writes go on.
    pub async fn syncer(&mut self) -> io::Result<Syncer> {
        self.idle().await?.syncer()
    }

    /// A reader over everything written so far.
    pub async fn reader(&mut self) -> io::Result<Box<dyn ReadSeek>> {
        self.idle().await?.reader()
    }

    /// The temp back, once every write landed.
    pub async fn into_temp(mut self) -> io::Result<TempBlob> {
        self.idle().await?;
        self.idle.take().map(|(t, _)| t).ok_or_else(closed)
    }
}

impl AsyncWrite for AsyncTemp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_idle(cx))?;
        let (mut temp, mut buf) = this.idle.take().ok_or_else(closed)?;
        let n = data.len().min(MAX_WRITE);
        buf.clear();
        buf.extend_from_slice(&data[..n]);
        this.busy = Some(tokio::task::spawn_blocking(move || {
            let r = temp.write_all(&buf);
            (temp, buf, r)
        }));
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_idle(cx))?;
        match this.idle.as_mut() {
            Some((t, _)) => Poll::Ready(t.flush()),
            None => Poll::Ready(Err(closed())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::blobs::{BlobStore, MemBlobStore};
    use std::io::Read;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn writes_land_in_order_and_errors_surface() {
        let store = MemBlobStore::new();
        let mut w =
            tokio::io::BufWriter::with_capacity(7, AsyncTemp::new(store.create_temp().unwrap()));
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        for chunk in data.chunks(333) {
            w.write_all(chunk).await.unwrap();
        }
        w.flush().await.unwrap();
        let mut back = Vec::new();
        w.get_mut()
            .reader()
            .await
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        let temp = w.into_inner().into_temp().await.unwrap();
        let hash = super::super::BlobHash::of(&data);
        assert!(store.put(temp, &hash).unwrap());

        store.simulate_disk_full(true);
        let mut w = AsyncTemp::new(store.create_temp().unwrap());
        let first = w.write(b"x").await; // accepted, written in the background
        assert!(first.is_ok());
        assert!(w.flush().await.is_err(), "the failed write is reported");
    }
}
