// Shared by the C++ test programs.
#ifndef ENEA_TEST_COMMON_HPP
#define ENEA_TEST_COMMON_HPP

#include <enea/buffer/enea_buffer_client.hpp>

#include <string>

// Options for `target`: "binder" (kernel binder, through the service
// manager), else the path of the daemon's socket.
inline enea::buffer::ConnectOptions target_options(const char *target) {
    enea::buffer::ConnectOptions options;
    if (std::string(target) == "binder") {
        options.transport = ENEA_BUFFER_TRANSPORT_BINDER;
    } else {
        options.transport = ENEA_BUFFER_TRANSPORT_SOCKET;
        options.socket_path = target;
    }
    return options;
}

#endif
