//! P8: one 64-byte update from a writer process to a busy-waiting reader
//! process, the region against iceoryx2, side by side. Ours: the writer
//! `publish`es a record, the reader spins on the record's sequence word
//! (its own Acquire loads; the library has no spinning wait to call) and
//! takes a `snapshot`. iceoryx2: `send_copy` of a `[u8; 64]`, the
//! subscriber spins on `receive()`. Both put the writer's CLOCK_MONOTONIC
//! time, taken just before the send, in the payload; the reader takes its
//! own once it holds the payload. After each update the reader acknowledges
//! it in a word of the region (untimed), and only then does the writer send
//! the next: every update is seen, exactly once, in order, or the run fails.

use std::hint::spin_loop;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::prelude::*;
use rustix::thread::CpuSet;

use enea_buffer_client::SharedBuffer;

use crate::clients::{connect, ready_then_go, Res};
use crate::measure::{self, median, monotonic_ns, quantile, two_cpus};
use crate::proto::{self, Job, Line};

/// The update's size, bytes.
const PAYLOAD: usize = 64;
type Payload = [u8; PAYLOAD];

/// Byte offsets in the region of our record and of the reader's
/// acknowledgement word (another cache line).
const RECORD_OFFSET: usize = 512;
const ACK_OFFSET: usize = 1024;

/// What the reader acknowledges when it fails, so that the writer stops.
const GAVE_UP: u32 = u32::MAX;

/// How long either side waits for the other before it gives up.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The row's lines: `rounds` updates per block, `blocks` blocks of each
/// system alternating; the first tenth of each block warms up, untimed.
pub fn lines(socket: &std::path::Path, rounds: usize, blocks: usize) -> Result<Vec<Line>, String> {
    let cpus = two_cpus();
    let (writer_cpu, reader_cpu) = (cpus.map(|c| c.0), cpus.map(|c| c.1));
    let tag = format!("enea-p8-{}", std::process::id());
    let job = |role: &str, iox: bool, cpu| Job {
        role: role.into(),
        socket: socket.to_path_buf(),
        rounds,
        cpu,
        iox: iox.then(|| tag.clone()),
        ..Job::default()
    };
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let measured = (|| {
        for _ in 0..blocks {
            for (iox, out) in [(false, &mut ours), (true, &mut theirs)] {
                let mut reader = proto::spawn(&job("p8-reader", iox, reader_cpu), &[])?;
                proto::ready(&mut reader)?;
                reader.send("go");
                proto::run::<usize>(&job("p8-writer", iox, writer_cpu), &[])?;
                let times: Vec<(u64, u64)> = proto::result(reader)?;
                let latency_ns = |(sent, seen): &(u64, u64)| seen.saturating_sub(*sent) as f64;
                out.extend(times.iter().skip(rounds / 10).map(latency_ns));
            }
        }
        Ok::<_, String>(())
    })();
    // Clean up after a failed run too; its own error comes first.
    measured.and(leftovers(&tag))?;
    let pinned = match (writer_cpu, reader_cpu) {
        (Some(w), Some(r)) => format!("writer on CPU {w}, reader on CPU {r}"),
        _ => "not pinned: this process may use one CPU only".to_owned(),
    };
    let what = format!(
        "median of {} updates each, p99 {:.0} vs {:.0} ns; {pinned}",
        ours.len(),
        quantile(&ours, 0.99),
        quantile(&theirs, 0.99),
    );
    Ok(vec![Line::new(
        "P8",
        what,
        median(&ours),
        Some(median(&theirs)),
        "ns",
    )])
}

/// Pins the calling thread to `cpu`, if given.
fn pin(cpu: Option<usize>) -> Res<()> {
    match cpu {
        Some(_) => measure::pin(cpu, &CpuSet::new()),
        None => Ok(()),
    }
}

/// Spins until `done` gives a value; fails after [`TIMEOUT`].
fn spin<T>(what: &str, mut done: impl FnMut() -> Res<Option<T>>) -> Res<T> {
    let start = Instant::now();
    let mut n = 0u32;
    loop {
        if let Some(v) = done()? {
            return Ok(v);
        }
        spin_loop();
        n = n.wrapping_add(1);
        if n % 4096 == 0 && start.elapsed() > TIMEOUT {
            return Err(format!("no {what} within {TIMEOUT:?}"));
        }
    }
}

fn payload(round: u64, sent_ns: u64) -> Payload {
    let mut p = [round as u8; PAYLOAD];
    p[..8].copy_from_slice(&round.to_le_bytes());
    p[8..16].copy_from_slice(&sent_ns.to_le_bytes());
    p
}

/// The round and the writer's time an update carries.
fn parse(p: &Payload) -> (u64, u64) {
    let word = |i: usize| u64::from_le_bytes(p[i..i + 8].try_into().expect("8 bytes"));
    (word(0), word(8))
}

/// Where this run's iceoryx2 files go, apart from everyone else's.
fn root(tag: &str) -> PathBuf {
    std::env::temp_dir().join(tag)
}

/// This run's iceoryx2 node and service (created by whichever side comes first).
fn iox_service(
    tag: &str,
) -> Res<(
    Node<ipc::Service>,
    iceoryx2::service::port_factory::publish_subscribe::PortFactory<ipc::Service, Payload, ()>,
)> {
    let e = |what: &str, x: &dyn std::fmt::Debug| format!("iceoryx2 {what}: {x:?}");
    // A node's drop warns that it could not remove its directory, which
    // still holds its monitor file then; both are gone after (checked).
    set_log_level(LogLevel::Error);
    let mut config = Config::default();
    let dir = format!("{}/", root(tag).display());
    let dir = Path::new(dir.as_bytes()).map_err(|x| e("root path", &x))?;
    config.global.set_root_path(&dir);
    config.global.prefix =
        FileName::new(format!("{tag}_").as_bytes()).map_err(|x| e("prefix", &x))?;
    let node = NodeBuilder::new()
        .config(&config)
        .signal_handling_mode(SignalHandlingMode::Disabled)
        .create::<ipc::Service>()
        .map_err(|x| e("node", &x))?;
    let name = ServiceName::new(&format!("enea/bench/{tag}")).map_err(|x| e("name", &x))?;
    let service = node
        .service_builder(&name)
        .publish_subscribe::<Payload>()
        .open_or_create()
        .map_err(|x| e("service", &x))?;
    Ok((node, service))
}

/// Fails if this run's iceoryx2 left a file in /dev/shm or under its root,
/// besides the node counter it keeps by design (removed here with the
/// root's empty directories).
fn leftovers(tag: &str) -> Res<()> {
    fn files(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => files(&entry.path(), out),
                _ => out.push(entry.path()),
            }
        }
    }
    let mut left = Vec::new();
    files(&root(tag), &mut left);
    let _ = std::fs::remove_dir_all(root(tag));
    for entry in std::fs::read_dir("/dev/shm")
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(tag) && name.ends_with(".global_mgmt") {
            std::fs::remove_file(entry.path()).map_err(|e| format!("{name}: {e}"))?;
        } else if name.starts_with(tag) {
            left.push(entry.path());
        }
    }
    match left.is_empty() {
        true => Ok(()),
        false => Err(format!("P8: iceoryx2 left {left:?} behind")),
    }
}

/// P8's writer process: sends rounds 1 …= `rounds`, each once the reader
/// acknowledged the one before; returns how many it sent.
pub fn write(job: &Job) -> Res<usize> {
    pin(job.cpu)?;
    let conn = connect(&job.socket)?;
    let shm = conn.map().map_err(|e| e.to_string())?;
    let ack = shm.atomic_u32(ACK_OFFSET).map_err(|e| e.to_string())?;
    let iox = match &job.iox {
        Some(tag) => {
            let (node, service) = iox_service(tag)?;
            let publisher: Publisher<ipc::Service, Payload, ()> = service
                .publisher_builder()
                .create()
                .map_err(|e| format!("iceoryx2 publisher: {e:?}"))?;
            Some((node, publisher))
        }
        None => None,
    };
    for round in 1..=job.rounds as u64 {
        let sent_ns = monotonic_ns();
        let update = payload(round, sent_ns);
        match &iox {
            Some((_, publisher)) => match publisher.send_copy(update) {
                Ok(1) => {}
                Ok(n) => return Err(format!("iceoryx2 delivered round {round} to {n} readers")),
                Err(e) => return Err(format!("iceoryx2 send: {e:?}")),
            },
            None => shm
                .publish(RECORD_OFFSET, &update, TIMEOUT)
                .map_err(|e| format!("publish: {e}"))?,
        }
        spin("acknowledgement", || match ack.load(Ordering::Acquire) {
            GAVE_UP => Err("P8: the reader gave up (its error follows)".to_string()),
            a => Ok((u64::from(a) == round).then_some(())),
        })?;
    }
    Ok(job.rounds)
}

/// P8's reader process: prints `ready`, and from the suite's `go` on
/// busy-waits for rounds 1 …= `rounds` in order; returns (writer's ns,
/// reader's ns) of each.
pub fn read(job: &Job) -> Res<Vec<(u64, u64)>> {
    pin(job.cpu)?;
    let conn = connect(&job.socket)?;
    let shm = conn.map().map_err(|e| e.to_string())?;
    let ack = shm.atomic_u32(ACK_OFFSET).map_err(|e| e.to_string())?;
    ack.store(0, Ordering::Release);
    receive(job, &shm, ack).inspect_err(|_| ack.store(GAVE_UP, Ordering::Release))
}

/// The reader's work after the acknowledgement word is set up.
fn receive(job: &Job, shm: &SharedBuffer, ack: &AtomicU32) -> Res<Vec<(u64, u64)>> {
    let iox = match &job.iox {
        Some(tag) => {
            let (node, service) = iox_service(tag)?;
            let subscriber: Subscriber<ipc::Service, Payload, ()> = service
                .subscriber_builder()
                .create()
                .map_err(|e| format!("iceoryx2 subscriber: {e:?}"))?;
            Some((node, subscriber))
        }
        None => None,
    };
    let seq = shm.atomic_u32(RECORD_OFFSET).map_err(|e| e.to_string())?;
    let mut last = seq.load(Ordering::Acquire);
    ready_then_go()?;
    let mut times = Vec::with_capacity(job.rounds);
    let mut update = [0u8; PAYLOAD];
    for round in 1..=job.rounds as u64 {
        match &iox {
            Some((_, subscriber)) => {
                let sample = spin("update", || {
                    subscriber
                        .receive()
                        .map_err(|e| format!("iceoryx2 receive: {e:?}"))
                })?;
                update = *sample;
            }
            None => {
                // A publish makes the sequence odd, then even again.
                last = spin("update", || {
                    let s = seq.load(Ordering::Acquire);
                    Ok((s != last && s % 2 == 0).then_some(s))
                })?;
                shm.snapshot(RECORD_OFFSET, &mut update, TIMEOUT)
                    .map_err(|e| format!("snapshot: {e}"))?;
            }
        }
        let seen_ns = monotonic_ns();
        let (got, sent_ns) = parse(&update);
        if got != round {
            return Err(format!("P8: expected update {round}, got {got}"));
        }
        times.push((sent_ns, seen_ns));
        ack.store(round as u32, Ordering::Release);
    }
    if let Some((_, subscriber)) = &iox {
        if let Ok(Some(extra)) = subscriber.receive() {
            return Err(format!(
                "P8: update {} arrived after the last",
                parse(&extra).0
            ));
        }
    }
    Ok(times)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips() {
        assert_eq!(parse(&payload(7, 123_456)), (7, 123_456));
    }
}
