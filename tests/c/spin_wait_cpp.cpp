// spin_wait.c through the C++ API (SharedBuffer::wait_change_spin): prints
// "ready <word 0>", waits with no timeout for word 0 to change, polling it
// for up to SPIN_US microseconds first, and prints "changed <new value>".
// Usage: spin_wait_cpp binder|SOCKET SPIN_US
#include <enea/buffer/enea_buffer_client.hpp>

#include "common.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

using namespace enea::buffer;

static int fail(const char *what, const Error &e) {
    std::fprintf(stderr, "%s: %s: %s\n", what, e.name(), e.message.c_str());
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s binder|SOCKET SPIN_US\n", argv[0]);
        return 2;
    }
    ConnectOptions options = target_options(argv[1]);
    const std::chrono::microseconds spin{std::strtoull(argv[2], nullptr, 10)};

    auto conn = Connection::connect(options);
    if (!conn) return fail("connect", conn.error());
    auto rw = conn->map();
    if (!rw) return fail("map", rw.error());
    auto word = rw->load(0);
    if (!word) return fail("load", word.error());
    std::printf("ready %#010x\n", *word);
    std::fflush(stdout);
    auto changed = rw->wait_change_spin(0, *word, std::nullopt, spin);
    if (!changed) return fail("wait_change_spin", changed.error());
    std::printf("changed %#010x\n", *changed);
    return 0;
}
