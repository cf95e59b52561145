/*
 * C API of the vendor.enea.buffer client library (enea_buffer_client).
 *
 * Connect to the service, map its shared region, and access it with the
 * same guarantees as the Rust library:
 *  - No server or peer can make a client fault. A region is mapped only
 *    after its fd was checked (a memfd sealed against shrinking and growing
 *    that holds exactly the reported size, or ashmem of exactly that size);
 *    anything else is refused with a status naming the problem and is never
 *    mapped. Every access is bounds-checked, and atomics are
 *    alignment-checked, before it is made.
 *  - Sound access to memory other processes write: word access is atomic,
 *    byte-range copies are volatile, and no call lets the two meet on the
 *    same bytes within this process.
 *  - No call crashes the caller for bad input: a NULL pointer or a bad
 *    length is ENEA_BUFFER_ERR_INVALID_ARGUMENT, and a panic inside the
 *    library is caught and returned as ENEA_BUFFER_ERR_PANIC.
 *
 * Conventions. Every call that can fail returns an enea_buffer_status;
 * results go to out-parameters, written only on ENEA_BUFFER_OK. On failure,
 * enea_buffer_last_error() copies this thread's message. Handles are opaque
 * and owned by the caller until passed to their *_close function; a handle
 * must not be used after, or concurrently with, its close. The library
 * never hands out memory the caller must free any other way.
 *
 * Rust checks its implementation against this header at build time
 * (bindgen of this file; see client-ffi/src/abi.rs): change both together.
 */
#ifndef ENEA_BUFFER_CLIENT_H
#define ENEA_BUFFER_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What a call did: ENEA_BUFFER_OK, or the class of what went wrong. */
typedef enum enea_buffer_status {
    /* The call did what it says. */
    ENEA_BUFFER_OK = 0,
    /* A NULL pointer, a bad length or a string that is not UTF-8. */
    ENEA_BUFFER_ERR_INVALID_ARGUMENT = 1,
    /* Nothing serves the interface at the endpoint. */
    ENEA_BUFFER_ERR_NO_DAEMON = 2,
    /* The service died or the connection to it was lost. */
    ENEA_BUFFER_ERR_SERVICE_GONE = 3,
    /* The service refused a call (its access policy, or the socket's owner,
     * group and mode keep this user out) or the call failed. */
    ENEA_BUFFER_ERR_REFUSED = 4,
    /* The connection cannot carry file descriptors. */
    ENEA_BUFFER_ERR_NO_FD_PASSING = 5,
    /* The socket is owned by neither root nor this user. */
    ENEA_BUFFER_ERR_UNTRUSTED_SOCKET = 6,
    /* The service reported a size below one 32-bit word. */
    ENEA_BUFFER_ERR_BAD_SIZE = 7,
    /* The service reported a region larger than a client agrees to map. */
    ENEA_BUFFER_ERR_TOO_LARGE = 8,
    /* The region's fd is neither a memfd nor ashmem. */
    ENEA_BUFFER_ERR_NOT_SHARED_MEMORY = 9,
    /* The memfd lacks a seal that keeps its size fixed. */
    ENEA_BUFFER_ERR_NOT_SEALED = 10,
    /* The fd the service sent does not hold the size it reported. */
    ENEA_BUFFER_ERR_SIZE_MISMATCH = 11,
    /* A system call on the region (fstat, seals, mmap) failed. */
    ENEA_BUFFER_ERR_SYSTEM = 12,
    /* An access outside the region. */
    ENEA_BUFFER_ERR_OUT_OF_BOUNDS = 13,
    /* A write through a mapping made read-only. */
    ENEA_BUFFER_ERR_READ_ONLY = 14,
    /* An atomic access at an offset that is not a multiple of its alignment. */
    ENEA_BUFFER_ERR_MISALIGNED = 15,
    /* The service's interface version or the region lacks what was asked
     * for (a V1 service, or a region without the layout: poll). */
    ENEA_BUFFER_ERR_UNSUPPORTED = 16,
    /* A record's writer died while publishing it. */
    ENEA_BUFFER_ERR_ABANDONED = 17,
    /* A record stayed mid-write for the whole timeout, or another thread
     * is inside a call on the same handle (see enea_buffer_shared_read_at). */
    ENEA_BUFFER_ERR_BUSY = 18,
    /* The time ran out before the awaited change, or before a record held
     * still long enough for a consistent copy, or before a daemon that is
     * there (stopped or overloaded) answered. */
    ENEA_BUFFER_ERR_TIMEOUT = 19,
    /* The kernel's random number generator is not seeded (early boot). */
    ENEA_BUFFER_ERR_RNG_NOT_SEEDED = 20,
    /* The library panicked; the call had no effect the caller can rely on. */
    ENEA_BUFFER_ERR_PANIC = 21,
    /* A record has had the same owner and an odd sequence for over a second
     * and longer than the timeout: a peer wedged it (the Rust library's
     * SharedBuffer::take_over recovers it). */
    ENEA_BUFFER_ERR_WEDGED = 22,
    /* A write to the region's control words (bytes 4 to 63 of a region that
     * has the layout), which only the layout's protocol may change. */
    ENEA_BUFFER_ERR_CONTROL_WORDS = 23,
    /* This process is at its open-file limit (RLIMIT_NOFILE), or the
     * system's file table is full: no fd left to connect or to receive the
     * region's. Close mappings or raise the limit (ulimit -n, LimitNOFILE=). */
    ENEA_BUFFER_ERR_FD_LIMIT = 24
} enea_buffer_status;

/* Which transport to look for the service on. */
typedef enum enea_buffer_transport {
    /* Kernel binder if the service is registered there, else the Unix socket. */
    ENEA_BUFFER_TRANSPORT_AUTO = 0,
    /* Kernel binder through the service manager only. */
    ENEA_BUFFER_TRANSPORT_BINDER = 1,
    /* rsbinder RPC over a Unix socket only. */
    ENEA_BUFFER_TRANSPORT_SOCKET = 2
} enea_buffer_transport;

/* A timeout that never runs out (enea_buffer_shared_wait_change). */
#define ENEA_BUFFER_FOREVER 0xFFFFFFFFu

/* Where and how to connect. Zero-initialised fields mean the defaults. */
typedef struct enea_buffer_connect_options {
    /* Transport to use. */
    enea_buffer_transport transport;
    /* Service instance; NULL: "default". */
    const char *instance;
    /* Socket path for the socket transport; NULL: the default socket
     * (ENEA_BUFFER_SOCKET in the environment, else the system's). */
    const char *socket_path;
    /* How long a silent daemon may keep a call waiting (socket transport),
     * in milliseconds; 0: 10 seconds. */
    uint32_t timeout_ms;
    /* Prepare the connection for enea_buffer_connection_on_death. */
    bool death_notifications;
} enea_buffer_connect_options;

/* Identity of the file behind a region: equal in every process that maps
 * the same region, whatever the fd numbers are. */
typedef struct enea_buffer_file_identity {
    /* st_dev. */
    uint64_t dev;
    /* st_ino. */
    uint64_t ino;
} enea_buffer_file_identity;

/* A connection to the service; mappings made from it keep it alive. */
typedef struct enea_buffer_connection enea_buffer_connection;
/* A read-write mapping of the shared region. */
typedef struct enea_buffer_shared enea_buffer_shared;
/* A read-only mapping of the shared region: it has no way to write. */
typedef struct enea_buffer_read_only enea_buffer_read_only;
/* A registered death notification; closing it cancels the callback. */
typedef struct enea_buffer_death_watch enea_buffer_death_watch;

/* Called once, on a library thread, when the service dies. */
typedef void (*enea_buffer_death_callback)(void *context);

/* ---- errors ------------------------------------------------------------ */

/* Copies the message of the last call on this thread that failed into buf
 * (at most len bytes, always NUL-terminated when len > 0) and returns the
 * message's full length without the NUL: a result >= len means it was cut.
 * Returns 0 if no call on this thread has failed. buf may be NULL when len
 * is 0. Thread-safe: each thread has its own message. */
size_t enea_buffer_last_error(char *buf, size_t len);

/* The name of a status ("ENEA_BUFFER_ERR_TIMEOUT"), a static string;
 * "unknown status" for a value this library does not define. Thread-safe. */
const char *enea_buffer_status_name(enea_buffer_status status);

/* ---- connection --------------------------------------------------------- */

/* Looks the service up and asks for the region's size. options may be NULL
 * (all defaults). On success *out holds a new connection, to be closed with
 * enea_buffer_connection_close. Thread-safe. */
enea_buffer_status enea_buffer_connect(const enea_buffer_connect_options *options,
                                       enea_buffer_connection **out);

/* Closes the connection. Mappings made from it stay valid (they keep the
 * service reachable). NULL is accepted and ignored. */
void enea_buffer_connection_close(enea_buffer_connection *connection);

/* The region's size in bytes, as the service reported it. Thread-safe. */
enea_buffer_status enea_buffer_connection_size(const enea_buffer_connection *connection,
                                               size_t *out);

/* The service's interface version (getInterfaceVersion()): 1 for a V1
 * service, which has no region layout (no change notification, no
 * records), 2 or more otherwise. Thread-safe. */
enea_buffer_status enea_buffer_connection_interface_version(
    const enea_buffer_connection *connection, int32_t *out);

/* Whether the service still answers (a binder ping). Thread-safe. */
enea_buffer_status enea_buffer_connection_is_alive(const enea_buffer_connection *connection,
                                                   bool *out);

/* Calls callback(context) once, on a library thread, when the service dies
 * or the connection to it is lost. Needs death_notifications in the
 * connect options. The callback must be safe to call from another thread
 * and must not call enea_buffer_death_watch_close on its own watch. On
 * success *out holds the watch; closing it cancels the callback.
 * Thread-safe. */
enea_buffer_status enea_buffer_connection_on_death(const enea_buffer_connection *connection,
                                                   enea_buffer_death_callback callback,
                                                   void *context,
                                                   enea_buffer_death_watch **out);

/* Cancels the death callback and frees the watch. NULL is ignored. */
void enea_buffer_death_watch_close(enea_buffer_death_watch *watch);

/* Maps the region read-write. populate: pre-fault every page at map time
 * (MAP_POPULATE), so the first access costs no page faults. The fd is
 * verified before it is mapped (see the top of this file). On success
 * *out holds the mapping, to be closed with enea_buffer_shared_close.
 * Thread-safe. */
enea_buffer_status enea_buffer_map(const enea_buffer_connection *connection, bool populate,
                                   enea_buffer_shared **out);

/* Maps the read-only view of the region, verified as enea_buffer_map's.
 * On success *out holds the mapping, to be closed with
 * enea_buffer_read_only_close. Thread-safe. */
enea_buffer_status enea_buffer_map_read_only(const enea_buffer_connection *connection,
                                             enea_buffer_read_only **out);

/* ---- read-write mapping --------------------------------------------------
 * Every call below is thread-safe: any number of threads may use one
 * handle at once. Word calls (load, store, fetch_add, wait, publish,
 * snapshot) run concurrently; a byte copy (read_at, write_at) needs the
 * handle to itself and fails with ENEA_BUFFER_ERR_BUSY, without waiting,
 * while another thread is inside a call on it: for concurrent byte copies
 * and 32-bit atomics in one process, map the region once per user. */

/* Unmaps the region and closes its fd. NULL is ignored. */
void enea_buffer_shared_close(enea_buffer_shared *buffer);

/* The region's size in bytes. */
enea_buffer_status enea_buffer_shared_size(const enea_buffer_shared *buffer, size_t *out);

/* st_dev/st_ino of the region's file. */
enea_buffer_status enea_buffer_shared_identity(const enea_buffer_shared *buffer,
                                               enea_buffer_file_identity *out);

/* Whether the service keeps the region layout that change notification and
 * records need (interface version 2 or later). */
enea_buffer_status enea_buffer_shared_has_layout(const enea_buffer_shared *buffer, bool *out);

/* Atomically loads the aligned 32-bit word at byte offset (SeqCst). */
enea_buffer_status enea_buffer_shared_load_u32(const enea_buffer_shared *buffer, size_t offset,
                                               uint32_t *out);

/* Atomically stores value into the word at offset (SeqCst), and wakes the
 * word's waiters (without a system call when nobody waits). */
enea_buffer_status enea_buffer_shared_store_u32(const enea_buffer_shared *buffer, size_t offset,
                                                uint32_t value);

/* Atomically adds value (wrapping) to the word at offset; *old_value (may
 * be NULL) gets the old value. Wakes the word's waiters (without a system
 * call when nobody waits). */
enea_buffer_status enea_buffer_shared_fetch_add_u32(const enea_buffer_shared *buffer,
                                                    size_t offset, uint32_t value,
                                                    uint32_t *old_value);

/* Waits until the aligned 32-bit word at offset holds something else than
 * old_value, for at most timeout_ms (ENEA_BUFFER_FOREVER: for as long as it
 * takes). *out gets the new value; ENEA_BUFFER_ERR_TIMEOUT if the time ran
 * out. Woken by writers of the word through this library (any process),
 * without polling: a waiting thread makes no wake-ups of its own. Against
 * a V1 service, which keeps no waiter count, this fails with
 * ENEA_BUFFER_ERR_UNSUPPORTED: poll enea_buffer_shared_load_u32 instead. */
enea_buffer_status enea_buffer_shared_wait_change(const enea_buffer_shared *buffer,
                                                  size_t offset, uint32_t old_value,
                                                  uint32_t timeout_ms, uint32_t *out);

/* As enea_buffer_shared_wait_change (same results and errors), but first
 * polls the word for up to spin_us microseconds, never past timeout_ms,
 * and returns the new value if it changes meanwhile. While it polls, the
 * thread keeps its CPU busy and is not counted among the word's waiters,
 * so writers still make no system call; then it sleeps as
 * enea_buffer_shared_wait_change does. spin_us 0: no polling, the same as
 * enea_buffer_shared_wait_change. Spin only where a writer is known to
 * store soon and a CPU can be spared. */
enea_buffer_status enea_buffer_shared_wait_change_spin(const enea_buffer_shared *buffer,
                                                       size_t offset, uint32_t old_value,
                                                       uint32_t timeout_ms, uint32_t spin_us,
                                                       uint32_t *out);

/* Copies len bytes at offset out of the region into out (volatile: each
 * aligned word in the range is one load, so a peer's aligned word store is
 * seen whole or not at all; the range as a whole may be seen half-updated,
 * and a copy carries no ordering: publish with an atomic flag). out may be
 * NULL only when len is 0. */
enea_buffer_status enea_buffer_shared_read_at(enea_buffer_shared *buffer, size_t offset,
                                              void *out, size_t len);

/* Copies len bytes from data into the region at offset (volatile, as
 * enea_buffer_shared_read_at). data may be NULL only when len is 0. */
enea_buffer_status enea_buffer_shared_write_at(enea_buffer_shared *buffer, size_t offset,
                                               const void *data, size_t len);

/* Publishes len bytes of data as the record at offset (a multiple of 8, at
 * least the control size; the record takes the record header plus len
 * rounded up to 4 bytes), so that readers see all of it or none of it, and
 * wakes the record's waiters. Waits up to timeout_ms for another live
 * writer of the record; takes over from a dead one. */
enea_buffer_status enea_buffer_shared_publish(const enea_buffer_shared *buffer, size_t offset,
                                              const void *data, size_t len,
                                              uint32_t timeout_ms);

/* Copies the record at offset (as enea_buffer_shared_publish wrote it)
 * into out (len bytes), never half-written: retries while a writer is in
 * the middle of publishing, waiting up to timeout_ms for it
 * (ENEA_BUFFER_ERR_BUSY). If the writer died mid-publish, fails at once
 * with ENEA_BUFFER_ERR_ABANDONED until the next publish repairs the
 * record. *sequence (may be NULL) gets the record's sequence number (even;
 * it grows by 2 per publish). */
enea_buffer_status enea_buffer_shared_snapshot(const enea_buffer_shared *buffer, size_t offset,
                                               void *out, size_t len, uint32_t timeout_ms,
                                               uint32_t *sequence);

/* ---- read-only mapping ---------------------------------------------------
 * Every call below is thread-safe; all of them may run at once on one
 * handle (reads never race reads). */

/* Unmaps the region and closes its fd. NULL is ignored. */
void enea_buffer_read_only_close(enea_buffer_read_only *buffer);

/* The region's size in bytes. */
enea_buffer_status enea_buffer_read_only_size(const enea_buffer_read_only *buffer,
                                              size_t *out);

/* st_dev/st_ino of the region's file. */
enea_buffer_status enea_buffer_read_only_identity(const enea_buffer_read_only *buffer,
                                                  enea_buffer_file_identity *out);

/* Loads the aligned 32-bit word at byte offset with acquire semantics: a
 * Relaxed load followed by an Acquire fence, the form the standard library
 * allows on read-only memory. */
enea_buffer_status enea_buffer_read_only_load_u32(const enea_buffer_read_only *buffer,
                                                  size_t offset, uint32_t *out);

/* Copies len bytes at offset out of the region (volatile; see
 * enea_buffer_shared_read_at). out may be NULL only when len is 0. */
enea_buffer_status enea_buffer_read_only_read_at(const enea_buffer_read_only *buffer,
                                                 size_t offset, void *out, size_t len);

/* As enea_buffer_shared_snapshot. A read-only mapping cannot count itself
 * as a waiter, so while a writer holds the record it looks again after
 * yielding instead of sleeping on the futex. */
enea_buffer_status enea_buffer_read_only_snapshot(const enea_buffer_read_only *buffer,
                                                  size_t offset, void *out, size_t len,
                                                  uint32_t timeout_ms, uint32_t *sequence);

#ifdef __cplusplus
}
#endif

#endif /* ENEA_BUFFER_CLIENT_H */
