//! The change feed of a [`super::PostgresStore`]: `LISTEN` on a connection of its own,
//! which must prove it is live (DESIGN.md §5 rule 10).
//!
//! Every [`BEAT_EVERY`], a second connection sends a `NOTIFY` on a channel only this
//! store listens on. Notifications are delivered in commit order, so a heartbeat sent
//! at `t` that comes back proves every change committed before `t` was seen: the cache
//! is trusted until `t +` [`PROOF_VALID`], and no longer. A feed that goes silent (a
//! partition, a frozen pooler) therefore turns the cache off within about a second, even
//! if this thread is stuck; a feed that never delivers (PgBouncer in transaction
//! pooling, where a notification goes to whichever client holds the server connection)
//! never proves anything, and [`super::PostgresStore::connect`] refuses it.

use std::collections::hash_map::RandomState;
use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::sync::Weak;
use std::time::{Duration, Instant};

use std::future::Future;
use std::task::Poll;

use crossbeam_channel::Sender;
use tokio::runtime::Runtime;
use tokio_postgres::tls::NoTlsStream;
use tokio_postgres::{AsyncMessage, Connection, NoTls, Notification, Socket};

use super::lookup::LookupConn;
use super::{text, Inner, CHANNEL};
use crate::store::Cache;

/// How often the feed sends itself a heartbeat.
pub(super) const BEAT_EVERY: Duration = Duration::from_millis(250);
/// How long a heartbeat keeps the cache trusted after it was sent.
pub(super) const PROOF_VALID: Duration = Duration::from_secs(1);
/// The client-side deadline of sending a heartbeat.
const BEAT_DEADLINE: Duration = Duration::from_millis(500);
/// The client-side deadline of opening the heartbeat's connection.
const CONNECT_DEADLINE: Duration = Duration::from_secs(2);
/// A feed without a heartbeat for this long is dropped and opened again.
const RECONNECT_AFTER: Duration = Duration::from_secs(3);

/// A channel name no other store uses: `zmq_auth_beat_` and 16 hex digits.
pub(super) fn beat_channel() -> String {
    let n = RandomState::new().hash_one((std::process::id(), Instant::now()));
    format!("zmq_auth_beat_{n:016x}")
}

/// Follows the database's change notifications. While heartbeats come back the cache is
/// trusted (and emptied on every change); when they stop it is not (every look-up asks
/// the database). Reconnects by itself; ends with the last clone of the store. The first
/// heartbeat (or the first failure) is reported on `ready`.
pub(super) fn listen(
    inner: &Weak<Inner>,
    beat_config: &tokio_postgres::Config,
    cache: &Cache,
    name: &str,
    ready: &Sender<()>,
) {
    let beat_channel = beat_channel();
    let mut backoff = Duration::from_millis(100);
    let mut was_up = true;
    loop {
        if inner.strong_count() == 0 {
            return;
        }
        let opened = FeedConn::open(beat_config, &beat_channel)
            .and_then(|feed| Ok((feed, LookupConn::open(beat_config, CONNECT_DEADLINE)?)));
        let (mut feed, mut beat) = match opened {
            Ok(c) => c,
            Err(e) => {
                if was_up {
                    zlog!(
                        Error,
                        "{name}: change feed down, answers are not cached until it is back: {e}"
                    );
                    was_up = false;
                }
                cache.set_trusted(false);
                std::thread::sleep(backoff);
                backoff = backoff.saturating_mul(2).min(Duration::from_secs(1));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        let mut feed_state = Feed {
            channel: &beat_channel,
            sent: VecDeque::new(),
            seq: 0,
            was_up: &mut was_up,
            name,
            ready,
        };
        let outcome = feed_state.follow(inner, &mut feed, &mut beat, cache);
        cache.set_trusted(false);
        match outcome {
            Ok(()) => return, // the store was dropped
            Err(e) => {
                zlog!(
                    Error,
                    "{name}: change feed lost, answers are not cached until it is back: {e}"
                );
                was_up = false;
            }
        }
    }
}

struct Feed<'a> {
    channel: &'a str,
    /// Heartbeats sent and not yet seen: (sequence number, when).
    sent: VecDeque<(u64, Instant)>,
    seq: u64,
    was_up: &'a mut bool,
    name: &'a str,
    ready: &'a Sender<()>,
}

impl Feed<'_> {
    /// Sends heartbeats and follows notifications until the connection fails or goes
    /// silent (`Err`) or the store is dropped (`Ok`).
    fn follow(
        &mut self,
        inner: &Weak<Inner>,
        feed: &mut FeedConn,
        beat: &mut LookupConn,
        cache: &Cache,
    ) -> std::result::Result<(), String> {
        let mut next_beat = Instant::now();
        let mut last_proof = Instant::now();
        let mut trusted = false;
        loop {
            if inner.strong_count() == 0 {
                return Ok(());
            }
            let now = Instant::now();
            if now >= next_beat {
                self.beat(beat)?;
                next_beat = now.checked_add(BEAT_EVERY).unwrap_or(now);
            }
            let wait = next_beat
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(5));
            for n in feed.wait(wait)? {
                if n.channel() == self.channel {
                    let Some(sent_at) = self.seen(n.payload()) else {
                        continue;
                    };
                    if !*self.was_up {
                        zlog!(Warn, "{}: change feed back", self.name);
                        *self.was_up = true;
                    }
                    cache.prove_live(sent_at, PROOF_VALID);
                    last_proof = Instant::now();
                    trusted = true;
                    let _ = self.ready.try_send(());
                } else {
                    // A change: drop at once; later notifications of a burst drop again.
                    cache.invalidate();
                }
            }
            if trusted && !cache.is_trusted() {
                zlog!(
                    Error,
                    "{}: change feed silent for {PROOF_VALID:?}, answers are not cached until it proves it is live",
                    self.name
                );
                trusted = false;
            }
            if last_proof.elapsed() > RECONNECT_AFTER {
                return Err(format!("no heartbeat came back within {RECONNECT_AFTER:?}"));
            }
        }
    }

    fn beat(&mut self, beat: &mut LookupConn) -> std::result::Result<(), String> {
        self.seq = self.seq.wrapping_add(1);
        let payload = self.seq.to_string();
        let channel = self.channel;
        beat.call_with(BEAT_DEADLINE, &async |c: &mut tokio_postgres::Client| {
            c.execute("SELECT pg_notify($1, $2)", &[&channel, &payload])
                .await
        })
        .map_err(|f| f.text())?;
        self.sent.push_back((self.seq, Instant::now()));
        // Beats that never came back are forgotten after a while.
        while self.sent.len() > 64 {
            self.sent.pop_front();
        }
        Ok(())
    }

    /// When the heartbeat with this payload was sent; earlier ones are forgotten.
    fn seen(&mut self, payload: &str) -> Option<Instant> {
        let seq: u64 = payload.parse().ok()?;
        while let Some(&(s, at)) = self.sent.front() {
            self.sent.pop_front();
            if s == seq {
                return Some(at);
            }
        }
        None
    }
}

/// The `LISTEN` connection: driven by this thread only while it waits, every step under
/// a client-side deadline.
struct FeedConn {
    client: tokio_postgres::Client,
    conn: Connection<Socket, NoTlsStream>,
    rt: Runtime,
}

impl FeedConn {
    fn open(config: &tokio_postgres::Config, beat_channel: &str) -> Result<FeedConn, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("runtime: {e}"))?;
        let (client, conn) = rt
            .block_on(async { tokio::time::timeout(CONNECT_DEADLINE, config.connect(NoTls)).await })
            .map_err(|_| format!("no connection within {CONNECT_DEADLINE:?}"))?
            .map_err(|e| text(&e))?;
        let mut feed = FeedConn { client, conn, rt };
        let listen = format!("LISTEN {CHANNEL}; LISTEN {beat_channel}");
        let FeedConn { client, conn, rt } = &mut feed;
        let mut early = Vec::new();
        rt.block_on(async {
            tokio::time::timeout(
                CONNECT_DEADLINE,
                drive(conn, client.batch_execute(&listen), &mut early),
            )
            .await
        })
        .map_err(|_| format!("LISTEN not answered within {CONNECT_DEADLINE:?}"))??
        .ok_or("a notification before LISTEN was answered")?
        .map_err(|e| text(&e))?;
        Ok(feed)
    }

    /// The notifications that arrive within `wait` (returns at the first ones).
    fn wait(&mut self, wait: Duration) -> Result<Vec<Notification>, String> {
        let FeedConn { conn, rt, .. } = self;
        let mut notes = Vec::new();
        let got = rt.block_on(async {
            tokio::time::timeout(wait, drive(conn, std::future::pending::<()>(), &mut notes)).await
        });
        match got {
            Ok(Err(e)) => Err(e),
            _ => Ok(notes),
        }
    }
}

/// Polls `fut` while driving the connection; notifications are collected in `notes`, and
/// the first ones end the wait (`None`: `fut` did not finish).
async fn drive<T>(
    conn: &mut Connection<Socket, NoTlsStream>,
    fut: impl Future<Output = T>,
    notes: &mut Vec<Notification>,
) -> Result<Option<T>, String> {
    let mut fut = std::pin::pin!(fut);
    let mut done = None;
    std::future::poll_fn(|cx| {
        loop {
            match conn.poll_message(cx) {
                Poll::Ready(Some(Ok(AsyncMessage::Notification(n)))) => notes.push(n),
                Poll::Ready(Some(Ok(_))) => {}
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(text(&e))),
                Poll::Ready(None) => return Poll::Ready(Err("connection closed".to_string())),
                Poll::Pending => break,
            }
        }
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            done = Some(v);
            return Poll::Ready(Ok(()));
        }
        if notes.is_empty() {
            Poll::Pending
        } else {
            Poll::Ready(Ok(()))
        }
    })
    .await?;
    Ok(done)
}
