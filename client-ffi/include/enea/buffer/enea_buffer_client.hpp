// C++17 API of the vendor.enea.buffer client library: RAII, move-only
// handles over the C API (enea_buffer_client.h), with the same guarantees
// and thread-safety; each method's contract is the C function's it names.
//
// Errors: nothing here throws. Every fallible call returns a Result<T>,
// which holds either the value or the failure's status code and message.
// Not std::optional: a caller must be able to tell "no daemon" from
// "region not sealed" without a second call, and the message must be
// captured at once (the C library's last error is per thread and replaced
// by the next failure). Not exceptions: NDK code is often built with
// -fno-exceptions, and a vendor process should not die of an uncaught one.
// Reading value() of a failed Result is a programming error: it aborts.
#ifndef ENEA_BUFFER_CLIENT_HPP
#define ENEA_BUFFER_CLIENT_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "enea_buffer_client.h"

namespace enea::buffer {

using Status = enea_buffer_status;
using FileIdentity = enea_buffer_file_identity;

// A failed call: its status and this thread's message for it.
struct Error {
    Status status = ENEA_BUFFER_OK;
    std::string message;

    // The status's name, e.g. "ENEA_BUFFER_ERR_NOT_SEALED".
    const char *name() const noexcept { return enea_buffer_status_name(status); }
};

// The message of the last call on this thread that failed, as `status`.
inline Error last_error(Status status) {
    Error e{status, {}};
    const std::size_t len = enea_buffer_last_error(nullptr, 0);
    e.message.resize(len + 1);
    enea_buffer_last_error(e.message.data(), e.message.size());
    e.message.resize(len);
    return e;
}

// A value of T, or the Error of the call that should have made it.
template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : value_(std::move(value)) {}
    Result(Error error) : error_(std::move(error)) {}

    bool ok() const noexcept { return value_.has_value(); }
    explicit operator bool() const noexcept { return ok(); }
    // ENEA_BUFFER_OK, or why there is no value.
    Status status() const noexcept { return ok() ? ENEA_BUFFER_OK : error_.status; }
    const Error &error() const noexcept { return error_; }

    // The value; aborts if there is none (check ok() first).
    T &value() & { check(); return *value_; }
    const T &value() const & { check(); return *value_; }
    T &&value() && { check(); return std::move(*value_); }
    T *operator->() { return &value(); }
    T &operator*() & { return value(); }
    T value_or(T fallback) const & { return ok() ? *value_ : fallback; }

private:
    void check() const {
        if (!ok()) std::abort();
    }
    std::optional<T> value_;
    Error error_;
};

// The outcome of a call that returns nothing.
template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : error_(std::move(error)) {}

    bool ok() const noexcept { return error_.status == ENEA_BUFFER_OK; }
    explicit operator bool() const noexcept { return ok(); }
    Status status() const noexcept { return error_.status; }
    const Error &error() const noexcept { return error_; }

private:
    Error error_;
};

namespace detail {
// The Result of a C call that wrote `value` on success. Callers make the
// call in a statement of its own first: argument evaluation order is
// unspecified, so make(call(&v), v) may copy v before the call writes it.
template <class T>
Result<T> make(Status status, T value) {
    if (status != ENEA_BUFFER_OK) return last_error(status);
    return value;
}
inline Result<void> make(Status status) {
    if (status != ENEA_BUFFER_OK) return last_error(status);
    return {};
}
// Milliseconds for the C API, clamped into [0, ENEA_BUFFER_FOREVER - 1].
inline uint32_t millis(std::chrono::milliseconds t) {
    const auto ms = t.count();
    if (ms <= 0) return 0;
    if (static_cast<unsigned long long>(ms) >= ENEA_BUFFER_FOREVER) return ENEA_BUFFER_FOREVER - 1;
    return static_cast<uint32_t>(ms);
}
// Microseconds for the C API, clamped into [0, UINT32_MAX].
inline uint32_t micros(std::chrono::microseconds t) {
    const auto us = t.count();
    if (us <= 0) return 0;
    if (static_cast<unsigned long long>(us) >= UINT32_MAX) return UINT32_MAX;
    return static_cast<uint32_t>(us);
}
template <class H, void (*Close)(H *)>
struct Closer {
    void operator()(H *h) const noexcept { Close(h); }
};
template <class H, void (*Close)(H *)>
using Owned = std::unique_ptr<H, Closer<H, Close>>;
}  // namespace detail

// Where and how to connect (enea_buffer_connect_options).
struct ConnectOptions {
    enea_buffer_transport transport = ENEA_BUFFER_TRANSPORT_AUTO;
    // Empty: "default".
    std::string instance;
    // Empty: the default socket.
    std::string socket_path;
    // Zero: 10 seconds.
    std::chrono::milliseconds timeout{0};
    bool death_notifications = false;
};

// A read-write mapping (enea_buffer_shared). Thread-safe as the C handle:
// word calls run concurrently; read_at/write_at return ENEA_BUFFER_ERR_BUSY
// while another thread is inside a call on the same mapping.
class SharedBuffer {
public:
    std::size_t size() const {
        std::size_t n = 0;
        enea_buffer_shared_size(h_.get(), &n);  // cannot fail on a live handle
        return n;
    }
    Result<FileIdentity> identity() const {
        FileIdentity id{};
        const Status s = enea_buffer_shared_identity(h_.get(), &id);
        return detail::make(s, id);
    }
    Result<bool> has_layout() const {
        bool b = false;
        const Status s = enea_buffer_shared_has_layout(h_.get(), &b);
        return detail::make(s, b);
    }
    Result<uint32_t> load(std::size_t offset) const {
        uint32_t v = 0;
        const Status s = enea_buffer_shared_load_u32(h_.get(), offset, &v);
        return detail::make(s, v);
    }
    Result<void> store(std::size_t offset, uint32_t value) const {
        return detail::make(enea_buffer_shared_store_u32(h_.get(), offset, value));
    }
    // Returns the old value.
    Result<uint32_t> fetch_add(std::size_t offset, uint32_t value) const {
        uint32_t old = 0;
        const Status s = enea_buffer_shared_fetch_add_u32(h_.get(), offset, value, &old);
        return detail::make(s, old);
    }
    // No timeout: wait for as long as it takes. ENEA_BUFFER_ERR_TIMEOUT if it ran out.
    Result<uint32_t> wait_change(std::size_t offset, uint32_t old_value,
                                 std::optional<std::chrono::milliseconds> timeout) const {
        uint32_t v = 0;
        const uint32_t ms = timeout ? detail::millis(*timeout) : ENEA_BUFFER_FOREVER;
        const Status s = enea_buffer_shared_wait_change(h_.get(), offset, old_value, ms, &v);
        return detail::make(s, v);
    }
    // wait_change, first polling the word for up to `spin` (never past the timeout).
    Result<uint32_t> wait_change_spin(std::size_t offset, uint32_t old_value,
                                      std::optional<std::chrono::milliseconds> timeout,
                                      std::chrono::microseconds spin) const {
        uint32_t v = 0;
        const uint32_t ms = timeout ? detail::millis(*timeout) : ENEA_BUFFER_FOREVER;
        const Status s = enea_buffer_shared_wait_change_spin(h_.get(), offset, old_value, ms,
                                                             detail::micros(spin), &v);
        return detail::make(s, v);
    }
    Result<void> read_at(std::size_t offset, void *out, std::size_t len) {
        return detail::make(enea_buffer_shared_read_at(h_.get(), offset, out, len));
    }
    Result<void> write_at(std::size_t offset, const void *data, std::size_t len) {
        return detail::make(enea_buffer_shared_write_at(h_.get(), offset, data, len));
    }
    Result<void> publish(std::size_t offset, const void *data, std::size_t len,
                         std::chrono::milliseconds timeout) const {
        return detail::make(
            enea_buffer_shared_publish(h_.get(), offset, data, len, detail::millis(timeout)));
    }
    // Returns the record's sequence number.
    Result<uint32_t> snapshot(std::size_t offset, void *out, std::size_t len,
                              std::chrono::milliseconds timeout) const {
        uint32_t seq = 0;
        const Status s = enea_buffer_shared_snapshot(h_.get(), offset, out, len,
                                                        detail::millis(timeout), &seq);
        return detail::make(s, seq);
    }

private:
    friend class Connection;
    explicit SharedBuffer(enea_buffer_shared *h) : h_(h) {}
    detail::Owned<enea_buffer_shared, enea_buffer_shared_close> h_;
};

// A read-only mapping (enea_buffer_read_only): every call may run
// concurrently with any other.
class ReadOnlyBuffer {
public:
    std::size_t size() const {
        std::size_t n = 0;
        enea_buffer_read_only_size(h_.get(), &n);  // cannot fail on a live handle
        return n;
    }
    Result<FileIdentity> identity() const {
        FileIdentity id{};
        const Status s = enea_buffer_read_only_identity(h_.get(), &id);
        return detail::make(s, id);
    }
    Result<uint32_t> load(std::size_t offset) const {
        uint32_t v = 0;
        const Status s = enea_buffer_read_only_load_u32(h_.get(), offset, &v);
        return detail::make(s, v);
    }
    Result<void> read_at(std::size_t offset, void *out, std::size_t len) const {
        return detail::make(enea_buffer_read_only_read_at(h_.get(), offset, out, len));
    }
    Result<uint32_t> snapshot(std::size_t offset, void *out, std::size_t len,
                              std::chrono::milliseconds timeout) const {
        uint32_t seq = 0;
        const Status s = enea_buffer_read_only_snapshot(h_.get(), offset, out, len,
                                                           detail::millis(timeout), &seq);
        return detail::make(s, seq);
    }

private:
    friend class Connection;
    explicit ReadOnlyBuffer(enea_buffer_read_only *h) : h_(h) {}
    detail::Owned<enea_buffer_read_only, enea_buffer_read_only_close> h_;
};

// A registered death callback; destroying it cancels the callback.
class DeathWatch {
private:
    friend class Connection;
    explicit DeathWatch(enea_buffer_death_watch *h) : h_(h) {}
    detail::Owned<enea_buffer_death_watch, enea_buffer_death_watch_close> h_;
};

// A connection to the service (enea_buffer_connection). Thread-safe.
// Mappings made from it stay valid after it is destroyed.
class Connection {
public:
    static Result<Connection> connect(const ConnectOptions &options = {}) {
        enea_buffer_connect_options c{};
        c.transport = options.transport;
        c.instance = options.instance.empty() ? nullptr : options.instance.c_str();
        c.socket_path = options.socket_path.empty() ? nullptr : options.socket_path.c_str();
        c.timeout_ms = detail::millis(options.timeout);
        c.death_notifications = options.death_notifications;
        enea_buffer_connection *h = nullptr;
        const Status s = enea_buffer_connect(&c, &h);
        if (s != ENEA_BUFFER_OK) return last_error(s);
        return Connection(h);
    }

    std::size_t size() const {
        std::size_t n = 0;
        enea_buffer_connection_size(h_.get(), &n);  // cannot fail on a live handle
        return n;
    }
    int32_t interface_version() const {
        int32_t v = 0;
        enea_buffer_connection_interface_version(h_.get(), &v);
        return v;
    }
    bool is_alive() const {
        bool alive = false;
        enea_buffer_connection_is_alive(h_.get(), &alive);
        return alive;
    }
    // callback(context) runs once, on a library thread, when the service dies.
    Result<DeathWatch> on_death(enea_buffer_death_callback callback, void *context) const {
        enea_buffer_death_watch *w = nullptr;
        const Status s = enea_buffer_connection_on_death(h_.get(), callback, context, &w);
        if (s != ENEA_BUFFER_OK) return last_error(s);
        return DeathWatch(w);
    }
    Result<SharedBuffer> map(bool populate = false) const {
        enea_buffer_shared *b = nullptr;
        const Status s = enea_buffer_map(h_.get(), populate, &b);
        if (s != ENEA_BUFFER_OK) return last_error(s);
        return SharedBuffer(b);
    }
    Result<ReadOnlyBuffer> map_read_only() const {
        enea_buffer_read_only *b = nullptr;
        const Status s = enea_buffer_map_read_only(h_.get(), &b);
        if (s != ENEA_BUFFER_OK) return last_error(s);
        return ReadOnlyBuffer(b);
    }

private:
    explicit Connection(enea_buffer_connection *h) : h_(h) {}
    detail::Owned<enea_buffer_connection, enea_buffer_connection_close> h_;
};

}  // namespace enea::buffer

#endif  // ENEA_BUFFER_CLIENT_HPP
