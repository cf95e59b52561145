/*
 * Copyright (C) 2026 Enea AB
 *
 * Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at
 *
 *      http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */

package vendor.enea.buffer;

import vendor.enea.buffer.Region;

/**
 * A shared-memory region owned by the service and mapped by its clients.
 *
 * The region is a sealed memfd: its size is fixed for the life of the
 * service (it can be neither shrunk nor grown, and no further seals can be
 * added), so a client that maps it can never be hit by SIGBUS because a
 * peer truncated it. Word 0 (a native-endian 32-bit integer at offset 0) is
 * initialised to 0xdeadcafe when the service starts.
 *
 * Every process that maps the region sees the same pages. Concurrent
 * writers must coordinate through atomic operations on aligned words.
 *
 * Layout version 1 (V2 of this interface; LAYOUT_VERSION). All words are
 * native-endian 32-bit integers at 4-aligned offsets, accessed atomically.
 *
 *   offset 0   word 0: unchanged from V1, a plain data word (0xdeadcafe at
 *              start). Clients may read, write and wait on it.
 *   offset 4   WAITERS_OFFSET: the waiter count. Every thread that is about
 *              to block in FUTEX_WAIT on any word of the region increments it
 *              (sequentially consistent read-modify-write) before it
 *              re-checks the word and blocks, and decrements it after it
 *              wakes. A writer that changes a word others may wait on
 *              stores the word, then loads the waiter count (both
 *              sequentially consistent); if the count is not 0 it calls
 *              FUTEX_WAKE (shared, not FUTEX_PRIVATE_FLAG, INT_MAX waiters)
 *              on the word's address. When nobody waits a write costs no
 *              system call. Waiters use a timeout or tolerate missed wakes
 *              if they share the region with writers that do not follow this.
 *   offset 8   up to CONTROL_SIZE: reserved, zero; written by nobody.
 *   offset CONTROL_SIZE (64) to the end: free for clients.
 *
 * Records (consistent snapshots of more than one word), at a client-chosen
 * offset R that is a multiple of 8 and at least CONTROL_SIZE:
 *   R + 0      sequence: even when the record is stable, odd while a writer
 *              is publishing; a reader's copy is consistent only if it read
 *              the same even value before and after copying (acquire).
 *   R + 4      owner: 0 when free, else the pid of the publishing writer.
 *              A writer takes the record by compare-and-swap 0 -> its pid
 *              (or, when the owner's process no longer exists, owner pid ->
 *              its pid), stores sequence+1 (odd, unless already odd because
 *              a dead writer left it so), copies the payload, stores the
 *              next even sequence (release), stores owner 0, and wakes
 *              waiters of the sequence word as above.
 *   R + RECORD_HEADER_SIZE   the payload, its length rounded up to a
 *              multiple of 4 and copied in 32-bit words; padding is zero.
 * A reader that finds the sequence odd and the owner's process gone knows
 * the record is abandoned half-written: it must not use the bytes, and the
 * next publish repairs it.
 *
 * A region smaller than CONTROL_SIZE has no room for the control words: it
 * has no layout, and getRegion() reports layoutVersion 0 for it. Clients
 * use it as in V1 (word access only: no waiter count, no records).
 */
@VintfStability
interface IEneaBuffer {
    /**
     * Service-specific error: the service could not duplicate a file
     * descriptor for the reply (it is out of file descriptors or memory).
     * Retrying later may succeed.
     */
    const int ERROR_NO_RESOURCES = 1;

    /**
     * Returns a read-write file descriptor of the shared region.
     *
     * The caller owns the returned descriptor and must close it; mapping it
     * MAP_SHARED with PROT_READ|PROT_WRITE gives the same pages the service
     * and every other client see. The file is sealed against shrink, grow
     * and further seals. Its size is getBufferSize(): never derive it from
     * fstat(), which reports 0 for ashmem.
     *
     * Throws a ServiceSpecificException with ERROR_NO_RESOURCES if the
     * service cannot duplicate the descriptor, and a SecurityException
     * (EX_SECURITY) if the caller may not write the region.
     */
    ParcelFileDescriptor getBuffer();

    /**
     * Returns the size of the shared region in bytes. Always > 0 and
     * constant for the life of the service instance.
     *
     * Throws a SecurityException (EX_SECURITY) if the caller may not read
     * the region.
     */
    long getBufferSize();

    /**
     * Returns a read-only file descriptor of the same shared region.
     *
     * The descriptor is a separate open file description opened O_RDONLY:
     * it cannot be mapped writable, written, truncated or resealed through.
     * Whether it can be re-opened for writing is up to the platform, not
     * this descriptor: a process of another uid than the service's cannot
     * (the file is mode 0400 and owned by the service's uid); a process of
     * the service's own uid, or root, can, unless SELinux denies it (on
     * Android it does: client domains get no write or setattr on the
     * service's memory). The receiver still sees every write the service
     * and read-write clients make. The caller owns the descriptor and must
     * close it.
     *
     * Throws a ServiceSpecificException with ERROR_NO_RESOURCES if the
     * service cannot duplicate the descriptor, and a SecurityException
     * (EX_SECURITY) if the caller may not read the region.
     */
    ParcelFileDescriptor getReadOnlyBuffer();

    /**
     * The layout of the region's control words and records that this
     * service keeps (see the interface documentation); reported in
     * Region.layoutVersion for every region of at least CONTROL_SIZE bytes
     * (a smaller one reports 0: no layout).
     */
    const int LAYOUT_VERSION = 1;

    /** Byte offset of the waiter count (layout version 1). */
    const int WAITERS_OFFSET = 4;

    /**
     * Bytes at the start of the region reserved for control words (layout
     * version 1); word 0 is inside but keeps its V1 meaning.
     */
    const int CONTROL_SIZE = 64;

    /** Bytes of a record's header (sequence, owner) before its payload. */
    const int RECORD_HEADER_SIZE = 8;

    /**
     * Returns a read-write descriptor of the shared region together with its
     * size and layout version, in one call, so a client can neither mix the
     * size of one instance with the descriptor of another nor miss the
     * layout. Same descriptor semantics as getBuffer().
     *
     * Throws a ServiceSpecificException with ERROR_NO_RESOURCES if the
     * service cannot duplicate the descriptor, and a SecurityException
     * (EX_SECURITY) if the caller may not write the region.
     */
    Region getRegion();

    /**
     * As getRegion(), with a read-only descriptor (as getReadOnlyBuffer()).
     *
     * Throws a ServiceSpecificException with ERROR_NO_RESOURCES if the
     * service cannot duplicate the descriptor, and a SecurityException
     * (EX_SECURITY) if the caller may not read the region.
     */
    Region getReadOnlyRegion();
}
