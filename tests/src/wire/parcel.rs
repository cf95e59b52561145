//! Reads parcel data as AOSP's `Parcel.cpp` lays it out (little-endian,
//! every write padded to 4 bytes), independently of rsbinder's reader.

/// A cursor over parcel data.
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Reads `data` from its start.
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    /// The read position.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if n > self.remaining() {
            return Err(format!(
                "{what}: {n} bytes at {} but the parcel has {}",
                self.pos,
                self.data.len()
            ));
        }
        let out = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// `readInt32`.
    pub fn i32(&mut self, what: &str) -> Result<i32, String> {
        let b = self.take(4, what)?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// `readInt64`.
    pub fn i64(&mut self, what: &str) -> Result<i64, String> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_le_bytes(a))
    }

    /// `readString16`: `int32` length in UTF-16 units (-1: null), the
    /// units, a NUL unit, zero padding to 4 bytes.
    pub fn string16(&mut self, what: &str) -> Result<Option<String>, String> {
        let len = self.i32(what)?;
        if len == -1 {
            return Ok(None);
        }
        let units = usize::try_from(len).map_err(|_| format!("{what}: length {len}"))?;
        let bytes = (units + 1) * 2;
        let padded = (bytes + 3) & !3;
        let raw = self.take(padded, what)?;
        if raw[units * 2..].iter().any(|&b| b != 0) {
            return Err(format!(
                "{what}: terminator/padding {:02x?} is not zero",
                &raw[units * 2..]
            ));
        }
        let text: Vec<u16> = raw[..units * 2]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16(&text)
            .map(Some)
            .map_err(|e| format!("{what}: {e}"))
    }
}

/// Lower-case hex, as AOSP's `HexString` prints parcel data.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
