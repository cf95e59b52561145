//! P6's binder baseline: the writer serves the bench-only IWakeRegistrar
//! over RPC on a Unix socket, a listener process registers its
//! IWakeListener there, and every change is one oneway `changed` call back
//! to it over the listener's incoming connection. The listener timestamps
//! each arrival; the writer put its own timestamp in the call.

use std::io::Write;
use std::path::Path;
use std::sync::mpsc::{channel, Sender};
use std::sync::Mutex;
use std::time::Duration;

use rsbinder::{Client, Interface, Strong};

use crate::aidl::vendor::enea::buffer::bench::IWakeListener::{BnWakeListener, IWakeListener};
use crate::aidl::vendor::enea::buffer::bench::IWakeRegistrar::{BnWakeRegistrar, IWakeRegistrar};
use crate::measure::monotonic_ns;
use crate::proto::{self, Job};
use crate::server::wire;

/// Name the writer publishes its registrar under.
const REGISTRAR_SERVICE: &str = "vendor.enea.buffer.bench.IWakeRegistrar/default";

/// How long the writer lets the waiter settle before each timed change, so
/// that every path's wake-up is measured from sleep (futex and binder alike).
pub const SETTLE: Duration = Duration::from_millis(2);

/// How long anything here waits for the other side.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Hands whatever a binder thread receives to the thread that waits for it.
struct Forward<T>(Mutex<Sender<T>>);

impl<T> Forward<T> {
    fn send(&self, value: T) {
        let _ = self.0.lock().unwrap_or_else(|e| e.into_inner()).send(value);
    }
}

impl<T: Send + 'static> Interface for Forward<T> {}

impl IWakeRegistrar for Forward<Strong<dyn IWakeListener>> {
    fn r#register(&self, listener: &Strong<dyn IWakeListener>) -> rsbinder::BinderResult<()> {
        self.send(listener.clone());
        Ok(())
    }
}

/// (value, writer's ns, arrival ns) of one callback (CLOCK_MONOTONIC).
pub type Call = (i32, u64, u64);

impl IWakeListener for Forward<Call> {
    fn r#changed(&self, value: i32, sent_nanos: i64) -> rsbinder::BinderResult<()> {
        self.send((value, sent_nanos as u64, monotonic_ns()));
        Ok(())
    }
}

/// P6, binder: serves the registrar on `socket`, starts the listener
/// process, and once it registered, calls it back `rounds` times (value
/// 1, 2, …), [`SETTLE`] apart. Returns each call's writer → listener latency, µs.
pub fn callback_latencies(socket: &Path, rounds: usize) -> Result<Vec<f64>, String> {
    let _ = std::fs::remove_file(socket);
    let (tx, rx) = channel();
    let registrar = BnWakeRegistrar::new_binder(Forward(Mutex::new(tx)));
    let guard = rsbinder::serve(wire(socket))
        .and_then(|s| s.add(REGISTRAR_SERVICE, registrar.as_binder()))
        .and_then(|s| s.spawn())
        .map_err(|s| format!("cannot serve on {}: {s:?}", socket.display()))?;
    let job = Job {
        role: "wake-listener".into(),
        socket: socket.to_path_buf(),
        rounds,
        ..Job::default()
    };
    let result = (|| {
        let mut peer = proto::spawn(&job, &[])?;
        proto::ready(&mut peer)?;
        let listener = rx
            .recv_timeout(TIMEOUT)
            .map_err(|_| "the listener never registered")?;
        for value in 1..=rounds as i32 {
            std::thread::sleep(SETTLE);
            listener
                .r#changed(value, monotonic_ns() as i64)
                .map_err(|e| format!("changed({value}): {e}"))?;
        }
        proto::result::<Vec<Call>>(peer)
    })();
    guard.stop_and_join();
    let calls = result?;
    let values: Vec<i32> = calls.iter().map(|c| c.0).collect();
    if !values.iter().copied().eq(1..=rounds as i32) {
        return Err(format!(
            "P6: the listener saw {values:?}, not 1..={rounds} in order"
        ));
    }
    Ok(calls
        .iter()
        .map(|c| c.2.saturating_sub(c.1) as f64 / 1e3)
        .collect())
}

/// P6's listener process: registers with the registrar on `socket` over an
/// RPC session with one incoming connection, prints `ready`, and returns
/// the `rounds` callbacks it then gets.
pub fn listen(socket: &Path, rounds: usize) -> Result<Vec<Call>, String> {
    let client = Client::open_with(wire(socket), |o, _| {
        o.incoming_connections = Some(1);
        o.timeout = Some(TIMEOUT);
    })
    .map_err(|s| format!("cannot connect to {}: {s:?}", socket.display()))?;
    let result = (|| {
        let registrar = client
            .try_get::<dyn IWakeRegistrar>(REGISTRAR_SERVICE)
            .map_err(|s| format!("look-up of {REGISTRAR_SERVICE} failed: {s:?}"))?
            .ok_or_else(|| format!("{REGISTRAR_SERVICE} is not served"))?;
        let (tx, rx) = channel();
        let listener = BnWakeListener::new_binder(Forward(Mutex::new(tx)));
        registrar
            .r#register(&listener)
            .map_err(|s| format!("register: {s}"))?;
        println!("ready");
        std::io::stdout().flush().map_err(|e| e.to_string())?;
        (0..rounds)
            .map(|i| {
                rx.recv_timeout(TIMEOUT)
                    .map_err(|_| format!("called back {i} times of {rounds}"))
            })
            .collect::<Result<Vec<Call>, String>>()
    })();
    if let Some(session) = client.session() {
        session.close_session();
    }
    result
}
