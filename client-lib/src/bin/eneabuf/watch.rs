//! `eneabuf watch`: report each change of word 0, following the service
//! across restarts (a restarted daemon serves a new region).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use enea_buffer_client::{
    ConnectOptions, Connection, DeathWatch, Error, ReadOnlyBuffer, SharedBuffer, WaitOptions,
};

use crate::stop::Stop;

/// What `watch` was asked for.
pub struct Watch {
    /// How often to look when polling.
    pub interval: Duration,
    /// Poll the read-only view only.
    pub read_only: bool,
    /// How long to poll word 0 before sleeping until each change.
    pub spin: Duration,
    /// Stop after this many changes.
    pub changes: Option<u64>,
    /// Reconnect when the service dies (else exit with an error).
    pub follow: bool,
}

/// The longest pause between two reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// How word 0 of one region is read and waited on.
enum View {
    /// Woken by writers through the futex word.
    Notified(SharedBuffer),
    /// Looked at every `interval`.
    Polled(ReadOnlyBuffer, Duration),
}

impl View {
    fn load(&self) -> Result<u32, Error> {
        match self {
            View::Notified(b) => b.load_u32(0),
            View::Polled(b, _) => b.load_u32(0),
        }
    }

    /// The new value if word 0 moved off `last` within one bounded wait, so
    /// that the caller looks at the death flag at least that often; the
    /// wait first polls the word for up to `spin` of it.
    fn wait_change(&self, last: u32, spin: Duration) -> Result<Option<u32>, Error> {
        let bound = SharedBuffer::WAIT_RECHECK;
        match self {
            View::Notified(b) => {
                let options = WaitOptions::default().with_spin(spin);
                b.wait_u32_change_with(0, last, Some(bound), &options)
            }
            View::Polled(b, interval) => {
                let start = Instant::now();
                loop {
                    let now = b.load_u32(0)?;
                    if now != last {
                        return Ok(Some(now));
                    }
                    if start.elapsed() >= spin.min(bound) {
                        break;
                    }
                    std::hint::spin_loop();
                }
                if spin > bound {
                    // Spin left: the caller comes back after a look at the death flag.
                    return Ok(None);
                }
                std::thread::sleep(*interval);
                let now = b.load_u32(0)?;
                Ok((now != last).then_some(now))
            }
        }
    }

    fn identity(&self) -> Result<enea_buffer_client::FileIdentity, Error> {
        match self {
            View::Notified(b) => b.identity(),
            View::Polled(b, _) => b.identity(),
        }
    }
}

/// One connection to the service with its mapping and its death flag.
struct Session {
    conn: Connection,
    view: View,
    died: Arc<AtomicBool>,
    _death: DeathWatch,
}

impl Session {
    /// Connects, maps and links to the service's death; `say_why` prints
    /// why the region is polled (once per run, not per restart).
    fn open(options: &ConnectOptions, args: &Watch, say_why: bool) -> Result<Session, Error> {
        let conn = Connection::connect(options)?;
        let died = Arc::new(AtomicBool::new(false));
        let flag = died.clone();
        let death = conn.link_to_death(move || flag.store(true, Ordering::SeqCst))?;
        let view = view(&conn, args, say_why)?;
        Ok(Session {
            conn,
            view,
            died,
            _death: death,
        })
    }

    fn died(&self) -> bool {
        self.died.load(Ordering::SeqCst)
    }
}

/// The change-notified view where the service and the caller's rights
/// allow it, else the polled read-only one.
fn view(conn: &Connection, args: &Watch, say_why: bool) -> Result<View, Error> {
    let why_poll = if conn.interface_version() < 2 {
        format!(
            "the service (interface version {}) has no change notification",
            conn.interface_version()
        )
    } else if args.read_only {
        "--read-only: change notification needs the read-write view".to_owned()
    } else {
        match conn.map() {
            Ok(buffer) if buffer.has_layout() => return Ok(View::Notified(buffer)),
            Ok(_) => "the region is too small for the waiter word".to_owned(),
            // Refused (policy or SELinux): a reader may still poll.
            Err(e @ (Error::Call { .. } | Error::Refused { .. })) => {
                format!("change notification needs the read-write view ({e})")
            }
            Err(e) => return Err(e),
        }
    };
    if say_why {
        say!("eneabuf: {why_poll}; polling every {:?}", args.interval);
    }
    Ok(View::Polled(conn.map_read_only()?, args.interval))
}

/// Whether a failed reconnection may succeed later: the daemon is not
/// (yet) back, or a call of the attempt failed (the daemon died, or was
/// stopped or too busy to answer within the timeout). Refusals and broken
/// regions are reported instead.
fn worth_retrying(e: &Error) -> bool {
    matches!(
        e,
        Error::NoDaemon { .. }
            | Error::ServiceGone(_)
            | Error::Unresponsive { .. }
            | Error::NoTransport { .. }
            | Error::Call { .. }
    )
}

/// Connects again until the service is back, each attempt bounded by the
/// options' timeout, pausing longer between attempts up to [`MAX_BACKOFF`].
/// A failed call is said once per distinct error: unlike an absent daemon,
/// it may also be a service that never answers.
fn reopen(options: &ConnectOptions, args: &Watch) -> Result<Session, Error> {
    let mut pause = Duration::from_millis(50);
    let mut said = String::new();
    loop {
        match Session::open(options, args, false) {
            Ok(session) => return Ok(session),
            Err(e) if worth_retrying(&e) => {
                if let Error::Call { .. } = e {
                    let text = e.to_string();
                    if text != said {
                        say!("eneabuf: reconnecting failed ({text}); trying again");
                        said = text;
                    }
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(MAX_BACKOFF);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Prints word 0, then each change of it, until `args.changes` changes
/// were seen (or forever).
pub fn run(options: &ConnectOptions, args: &Watch, out: &mut impl Write) -> Result<(), Stop> {
    let options = ConnectOptions {
        death_notifications: true,
        ..options.clone()
    };
    let mut session = Session::open(&options, args, true)?;
    let mut last = session.view.load()?;
    writeln!(out, "{last:#010x}")?;
    let mut seen = 0;
    // The spin is per change, across the bounded waits that look for it.
    let mut spin_left = args.spin;
    while args.changes.map_or(true, |n| seen < n) {
        if session.died() {
            let endpoint = session.conn.endpoint().to_owned();
            if !args.follow {
                return Err(Stop::Message(format!(
                    "the service died; its region at {endpoint} is no longer served \
                     (--no-follow): run watch again once the service is back, or leave \
                     out --no-follow to follow it across restarts"
                )));
            }
            say!("eneabuf: the service at {endpoint} died; waiting for it to come back");
            session = reopen(&options, args)?;
            let id = session.view.identity()?;
            say!(
                "eneabuf: the service restarted; watching its new region (dev {:#x}, inode {})",
                id.dev,
                id.ino
            );
            let now = session.view.load()?;
            writeln!(out, "{now:#010x}")?;
            if now != last {
                seen += 1;
            }
            last = now;
            spin_left = args.spin;
            continue;
        }
        let start = Instant::now();
        let changed = session.view.wait_change(last, spin_left)?;
        spin_left = spin_left.saturating_sub(start.elapsed());
        if let Some(now) = changed {
            writeln!(out, "{now:#010x}")?;
            last = now;
            seen += 1;
            spin_left = args.spin;
        }
    }
    Ok(())
}
