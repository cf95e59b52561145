//! P6's binder baseline: the writer serves the bench-only IWakeRegistrar
//! over RPC on a Unix socket, a listener process registers its
//! IWakeListener there, and every change is one oneway `changed` call back
//! to it, sent over the listener's incoming (callback) connection. The
//! listener timestamps each call's arrival; the writer put its own
//! timestamp in the call.

use std::io::Write;
use std::path::Path;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use rsbinder::entry::uri::{WireProfile, WireVersion};
use rsbinder::{Client, Endpoint, Interface, Strong, Uri};

use crate::aidl::vendor::enea::buffer::bench::IWakeListener::{BnWakeListener, IWakeListener};
use crate::aidl::vendor::enea::buffer::bench::IWakeRegistrar::{BnWakeRegistrar, IWakeRegistrar};
use crate::clients::{emit, Res};
use crate::measure::monotonic_ns;
use crate::procs::Peer;
use crate::proto::Callbacks;

/// Name the writer publishes its registrar under.
pub const REGISTRAR_SERVICE: &str = "vendor.enea.buffer.bench.IWakeRegistrar/default";

/// How long the writer lets the waiter settle before each timed change, so
/// that every path's wake-up is measured from sleep (futex and binder alike).
pub const SETTLE: Duration = Duration::from_millis(2);

/// How long anything here waits for the other side.
const TIMEOUT: Duration = Duration::from_secs(30);

fn wire(socket: &Path) -> Uri {
    Uri::new(Endpoint::unix(socket)).with_wire(WireProfile::Android13Plus(WireVersion::MAX))
}

/// A slot that is filled once and waited for.
struct Slot<T> {
    value: Mutex<Option<T>>,
    filled: Condvar,
}

impl<T> Slot<T> {
    fn new() -> Self {
        Self {
            value: Mutex::new(None),
            filled: Condvar::new(),
        }
    }
}

/// The writer's registrar: keeps the last listener registered.
struct Registrar(std::sync::Arc<Slot<Strong<dyn IWakeListener>>>);

impl Interface for Registrar {}

impl IWakeRegistrar for Registrar {
    fn r#register(&self, listener: &Strong<dyn IWakeListener>) -> rsbinder::BinderResult<()> {
        let mut slot = self.0.value.lock().unwrap_or_else(|e| e.into_inner());
        *slot = Some(listener.clone());
        self.0.filled.notify_all();
        Ok(())
    }
}

/// P6, binder: serves the registrar on `socket`, starts the listener
/// process, and once it registered, calls it back `rounds` times (value
/// 1, 2, …), [`SETTLE`] apart. Returns each call's writer → listener latency.
pub fn callback_latencies(socket: &Path, rounds: u32) -> Result<Vec<f64>, String> {
    let _ = std::fs::remove_file(socket);
    let slot = std::sync::Arc::new(Slot::new());
    let registrar = BnWakeRegistrar::new_binder(Registrar(slot.clone()));
    let guard = rsbinder::serve(wire(socket))
        .and_then(|s| s.add(REGISTRAR_SERVICE, registrar.as_binder()))
        .and_then(|s| s.spawn())
        .map_err(|s| format!("cannot serve on {}: {s:?}", socket.display()))?;
    let result = call_back(socket, rounds, &slot);
    guard.stop_and_join();
    result
}

fn call_back(
    socket: &Path,
    rounds: u32,
    slot: &Slot<Strong<dyn IWakeListener>>,
) -> Result<Vec<f64>, String> {
    let mut peer = Peer::spawn(&[
        "wake-listener".into(),
        "--socket".into(),
        socket.display().to_string(),
        "--rounds".into(),
        rounds.to_string(),
    ])?;
    peer.ready()?;
    let listener = {
        let deadline = Instant::now() + TIMEOUT;
        let mut value = slot.value.lock().unwrap_or_else(|e| e.into_inner());
        while value.is_none() && Instant::now() < deadline {
            value = slot
                .filled
                .wait_timeout(value, Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        value.take().ok_or("the listener never registered")?
    };
    for round in 0..rounds {
        std::thread::sleep(SETTLE);
        let value = i32::try_from(round + 1).map_err(|e| e.to_string())?;
        listener
            .r#changed(value, monotonic_ns() as i64)
            .map_err(|e| format!("changed({value}): {e}"))?;
    }
    let calls: Callbacks = peer.result()?;
    drop(listener);
    let expected: Vec<i32> = (1..=rounds as i32).collect();
    if calls.values != expected {
        return Err(format!(
            "P6: the listener saw {:?}, not 1..={rounds} in order",
            calls.values
        ));
    }
    Ok(calls
        .sent_ns
        .iter()
        .zip(&calls.seen_ns)
        .map(|(a, b)| b.saturating_sub(*a) as f64 / 1e9)
        .collect())
}

/// What the listener saw, in arrival order: (value, sent ns, arrival ns).
type Seen = Vec<(i32, u64, u64)>;

/// The listener's callback: timestamps each arrival first.
struct Listener(std::sync::Arc<Slot<Seen>>);

impl Interface for Listener {}

impl IWakeListener for Listener {
    fn r#changed(&self, value: i32, sent_nanos: i64) -> rsbinder::BinderResult<()> {
        let seen = monotonic_ns();
        let mut calls = self.0.value.lock().unwrap_or_else(|e| e.into_inner());
        calls
            .get_or_insert_with(Vec::new)
            .push((value, sent_nanos as u64, seen));
        self.0.filled.notify_all();
        Ok(())
    }
}

/// P6's listener process: registers with the registrar on `socket` over an
/// RPC session with one incoming connection, prints `ready`, and once it
/// has been called back `rounds` times prints what it saw.
pub fn listen(socket: &Path, rounds: u32) -> Res<()> {
    let client = Client::open_with(wire(socket), |o, _| {
        o.incoming_connections = Some(1);
        o.timeout = Some(TIMEOUT);
    })
    .map_err(|s| format!("cannot connect to {}: {s:?}", socket.display()))?;
    let result = register_and_wait(&client, rounds);
    if let Some(session) = client.session() {
        session.close_session();
    }
    let seen = result?;
    emit(&Callbacks {
        values: seen.iter().map(|c| c.0).collect(),
        sent_ns: seen.iter().map(|c| c.1).collect(),
        seen_ns: seen.iter().map(|c| c.2).collect(),
    })
}

fn register_and_wait(client: &Client, rounds: u32) -> Res<Seen> {
    let registrar = client
        .try_get::<dyn IWakeRegistrar>(REGISTRAR_SERVICE)
        .map_err(|s| format!("look-up of {REGISTRAR_SERVICE} failed: {s:?}"))?
        .ok_or_else(|| format!("{REGISTRAR_SERVICE} is not served"))?;
    let slot = std::sync::Arc::new(Slot::new());
    let listener = BnWakeListener::new_binder(Listener(slot.clone()));
    registrar
        .r#register(&listener)
        .map_err(|s| format!("register: {s}"))?;
    println!("ready");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let deadline = Instant::now() + TIMEOUT;
    let mut calls = slot.value.lock().unwrap_or_else(|e| e.into_inner());
    while calls.as_ref().map_or(0, Vec::len) < rounds as usize {
        if Instant::now() > deadline {
            return Err(format!(
                "called back {} times of {rounds} within {TIMEOUT:?}",
                calls.as_ref().map_or(0, Vec::len)
            ));
        }
        calls = slot
            .filled
            .wait_timeout(calls, Duration::from_millis(100))
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
    Ok(calls.take().unwrap_or_default())
}
