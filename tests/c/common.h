/* Shared by the C test programs: report a failed call and exit 1. */
#ifndef ENEA_TEST_COMMON_H
#define ENEA_TEST_COMMON_H

#include <enea/buffer/enea_buffer_client.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Prints "<what>: <STATUS NAME>: <message>" on stderr and exits 1. */
static inline void die(const char *what, enea_buffer_status status) {
    char message[512];
    enea_buffer_last_error(message, sizeof message);
    fprintf(stderr, "%s: %s: %s\n", what, enea_buffer_status_name(status), message);
    exit(1);
}

/* Calls `call`; dies naming it unless it returned ENEA_BUFFER_OK. */
#define CHECK(call)                                   \
    do {                                              \
        enea_buffer_status check_status_ = (call);    \
        if (check_status_ != ENEA_BUFFER_OK)          \
            die(#call, check_status_);                \
    } while (0)

/* Options for `target`: "binder" (kernel binder, through the service
 * manager), else the path of the daemon's socket. */
static inline enea_buffer_connect_options target_options(const char *target) {
    enea_buffer_connect_options options = {0};
    if (strcmp(target, "binder") == 0) {
        options.transport = ENEA_BUFFER_TRANSPORT_BINDER;
    } else {
        options.transport = ENEA_BUFFER_TRANSPORT_SOCKET;
        options.socket_path = target;
    }
    options.timeout_ms = 5000;
    return options;
}

#endif
