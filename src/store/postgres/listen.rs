//! The change feed of a [`super::PostgresStore`]: `LISTEN` on a connection of its own.

use std::sync::Weak;
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, Config};

use super::{connect, text, Inner, CHANNEL, PING_EVERY};
use crate::store::Cache;

/// Follows the database's change notifications on a connection of its own. While it is
/// connected the cache is trusted and emptied on every notification; while it is not,
/// the cache is off (every look-up asks the database). Reconnects by itself; ends with
/// the last clone of the store.
pub(super) fn listen(inner: &Weak<Inner>, config: &Config, cache: &Cache, name: &str) {
    let mut backoff = Duration::from_millis(100);
    let mut was_up = true;
    loop {
        if inner.strong_count() == 0 {
            return;
        }
        let mut client = match connect(config).and_then(|mut c| {
            c.batch_execute(&format!("LISTEN {CHANNEL}"))?;
            Ok(c)
        }) {
            Ok(c) => c,
            Err(e) => {
                if was_up {
                    zlog!(
                        Error,
                        "{name}: change feed down, answers are not cached until it is back: {}",
                        text(&e)
                    );
                    was_up = false;
                }
                cache.set_trusted(false);
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        if !was_up {
            zlog!(Warn, "{name}: change feed back");
        }
        backoff = Duration::from_millis(100);
        // Anything cached before may be stale.
        cache.set_trusted(true);
        let outcome = follow(inner, &mut client, cache);
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

/// Empties the cache on each notification until the connection fails (`Err`) or the
/// store is dropped (`Ok`).
fn follow(
    inner: &Weak<Inner>,
    client: &mut Client,
    cache: &Cache,
) -> std::result::Result<(), String> {
    loop {
        if inner.strong_count() == 0 {
            return Ok(());
        }
        {
            let mut notes = client.notifications();
            let mut it = notes.timeout_iter(PING_EVERY);
            loop {
                match it.next() {
                    // Drop at once; later notifications of a burst drop again.
                    Ok(Some(_)) => cache.invalidate(),
                    Ok(None) => break,
                    Err(e) => return Err(e.to_string()),
                }
            }
        }
        // A quiet interval: make sure the connection is still there.
        client.simple_query("SELECT 1").map_err(|e| e.to_string())?;
    }
}
