/*
 * Copyright (C) 2026 Enea AB
 * SPDX-License-Identifier: Apache-2.0
 */

package vendor.enea.buffer.bench;

import vendor.enea.buffer.bench.IWakeListener;

/**
 * Bench-only interface, served by the writer of bench row P6: where a
 * listener registers the callback the writer then calls on every change.
 */
interface IWakeRegistrar {
    /** Calls `listener` on every later change (one listener at a time). */
    void register(IWakeListener listener);
}
