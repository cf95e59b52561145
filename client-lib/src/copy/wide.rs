//! The bulk of a copy in vector accesses: SSE2 (16 bytes, every x86_64),
//! AVX2 (32 bytes, or 16 out into a buffer off the region's 32-byte
//! alignment; when the CPU has it), NEON (16 bytes, every aarch64).
//! Every access on the region side is one aligned vector load or store,
//! made volatile so that the compiler emits exactly that instruction.
//!
//! Why a peer's aligned 8-byte word is still never torn (each such word
//! inside the body lies inside one of these accesses, which are aligned
//! to their own width):
//! - x86_64: Intel SDM vol. 3A §8.1.1 ("Guaranteed Atomic Operations")
//!   guarantees that a quadword access aligned on a 64-bit boundary is
//!   atomic, and, on processors that enumerate AVX, that the 16-byte
//!   accesses of MOVDQA/MOVAPS/MOVAPD (and VEX.128 VMOVDQA…) are atomic.
//!   For wider SSE/AVX accesses it says only that they "may be implemented
//!   using multiple memory accesses", without naming their size. Our
//!   argument for the 16-byte path on pre-AVX CPUs and for the 32-byte
//!   path is that those accesses are carried out as aligned 8-byte (or
//!   wider) pieces, as on every x86 implementation we know of; the SDM does
//!   not state that in words, and the cross-process tear test checks it on
//!   the machine at hand.
//! - aarch64: the Arm ARM (B2.2.1, single-copy atomicity) treats a 128-bit
//!   SIMD&FP load or store aligned to 8 as a pair of single-copy atomic
//!   64-bit accesses, so each aligned 8-byte half is seen whole.

use super::Direction;

/// A vector register type: `SIZE` bytes, moved with one instruction.
trait Lane: Copy {
    /// Its size and alignment in bytes.
    const SIZE: usize;
}

/// Copies whole lanes of `L` while at least `L::SIZE` bytes are left,
/// after word accesses that bring the region side to `L`'s alignment;
/// returns the bytes copied (a multiple of 8, at most `len`). Inlined
/// into each path, so the vector type's accesses compile with that path's
/// target features.
///
/// # Safety
/// As `copy_volatile`, and `region` is 8-aligned.
#[inline(always)]
unsafe fn lanes<L: Lane>(
    region: *mut u8,
    private: *mut u8,
    len: usize,
    direction: Direction,
) -> usize {
    let mut done = 0;
    // Word accesses up to the lane alignment (at most SIZE/8 - 1 of them).
    while len - done >= 8 && (region as usize + done) % L::SIZE != 0 {
        // SAFETY: 8 bytes are left on both sides; `region + done` is
        // 8-aligned (given, and each step adds 8).
        unsafe { super::word(region.add(done), private.add(done), direction) };
        done += 8;
    }
    if (region as usize + done) % L::SIZE != 0 {
        return done;
    }
    let step = 4 * L::SIZE;
    // SAFETY: `done + n * SIZE <= len` bytes are in range on both sides
    // (the loop conditions); `r` is SIZE-aligned (it was above and each
    // step adds multiples of SIZE), as read_volatile and write_volatile
    // need; volatile keeps each region access one aligned vector
    // instruction, never merged, split or repeated by the compiler; the
    // private side is the caller's own, possibly unaligned, memory.
    unsafe {
        match direction {
            Direction::FromRegion => {
                while len - done >= step {
                    let (r, p) = (region.add(done).cast::<L>(), private.add(done).cast::<L>());
                    let (a, b, c, d) = (
                        r.read_volatile(),
                        r.add(1).read_volatile(),
                        r.add(2).read_volatile(),
                        r.add(3).read_volatile(),
                    );
                    p.write_unaligned(a);
                    p.add(1).write_unaligned(b);
                    p.add(2).write_unaligned(c);
                    p.add(3).write_unaligned(d);
                    done += step;
                }
                while len - done >= L::SIZE {
                    let (r, p) = (region.add(done).cast::<L>(), private.add(done).cast::<L>());
                    p.write_unaligned(r.read_volatile());
                    done += L::SIZE;
                }
            }
            Direction::IntoRegion => {
                while len - done >= step {
                    let (r, p) = (region.add(done).cast::<L>(), private.add(done).cast::<L>());
                    let (a, b, c, d) = (
                        p.read_unaligned(),
                        p.add(1).read_unaligned(),
                        p.add(2).read_unaligned(),
                        p.add(3).read_unaligned(),
                    );
                    r.write_volatile(a);
                    r.add(1).write_volatile(b);
                    r.add(2).write_volatile(c);
                    r.add(3).write_volatile(d);
                    done += step;
                }
                while len - done >= L::SIZE {
                    let (r, p) = (region.add(done).cast::<L>(), private.add(done).cast::<L>());
                    r.write_volatile(p.read_unaligned());
                    done += L::SIZE;
                }
            }
        }
    }
    done
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{lanes, Direction, Lane};
    use core::arch::x86_64::{__m128i, __m256i};

    impl Lane for __m128i {
        const SIZE: usize = 16;
    }
    impl Lane for __m256i {
        const SIZE: usize = 32;
    }

    /// The body in 16-byte SSE2 accesses (MOVDQA on the region side).
    ///
    /// # Safety
    /// As [`lanes`].
    pub(in crate::copy) unsafe fn sse2(r: *mut u8, p: *mut u8, len: usize, d: Direction) -> usize {
        // SAFETY: the caller's promise; SSE2 is part of x86_64.
        unsafe { lanes::<__m128i>(r, p, len, d) }
    }

    /// The body in 32-byte AVX2 accesses (VMOVDQA on the region side). Out
    /// of the region into a buffer off the region's 32-byte alignment every
    /// other 32-byte store would split a cache line, which halves the speed
    /// in cache: 16 bytes off (a malloc'd buffer, half the time), the same
    /// loads are stored realigned ([`shifted`]); otherwise in 16-byte lanes.
    ///
    /// # Safety
    /// As [`lanes`], and the CPU has AVX2.
    #[target_feature(enable = "avx2")]
    pub(in crate::copy) unsafe fn avx2(r: *mut u8, p: *mut u8, len: usize, d: Direction) -> usize {
        if d == Direction::FromRegion {
            match (p as usize).wrapping_sub(r as usize) % 32 {
                0 => {}
                // SAFETY: the caller's promise.
                16 => return unsafe { shifted(r, p, len) },
                // SAFETY: the caller's promise.
                _ => return unsafe { lanes::<__m128i>(r, p, len, d) },
            }
        }
        // SAFETY: the caller's promise.
        unsafe { lanes::<__m256i>(r, p, len, d) }
    }

    /// Out of the region into a buffer 16 bytes off the region's 32-byte
    /// alignment: the region side as in [`lanes`] (aligned 32-byte volatile
    /// loads), the private side as aligned 32-byte stores, each the high
    /// half of one load and the low half of the next (VPERM2I128).
    ///
    /// # Safety
    /// As [`lanes`], the CPU has AVX2, and `p - r` is 16 modulo 32.
    #[target_feature(enable = "avx2")]
    unsafe fn shifted(r: *mut u8, p: *mut u8, len: usize) -> usize {
        use core::arch::x86_64::{
            _mm256_castsi256_si128, _mm256_extracti128_si256, _mm256_permute2x128_si256,
        };
        let mut done = 0;
        while len - done >= 8 && (r as usize + done) % 32 != 0 {
            // SAFETY: as in `lanes`.
            unsafe { super::super::word(r.add(done), p.add(done), Direction::FromRegion) };
            done += 8;
        }
        let n = (len - done) / 32;
        if (r as usize + done) % 32 != 0 || n == 0 {
            return done;
        }
        // SAFETY: `n` whole vectors from `done` are in range on both sides;
        // `v` is 32-aligned, so each load is one aligned VMOVDQA, kept
        // volatile as in `lanes`; `q` is the private side 16 bytes on, which
        // the caller's 16-modulo-32 offset makes 32-aligned (stored
        // unaligned all the same: the private side is the caller's memory).
        unsafe {
            let (v, b) = (r.add(done).cast::<__m256i>(), p.add(done));
            let q = b.add(16).cast::<__m256i>();
            let mut prev = v.read_volatile();
            b.cast::<__m128i>()
                .write_unaligned(_mm256_castsi256_si128(prev));
            let mut i = 1;
            while i + 4 <= n {
                let (a, c, e, f) = (
                    v.add(i).read_volatile(),
                    v.add(i + 1).read_volatile(),
                    v.add(i + 2).read_volatile(),
                    v.add(i + 3).read_volatile(),
                );
                q.add(i - 1)
                    .write_unaligned(_mm256_permute2x128_si256::<0x21>(prev, a));
                q.add(i)
                    .write_unaligned(_mm256_permute2x128_si256::<0x21>(a, c));
                q.add(i + 1)
                    .write_unaligned(_mm256_permute2x128_si256::<0x21>(c, e));
                q.add(i + 2)
                    .write_unaligned(_mm256_permute2x128_si256::<0x21>(e, f));
                prev = f;
                i += 4;
            }
            while i < n {
                let a = v.add(i).read_volatile();
                q.add(i - 1)
                    .write_unaligned(_mm256_permute2x128_si256::<0x21>(prev, a));
                prev = a;
                i += 1;
            }
            b.add(32 * n - 16)
                .cast::<__m128i>()
                .write_unaligned(_mm256_extracti128_si256::<1>(prev));
        }
        done + 32 * n
    }
}
#[cfg(target_arch = "x86_64")]
pub(super) use x86::{avx2, sse2};

#[cfg(target_arch = "aarch64")]
mod arm {
    use super::{lanes, Direction, Lane};
    use core::arch::aarch64::uint8x16_t;

    impl Lane for uint8x16_t {
        const SIZE: usize = 16;
    }

    /// The body in 16-byte NEON accesses (LDR/STR q on the region side).
    ///
    /// # Safety
    /// As [`lanes`].
    pub(in crate::copy) unsafe fn neon(r: *mut u8, p: *mut u8, len: usize, d: Direction) -> usize {
        // SAFETY: the caller's promise; NEON is part of aarch64.
        unsafe { lanes::<uint8x16_t>(r, p, len, d) }
    }
}
#[cfg(target_arch = "aarch64")]
pub(super) use arm::neon;
