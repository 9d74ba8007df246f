//! Connection slots: how many connections a listener serves, which one
//! gives way when it is full, and when a connection has waited too long.
//!
//! A listener holds at most `max_connections` [`Slot`]s. A client that
//! arrives when every slot is taken does not simply bounce: the connection
//! that has made the least progress gives its slot up ([`Slots::admit`]):
//!
//! 1. one with a message in progress for at least [`STALLED`] (a frame,
//!    line or request begun and not finished), the one begun longest ago;
//! 2. else one that has sent nothing for at least [`STALLED`], idle
//!    longest;
//! 3. else nobody: every connection is making progress, and the newcomer
//!    is closed (counted as rejected).
//!
//! So a thousand clients trickling one byte every few seconds (slowloris)
//! cannot keep a working client out: each newcomer takes the slot of the
//! stalest trickler. A client sending whole messages is never evicted in
//! favour of one that does not.
//!
//! Each slot also carries two deadlines ([`Slot::read`]): a message begun
//! must end within `message_timeout`, and a connection with nothing in
//! progress is closed after `idle_timeout` of silence (0: never). The
//! connection's task learns of either, and of its eviction, as the outcome
//! of its next read, and decides what its partial message costs (the modes
//! drop it and count it: it may hold half a secret).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// How long a message may be in progress, or a connection silent, before
/// its slot can go to a newcomer.
pub const STALLED: Duration = Duration::from_secs(1);

/// Why a connection's read did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Ended {
    /// A newcomer took the slot.
    #[error("evicted: the listener is full and this connection made the least progress")]
    Evicted,
    /// Nothing arrived for `idle_timeout`.
    #[error("idle timeout")]
    Idle,
    /// A message in progress did not end within `message_timeout`.
    #[error("message timeout: a message in progress did not end in time")]
    Message,
}

/// The timeouts of one listener's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Silence (nothing in progress) after which a connection is closed;
    /// zero: never.
    pub idle: Duration,
    /// Time a message may take from its first byte to its end.
    pub message: Duration,
}

/// One listener's slots.
#[derive(Debug)]
pub struct Slots {
    max: usize,
    timeouts: Timeouts,
    /// The connections holding a slot; never more than `max`.
    table: Mutex<Vec<Arc<Entry>>>,
    next_id: AtomicU64,
    epoch: Instant,
}

/// What a slot's connection has done, read by [`Slots::admit`] when it
/// looks for a connection to evict.
#[derive(Debug)]
struct Entry {
    id: u64,
    /// Milliseconds since the epoch of the last byte read (or of the
    /// connection's start).
    last_read: AtomicU64,
    /// 1 + milliseconds since the epoch at which the message in progress
    /// began; 0 between messages.
    partial_since: AtomicU64,
    evicted: AtomicBool,
    wake: Arc<Notify>,
}

/// A connection's hold on a slot; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<Slots>,
    entry: Arc<Entry>,
}

/// The outcome of [`Slots::admit`].
#[derive(Debug)]
pub enum Admission {
    /// A free slot.
    Admitted(Slot),
    /// The slot of a stalled or idle connection, which is told to close.
    Evicted(Slot),
    /// Every connection is making progress: the newcomer is refused.
    Full,
}

impl Slots {
    /// `max` slots (at least one) with these timeouts.
    pub fn new(max: usize, timeouts: Timeouts) -> Arc<Slots> {
        Arc::new(Slots {
            max: max.max(1),
            timeouts,
            table: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(0),
            epoch: Instant::now(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Arc<Entry>>> {
        // A panic elsewhere cannot leave the table inconsistent: every
        // change is one push, swap_remove or retain.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Connections holding a slot now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no connection holds a slot.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A slot for a new connection: a free one, else the slot of the
    /// connection that made the least progress (see the module docs).
    pub fn admit(self: &Arc<Self>) -> Admission {
        let now = self.now_ms();
        let entry = Arc::new(Entry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            last_read: AtomicU64::new(now),
            partial_since: AtomicU64::new(0),
            evicted: AtomicBool::new(false),
            wake: Arc::new(Notify::new()),
        });
        let slot = Slot {
            slots: Arc::clone(self),
            entry: Arc::clone(&entry),
        };
        let mut table = self.lock();
        if table.len() < self.max {
            table.push(entry);
            return Admission::Admitted(slot);
        }
        let Some(victim) = victim(&table, now, STALLED.as_millis() as u64) else {
            drop(table);
            // Dropping `slot` must not find itself in the table.
            return Admission::Full;
        };
        let old = table.swap_remove(victim);
        old.evicted.store(true, Ordering::Relaxed);
        old.wake.notify_one();
        table.push(entry);
        Admission::Evicted(slot)
    }
}

/// The index of the connection to evict: the oldest message in progress
/// begun at least `stalled` ms ago, else the longest silence of at least
/// `stalled` ms.
fn victim(table: &[Arc<Entry>], now: u64, stalled: u64) -> Option<usize> {
    let mut partial: Option<(usize, u64)> = None;
    let mut idle: Option<(usize, u64)> = None;
    for (i, e) in table.iter().enumerate() {
        let since = e.partial_since.load(Ordering::Relaxed);
        if since > 0 {
            let since = since - 1;
            if now.saturating_sub(since) >= stalled && partial.is_none_or(|(_, s)| since < s) {
                partial = Some((i, since));
            }
        } else {
            let last = e.last_read.load(Ordering::Relaxed);
            if now.saturating_sub(last) >= stalled && idle.is_none_or(|(_, l)| last < l) {
                idle = Some((i, last));
            }
        }
    }
    partial.or(idle).map(|(i, _)| i)
}

impl Slot {
    /// Runs one read of the connection, unless the slot is evicted or a
    /// deadline passes first. Bytes read count as progress; call
    /// [`between_messages`](Self::between_messages) once they are framed.
    /// `read` must be cancel safe.
    pub async fn read<F>(&self, read: F) -> Result<io::Result<usize>, Ended>
    where
        F: Future<Output = io::Result<usize>>,
    {
        let e = &self.entry;
        let deadline = self.deadline();
        let r = tokio::select! {
            biased;
            _ = e.wake.notified(), if !e.evicted.load(Ordering::Relaxed) => {
                return Err(Ended::Evicted)
            }
            _ = std::future::ready(()), if e.evicted.load(Ordering::Relaxed) => {
                return Err(Ended::Evicted)
            }
            _ = sleep_until(deadline) => return Err(self.expired()),
            r = read => r,
        };
        if matches!(r, Ok(n) if n > 0) {
            self.progress();
        }
        Ok(r)
    }

    /// Bytes arrived: the connection is not idle, and bytes after a
    /// boundary begin a message.
    fn progress(&self) {
        let e = &self.entry;
        let now = self.slots.now_ms();
        e.last_read.store(now, Ordering::Relaxed);
        let _ = e
            .partial_since
            .compare_exchange(0, now + 1, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Resolves when the slot ends the connection (evicted, or a deadline
    /// passed): for waits that read nothing.
    pub async fn ended(&self) -> Ended {
        match self.read(std::future::pending()).await {
            Err(e) => e,
            Ok(_) => unreachable!("a pending read never completes"),
        }
    }

    /// Says whether everything read so far forms whole messages (nothing
    /// in progress).
    pub fn between_messages(&self, yes: bool) {
        if yes {
            self.entry.partial_since.store(0, Ordering::Relaxed);
        }
    }

    /// When this connection's next timeout falls, if any.
    fn deadline(&self) -> Option<Instant> {
        let e = &self.entry;
        let t = self.slots.timeouts;
        let at = |ms: u64, d: Duration| self.slots.epoch + Duration::from_millis(ms) + d;
        match e.partial_since.load(Ordering::Relaxed) {
            0 if t.idle.is_zero() => None,
            0 => Some(at(e.last_read.load(Ordering::Relaxed), t.idle)),
            since => Some(at(since - 1, t.message)),
        }
    }

    /// Which deadline passed.
    fn expired(&self) -> Ended {
        if self.entry.partial_since.load(Ordering::Relaxed) > 0 {
            Ended::Message
        } else {
            Ended::Idle
        }
    }
}

/// A stream read through its [`Slot`], for protocol stacks that drive the
/// reads themselves (hyper): every read counts as progress, and a read
/// fails with [`io::ErrorKind::TimedOut`] (or `ConnectionAborted` when
/// evicted) once the slot ends, which makes the stack close the
/// connection. The owner marks message boundaries through [`SlotIo::slot`].
#[derive(Debug)]
pub struct SlotIo<T> {
    inner: T,
    slot: Arc<Slot>,
    timer: Pin<Box<tokio::time::Sleep>>,
    /// Resolves when the slot is evicted.
    evicted: Pin<Box<tokio::sync::futures::OwnedNotified>>,
}

impl<T> SlotIo<T> {
    /// Wraps `inner`, read on behalf of `slot`.
    pub fn new(inner: T, slot: Slot) -> SlotIo<T> {
        let timer = Box::pin(tokio::time::sleep_until(far_future()));
        let evicted = Box::pin(Arc::clone(&slot.entry.wake).notified_owned());
        SlotIo {
            inner,
            slot: Arc::new(slot),
            timer,
            evicted,
        }
    }

    /// The slot, to mark message boundaries with.
    pub fn slot(&self) -> Arc<Slot> {
        Arc::clone(&self.slot)
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

impl<T: AsyncRead + Unpin> AsyncRead for SlotIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let e = &this.slot.entry;
        if e.evicted.load(Ordering::Relaxed) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                Ended::Evicted,
            )));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.slot.progress();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                // Waiting for the client: wake at the next deadline (and
                // on eviction, which wakes the task through `wake`).
                let deadline = this.slot.deadline().unwrap_or_else(far_future);
                this.timer.as_mut().reset(deadline);
                if this.timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        this.slot.expired(),
                    )));
                }
                if this.evicted.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        Ended::Evicted,
                    )));
                }
                Poll::Pending
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for SlotIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let id = self.entry.id;
        let mut table = self.slots.lock();
        if let Some(i) = table.iter().position(|e| e.id == id) {
            table.swap_remove(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeouts() -> Timeouts {
        Timeouts {
            idle: Duration::from_secs(60),
            message: Duration::from_secs(10),
        }
    }

    async fn one_byte() -> io::Result<usize> {
        Ok(1)
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_listener_evicts_the_stalest_message_then_the_longest_silence() {
        let slots = Slots::new(3, timeouts());
        let take = |a: Admission| match a {
            Admission::Admitted(s) | Admission::Evicted(s) => s,
            Admission::Full => panic!("full"),
        };
        let quiet = take(slots.admit());
        let trickler = take(slots.admit());
        let busy = take(slots.admit());
        // The trickler begins a message and never ends it.
        trickler.read(one_byte()).await.unwrap().unwrap();
        tokio::time::advance(Duration::from_millis(500)).await;
        // Nobody has stalled for a second yet: the newcomer is refused.
        assert!(matches!(slots.admit(), Admission::Full));
        assert_eq!(slots.len(), 3);
        tokio::time::advance(Duration::from_secs(1)).await;
        busy.read(one_byte()).await.unwrap().unwrap();
        busy.between_messages(true);
        let a = take(slots.admit());
        // The trickler's message is the stalest: it goes, not the quiet one.
        assert_eq!(trickler.read(one_byte()).await.unwrap_err(), Ended::Evicted);
        assert!(quiet.read(std::future::ready(Ok(0))).await.is_ok());
        drop(trickler);
        assert_eq!(slots.len(), 3);
        // Next the longest silence: `quiet` (the newcomer `a` only just
        // arrived, `busy` just sent a whole message).
        tokio::time::advance(Duration::from_millis(1500)).await;
        busy.read(one_byte()).await.unwrap().unwrap();
        busy.between_messages(true);
        let _b = take(slots.admit());
        assert_eq!(
            quiet.read(std::future::pending()).await.unwrap_err(),
            Ended::Evicted
        );
        drop((a, busy));
    }

    #[tokio::test(start_paused = true)]
    async fn messages_and_silences_time_out() {
        let slots = Slots::new(2, timeouts());
        let Admission::Admitted(s) = slots.admit() else {
            panic!()
        };
        s.read(one_byte()).await.unwrap().unwrap();
        // A message begun must end within 10 s, however bytes trickle in.
        let mut last = Instant::now();
        for _ in 0..4 {
            tokio::time::advance(Duration::from_secs(2)).await;
            s.read(one_byte()).await.unwrap().unwrap();
            last = Instant::now();
        }
        let e = s.read(std::future::pending()).await.unwrap_err();
        assert_eq!(e, Ended::Message);
        s.between_messages(true);
        assert_eq!(
            s.read(std::future::pending()).await.unwrap_err(),
            Ended::Idle
        );
        // Idle counts from the last byte.
        assert_eq!(Instant::now() - last, Duration::from_secs(60));
        // Zero: no idle timeout.
        let slots = Slots::new(
            1,
            Timeouts {
                idle: Duration::ZERO,
                ..timeouts()
            },
        );
        let Admission::Admitted(s) = slots.admit() else {
            panic!()
        };
        let r = tokio::time::timeout(Duration::from_secs(3600), s.read(std::future::pending()));
        assert!(r.await.is_err(), "an idle connection was closed");
    }
}
