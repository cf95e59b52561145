/*
 * Copyright (C) 2026 Enea AB
 * SPDX-License-Identifier: Apache-2.0
 */

package vendor.enea.buffer.bench;

/**
 * Bench-only interface: the binder way of telling a process that a value
 * changed, the baseline of the futex wake-up (bench row P6). A listener
 * registers one with an IWakeRegistrar; the writer calls it back.
 */
oneway interface IWakeListener {
    /**
     * The watched value is now `value`; the writer read CLOCK_MONOTONIC as
     * `sentNanos` just before the call.
     */
    void changed(int value, long sentNanos);
}
