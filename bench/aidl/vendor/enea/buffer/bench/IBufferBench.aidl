/*
 * Copyright (C) 2026 Enea AB
 * SPDX-License-Identifier: Apache-2.0
 */

package vendor.enea.buffer.bench;

/**
 * Bench-only interface: the alternatives to shared memory, moving the same
 * bytes and doing the same counting through binder calls. Not part of the
 * product's interface; served only by the benchmark's own server process.
 */
interface IBufferBench {
    /** Does nothing: the cost of a call. */
    void ping();

    /** Copies `chunk` into the server's private buffer at `offset`. */
    void put(long offset, in byte[] chunk);

    /** Total bytes `put` has received since the last reset(). */
    long received();

    /** Adds one to the server's counter. */
    void increment();

    /** The server's counter. */
    long get();

    /** Zeroes the counter and the received-bytes total. */
    void reset();
}
