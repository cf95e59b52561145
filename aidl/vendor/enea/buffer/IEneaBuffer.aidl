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
     * service cannot duplicate the descriptor.
     */
    ParcelFileDescriptor getBuffer();

    /**
     * Returns the size of the shared region in bytes. Always > 0 and
     * constant for the life of the service instance.
     */
    long getBufferSize();

    /**
     * Returns a read-only file descriptor of the same shared region.
     *
     * The descriptor is a separate open file description opened O_RDONLY,
     * so it cannot be mapped writable, written, truncated, resealed or
     * re-opened for writing by the receiver; the receiver still sees every
     * write the service and read-write clients make. The caller owns the
     * descriptor and must close it.
     *
     * Throws a ServiceSpecificException with ERROR_NO_RESOURCES if the
     * service cannot duplicate the descriptor.
     */
    ParcelFileDescriptor getReadOnlyBuffer();
}
