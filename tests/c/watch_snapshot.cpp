// Watches word 0 through the C++ API and, on each change, snapshots the
// record at OFFSET through a read-write and a read-only mapping. Prints
// "ready <word>", then one line per change. Usage:
//   watch_snapshot binder|SOCKET OFFSET LEN COUNT
#include <enea/buffer/enea_buffer_client.hpp>

#include "common.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

using namespace enea::buffer;
using namespace std::chrono_literals;

static int fail(const char *what, const Error &e) {
    std::fprintf(stderr, "%s: %s: %s\n", what, e.name(), e.message.c_str());
    return 1;
}

static std::string hex(const std::vector<unsigned char> &bytes) {
    std::string out;
    char two[3];
    for (unsigned char b : bytes) {
        std::snprintf(two, sizeof two, "%02x", b);
        out += two;
    }
    return out;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: %s binder|SOCKET OFFSET LEN COUNT\n", argv[0]);
        return 2;
    }
    ConnectOptions options = target_options(argv[1]);
    const std::size_t offset = std::strtoul(argv[2], nullptr, 10);
    const std::size_t len = std::strtoul(argv[3], nullptr, 10);
    const unsigned long count = std::strtoul(argv[4], nullptr, 10);

    auto connected = Connection::connect(options);
    if (!connected) return fail("connect", connected.error());
    // Move-only handles: the moved-from one is empty, and using it is
    // refused (INVALID_ARGUMENT), not undefined.
    Connection conn = std::move(connected.value());
    auto moved_from = connected->map();
    std::printf("moved_from size=%zu map=%s\n", connected->size(),
                enea_buffer_status_name(moved_from.status()));

    auto rw = conn.map();
    if (!rw) return fail("map", rw.error());
    auto ro = conn.map_read_only();
    if (!ro) return fail("map_read_only", ro.error());
    auto first = rw->load(0);
    if (!first) return fail("load", first.error());
    uint32_t last = *first;
    std::printf("ready 0x%08x\n", last);
    std::fflush(stdout);

    std::vector<unsigned char> a(len), b(len);
    for (unsigned long i = 0; i < count; i++) {
        auto changed = rw->wait_change(0, last, 30s);
        if (!changed) return fail("wait_change", changed.error());
        last = *changed;
        auto seq = rw->snapshot(offset, a.data(), len, 5s);
        if (!seq) return fail("snapshot", seq.error());
        auto ro_seq = ro->snapshot(offset, b.data(), len, 5s);
        if (!ro_seq) return fail("read-only snapshot", ro_seq.error());
        std::printf("change word=0x%08x seq=%u ro_seq=%u same=%d payload=%s\n", last, *seq,
                    *ro_seq, a == b, hex(a).c_str());
        std::fflush(stdout);
    }
    return 0;
}
