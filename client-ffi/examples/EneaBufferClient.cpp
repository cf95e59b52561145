// EneaBufferClient, the IEneaBuffer example's client, against the C++ API:
// get the shared buffer from the service and add one to its first word.
// The service logs the new value (Data=0xdeadcaff after the first run).
//
// Unlike the original, nothing here can crash on a hostile or missing
// service: the region is verified before it is mapped, and the word is
// accessed atomically at a checked offset, never through a raw pointer.
//
// Usage: EneaBufferClient [SOCKET]  (no argument: kernel binder, else the
// default socket; with one: that socket)
#include <enea/buffer/enea_buffer_client.hpp>

#include <cstdio>

using namespace enea::buffer;

int main(int argc, char **argv) {
    ConnectOptions options;
    if (argc > 1) {
        options.transport = ENEA_BUFFER_TRANSPORT_SOCKET;
        options.socket_path = argv[1];
    }
    auto connection = Connection::connect(options);
    if (!connection) {
        std::fprintf(stderr, "The EneaBufferServer is not published: %s\n",
                     connection.error().message.c_str());
        return 1;
    }
    auto buffer = connection->map();
    if (!buffer) {
        std::fprintf(stderr, "getBuffer: %s\n", buffer.error().message.c_str());
        return 1;
    }
    auto before = buffer->fetch_add(0, 1);
    if (!before) {
        std::fprintf(stderr, "increment: %s\n", before.error().message.c_str());
        return 1;
    }
    std::printf("EneaBufferClient Data=0x%08x -> 0x%08x\n", *before, *before + 1);
    return 0;
}
