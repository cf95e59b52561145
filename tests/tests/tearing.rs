//! Copies never tear a word: a writer process stores patterns into aligned
//! 8-byte words while this process copies them out with `read_at`, on every
//! copy path this CPU has (each forced in turn), at every alignment of the
//! region side, every alignment of the destination relative to it, and
//! every length up to 1 KiB.

use std::process::Command;

use enea_buffer_client::{fuzzing, Connection};
use enea_buffer_tests::probe::field;
use enea_buffer_tests::{bins, Daemon, Interactive};

/// The words the writer stores: page-aligned, so 32-aligned too.
const AREA: usize = 4096;
/// The longest copy, and the most its start is past `AREA`.
const MAX_LEN: usize = 1024;
/// Region-side skews: every byte offset within a word.
const SKEW: usize = 8;
/// Destination skews relative to the region side's 32-byte alignment: all
/// of them (0: 32-byte stores; 16: the realigned stores; else 16-byte ones).
const DST_SKEW: usize = 32;
/// The word the writer watches to stop.
const STOP: usize = 72;
/// Sweeps per path: a byte-wise copy tore from 3 to 14,000 words per sweep
/// here, depending on the load.
const ROUNDS: usize = 4;

/// What one path's sweep saw.
#[derive(Debug, Default)]
struct Seen {
    copies: u64,
    /// Copies with 32 bytes or more past their unaligned head: the ones
    /// that go through the path's body.
    long: u64,
    /// Whole aligned words that were not one pattern (must stay 0).
    torn: u64,
    /// Copies holding two different patterns: the writer was mid-sweep.
    mixed: u64,
    first_torn: Option<String>,
}

/// Copies every (region skew, destination skew, length) once and checks
/// every whole aligned 8-byte word of each copy. The destination skew is
/// relative to the region side's 32-byte alignment ([`DST_SKEW`]).
fn sweep(buffer: &mut enea_buffer_client::SharedBuffer) -> Seen {
    let mut seen = Seen::default();
    let mut out = vec![0u8; MAX_LEN + 2 * 32];
    for skew in (0..ROUNDS).flat_map(|_| 0..SKEW) {
        let at = AREA + skew;
        // Where `out` is on the region side's alignment modulo 32.
        let even = at.wrapping_sub(out.as_ptr() as usize) % 32;
        for dst in (0..DST_SKEW).map(|d| even + d) {
            for len in 0..=MAX_LEN {
                let out = &mut out[dst..dst + len];
                buffer.read_at(at, out).expect("read_at");
                seen.copies += 1;
                // Whole words: region addresses from the first 8-aligned one.
                let first = at.next_multiple_of(8) - at;
                seen.long += u64::from(len >= first + 32);
                let words = out.get(first..).unwrap_or_default().chunks_exact(8);
                let mut last = None;
                let mut mixed = false;
                for (i, w) in words.enumerate() {
                    if w.iter().any(|b| *b != w[0]) {
                        seen.torn += 1;
                        seen.first_torn.get_or_insert(format!(
                            "{w:02x?} at region offset {} of a {len}-byte copy from {at} into +{dst}",
                            at + first + 8 * i
                        ));
                    }
                    mixed |= last.is_some_and(|l| l != w[0]);
                    last = Some(w[0]);
                }
                seen.mixed += u64::from(mixed);
            }
        }
    }
    seen
}

#[test]
fn no_aligned_word_is_torn_by_a_copy_on_any_path() {
    let daemon = Daemon::start();
    let conn = Connection::connect(&daemon.connect_options()).expect("connect");
    let mut buffer = conn.map().expect("map");
    let words = (MAX_LEN + SKEW).div_ceil(8) + 1;
    let mut cmd = Command::new(bins::path(bins::PROBE));
    cmd.args(daemon.client_args()).args([
        "word-writer",
        "--offset",
        &AREA.to_string(),
        "--words",
        &words.to_string(),
        "--stop",
        &STOP.to_string(),
    ]);
    let mut writer = Interactive::spawn(cmd);
    assert_eq!(writer.reply(), "ready");

    let paths = fuzzing::copy_paths();
    // The paths this architecture must have; a CPU without AVX2 fails here
    // by name rather than leaving that path untested.
    let want: &[&str] = if cfg!(target_arch = "x86_64") {
        &["word", "sse2", "avx2"]
    } else if cfg!(target_arch = "aarch64") {
        &["word", "neon"]
    } else {
        &["word"]
    };
    let mut report = Vec::new();
    for path in want {
        fuzzing::force_copy_path(Some(path)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(fuzzing::copy_path(), *path);
        let seen = sweep(&mut buffer);
        let bodies = fuzzing::forced_copy_bodies();
        report.push(format!("{path}: {seen:?}, bodies={bodies}"));
        // Every long copy went through the forced path.
        assert_eq!(bodies, seen.long, "{path}: bodies on the forced path");
        assert_eq!(seen.torn, 0, "{path}: torn words: {seen:?}");
        // Proof the writer stored while we copied, on this path.
        assert!(
            seen.mixed >= 100,
            "{path}: the writer was not seen at work: {seen:?}"
        );
    }
    fuzzing::force_copy_path(None).unwrap();
    buffer.store_u32(STOP, 1).expect("stop the writer");
    let done = writer.reply();
    assert!(field(&done, "sweeps").parse::<u64>().unwrap() > 0, "{done}");
    assert_eq!(paths, want, "paths this CPU has");
    eprintln!("{}", report.join("\n"));
}
