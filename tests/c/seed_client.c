/* The seed's EneaBufferClient in C: print word 0, increment it, print it
 * again. Usage: seed_client binder|SOCKET */
#include "common.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s binder|SOCKET\n", argv[0]);
        return 2;
    }
    enea_buffer_connect_options options = target_options(argv[1]);
    enea_buffer_connection *connection = NULL;
    CHECK(enea_buffer_connect(&options, &connection));
    enea_buffer_shared *buffer = NULL;
    CHECK(enea_buffer_map(connection, false, &buffer));
    /* The mapping keeps the service reachable on its own. */
    enea_buffer_connection_close(connection);

    uint32_t word = 0;
    CHECK(enea_buffer_shared_load_u32(buffer, 0, &word));
    printf("before=0x%08x\n", word);
    CHECK(enea_buffer_shared_fetch_add_u32(buffer, 0, 1, NULL));
    CHECK(enea_buffer_shared_load_u32(buffer, 0, &word));
    printf("after=0x%08x\n", word);
    enea_buffer_shared_close(buffer);
    return 0;
}
