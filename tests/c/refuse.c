/* Connects and maps both ways, printing one line per step:
 * "<step> OK" or "<step> <STATUS NAME> <message>". A hostile server's
 * region must be refused here, never mapped. Usage: refuse SOCKET */
#include "common.h"

static void report(const char *step, enea_buffer_status status) {
    char message[512] = "";
    if (status != ENEA_BUFFER_OK) enea_buffer_last_error(message, sizeof message);
    printf("%s %s%s%s\n", step, status == ENEA_BUFFER_OK ? "OK" : enea_buffer_status_name(status),
           status == ENEA_BUFFER_OK ? "" : " ", message);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s SOCKET\n", argv[0]);
        return 2;
    }
    enea_buffer_connect_options options = target_options(argv[1]);
    enea_buffer_connection *connection = NULL;
    enea_buffer_status status = enea_buffer_connect(&options, &connection);
    report("connect", status);
    if (status != ENEA_BUFFER_OK) return 0;

    enea_buffer_read_only *ro = NULL;
    status = enea_buffer_map_read_only(connection, &ro);
    report("map_read_only", status);
    if (status == ENEA_BUFFER_OK) {
        uint32_t word = 0;
        report("load", enea_buffer_read_only_load_u32(ro, 0, &word));
        enea_buffer_read_only_close(ro);
    }
    enea_buffer_shared *rw = NULL;
    status = enea_buffer_map(connection, true, &rw);
    report("map", status);
    if (status == ENEA_BUFFER_OK) {
        report("fetch_add", enea_buffer_shared_fetch_add_u32(rw, 0, 1, NULL));
        enea_buffer_shared_close(rw);
    }
    enea_buffer_connection_close(connection);
    return 0;
}
