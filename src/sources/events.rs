//! File events from the OS, through `notify`: which paths changed, or that some events
//! were lost (the kernel queue overflowed, our own queue filled, or the backend failed),
//! in which case every watched source gets a full pass.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam_channel::{bounded, Receiver, Sender};
use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecursiveMode, Watcher};

/// Notes queued between the OS's event thread and the watcher; beyond this the events
/// are dropped and counted as an overflow (a full pass), so a burst cannot grow memory.
const QUEUE: usize = 4096;

/// What the event thread tells the watcher.
pub(crate) enum Note {
    /// These paths changed (a file in a watched directory, or the directory itself).
    Paths(Vec<PathBuf>),
    /// Look at the overflow flag.
    Lost,
}

/// The event handler's state, shared with the OS's event thread.
struct Intake {
    tx: Sender<Note>,
    lost: AtomicBool,
}

impl Intake {
    fn handle(&self, event: notify::Result<Event>) {
        match event {
            Ok(ev) if ev.need_rescan() => self.overflow(),
            Ok(ev) => {
                // Our own reads (and anybody's) open and close files: not changes.
                if matches!(
                    ev.kind,
                    EventKind::Access(
                        AccessKind::Open(_)
                            | AccessKind::Read
                            | AccessKind::Close(AccessMode::Read | AccessMode::Execute)
                            | AccessKind::Close(AccessMode::Any)
                    )
                ) {
                    return;
                }
                if self.tx.try_send(Note::Paths(ev.paths)).is_err() {
                    self.overflow();
                }
            }
            Err(_) => self.overflow(),
        }
    }

    fn overflow(&self) {
        self.lost.store(true, Ordering::Release);
        // A full queue already holds a wake-up.
        let _ = self.tx.try_send(Note::Lost);
    }
}

/// One event watcher, the directories it watches (counted: several sources may share
/// one) and the queue of what changed.
pub(crate) struct Events {
    watcher: notify::RecommendedWatcher,
    intake: Arc<Intake>,
    rx: Receiver<Note>,
    watched: HashMap<PathBuf, usize>,
    #[cfg(feature = "test-hooks")]
    inject: Arc<dyn Fn() + Send + Sync>,
}

impl Events {
    /// Starts the OS's event machinery (a thread and an inotify instance on Linux).
    pub(crate) fn start() -> Result<Events, String> {
        let (tx, rx) = bounded(QUEUE);
        let intake = Arc::new(Intake {
            tx,
            lost: AtomicBool::new(false),
        });
        let handler = Arc::clone(&intake);
        let watcher = catch_unwind(|| {
            notify::recommended_watcher(move |ev: notify::Result<Event>| handler.handle(ev))
        })
        .map_err(|_| "the event backend panicked".to_string())?
        .map_err(|e| e.to_string())?;
        #[cfg(feature = "test-hooks")]
        let inject: Arc<dyn Fn() + Send + Sync> = {
            let intake = Arc::clone(&intake);
            Arc::new(move || {
                intake.handle(Ok(
                    Event::new(EventKind::Other).set_flag(notify::event::Flag::Rescan)
                ))
            })
        };
        Ok(Events {
            watcher,
            intake,
            rx,
            watched: HashMap::new(),
            #[cfg(feature = "test-hooks")]
            inject,
        })
    }

    /// The queue to wait on.
    pub(crate) fn receiver(&self) -> &Receiver<Note> {
        &self.rx
    }

    /// Were events lost since the last call?
    pub(crate) fn take_lost(&self) -> bool {
        self.intake.lost.swap(false, Ordering::AcqRel)
    }

    /// Watches directory `dir` (absolute; its entries, not below) once more.
    pub(crate) fn watch(&mut self, dir: &Path) -> Result<(), String> {
        if let Some(n) = self.watched.get_mut(dir) {
            *n = n.saturating_add(1);
            return Ok(());
        }
        #[cfg(feature = "test-hooks")]
        if crate::test_hooks::watch_refused(dir) {
            return Err("refused by a test hook".into());
        }
        let watcher = &mut self.watcher;
        match catch_unwind(AssertUnwindSafe(|| {
            watcher.watch(dir, RecursiveMode::NonRecursive)
        })) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("the event backend panicked".into()),
        }
        #[cfg(feature = "test-hooks")]
        crate::test_hooks::register_intake(dir, &self.inject);
        self.watched.insert(dir.to_path_buf(), 1);
        Ok(())
    }

    /// Drops one watch of `dir`; the OS watch goes with the last.
    pub(crate) fn unwatch(&mut self, dir: &Path) {
        let Some(n) = self.watched.get_mut(dir) else {
            return;
        };
        *n = n.saturating_sub(1);
        if *n == 0 {
            self.watched.remove(dir);
            let watcher = &mut self.watcher;
            // Already gone (the directory was deleted) is fine.
            let _ = catch_unwind(AssertUnwindSafe(|| watcher.unwatch(dir)));
        }
    }

    /// Stops the event machinery; a panic in the backend's teardown is not ours to pass
    /// on (the watcher is exiting anyway).
    pub(crate) fn close(self) {
        let _ = catch_unwind(AssertUnwindSafe(move || drop(self)));
    }
}
