//! Records whose every byte can be checked: the payload of publish `counter`
//! by writer `writer` starts with the two numbers (little-endian u32s) and
//! continues with bytes derived from both and the byte's position, so a copy
//! mixing two publishes (or a publish and a half-written one) fails [`check`].

/// Payload length the snapshot stress test uses: not a multiple of 4, so the
/// record's last word is partly padding.
pub const LEN: usize = 250;

/// Byte offset of the stress record in the region (past the control words
/// and the test's own barrier words).
pub const OFFSET: usize = 128;

/// Offset of the barrier word all stress processes arrive at.
pub const BARRIER: usize = enea_buffer_client::CONTROL_SIZE;

/// Offset of the word the readers count themselves done in.
pub const READERS_DONE: usize = BARRIER + 4;

fn mix(mut z: u64) -> u64 {
    // splitmix64's finaliser: every input bit reaches every output byte.
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The payload of publish `counter` by `writer`, `len` (>= 8) bytes.
pub fn pattern(writer: u32, counter: u32, len: usize) -> Vec<u8> {
    let key = (u64::from(writer) << 32) | u64::from(counter);
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&writer.to_le_bytes());
    out.extend_from_slice(&counter.to_le_bytes());
    let mut i = 8;
    while out.len() < len {
        let word = mix(key ^ ((i as u64) << 40)).to_le_bytes();
        let take = (len - out.len()).min(8);
        out.extend_from_slice(&word[..take]);
        i += 8;
    }
    out
}

/// `(writer, counter)` if `bytes` is exactly [`pattern`]'s output for them.
/// An all-zero record (never published) is `(0, 0)` only if it matches too,
/// so callers publish before they read.
pub fn check(bytes: &[u8]) -> Result<(u32, u32), String> {
    if bytes.len() < 8 {
        return Err(format!("{} bytes: too short", bytes.len()));
    }
    let writer = u32::from_le_bytes(bytes[0..4].try_into().unwrap());
    let counter = u32::from_le_bytes(bytes[4..8].try_into().unwrap());
    let want = pattern(writer, counter, bytes.len());
    match bytes.iter().zip(&want).position(|(a, b)| a != b) {
        None => Ok((writer, counter)),
        Some(at) => Err(format!(
            "torn: header says writer {writer} publish {counter}, byte {at} is {:#04x}, not {:#04x}",
            bytes[at], want[at]
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pattern_checks_and_a_mix_of_two_does_not() {
        let a = pattern(1, 41, LEN);
        let b = pattern(1, 42, LEN);
        assert_eq!(check(&a), Ok((1, 41)));
        assert_eq!(check(&b), Ok((1, 42)));
        // Any tear at a word boundary (the granularity of the copy) shows.
        for cut in (8..LEN).step_by(4) {
            let mut torn = a[..cut].to_vec();
            torn.extend_from_slice(&b[cut..]);
            assert!(check(&torn).is_err(), "cut at {cut}");
            let mut torn = b[..cut].to_vec();
            torn.extend_from_slice(&a[cut..]);
            assert!(check(&torn).is_err(), "cut at {cut}");
        }
        assert!(check(&[0u8; LEN]).is_err());
    }
}
