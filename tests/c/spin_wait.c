/* A spinning wait through the C API: prints "ready <word 0>", waits with
 * no timeout for word 0 to change, polling it for up to SPIN_US
 * microseconds before it sleeps, and prints "changed <new value>".
 * Usage: spin_wait binder|SOCKET SPIN_US */
#include "common.h"

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s binder|SOCKET SPIN_US\n", argv[0]);
        return 2;
    }
    const uint32_t spin_us = (uint32_t)strtoul(argv[2], NULL, 10);
    enea_buffer_connect_options options = target_options(argv[1]);
    enea_buffer_connection *connection = NULL;
    enea_buffer_shared *rw = NULL;
    CHECK(enea_buffer_connect(&options, &connection));
    CHECK(enea_buffer_map(connection, false, &rw));
    enea_buffer_connection_close(connection);

    uint32_t word = 0;
    CHECK(enea_buffer_shared_load_u32(rw, 0, &word));
    printf("ready %#010x\n", word);
    fflush(stdout);
    CHECK(enea_buffer_shared_wait_change_spin(rw, 0, word, ENEA_BUFFER_FOREVER, spin_us, &word));
    printf("changed %#010x\n", word);
    enea_buffer_shared_close(rw);
    return 0;
}
