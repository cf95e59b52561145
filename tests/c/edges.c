/* Bad arguments through the C ABI: each is refused with its status, never
 * undefined behaviour. Prints "<case> <STATUS NAME>" per case, then the
 * last-error copy checks. Usage: edges binder|SOCKET */
#include <string.h>

#include "common.h"

#define CASE(name, call) printf("%s %s\n", name, enea_buffer_status_name(call))

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s binder|SOCKET\n", argv[0]);
        return 2;
    }
    enea_buffer_connect_options options = target_options(argv[1]);
    enea_buffer_connection *connection = NULL;
    enea_buffer_shared *rw = NULL;
    enea_buffer_read_only *ro = NULL;
    uint32_t word = 0;
    size_t size = 0;
    unsigned char bytes[16] = {0};

    CASE("connect_null_out", enea_buffer_connect(&options, NULL));
    options.transport = (enea_buffer_transport)7;
    CASE("connect_bad_transport", enea_buffer_connect(&options, &connection));
    options = target_options(argv[1]);
    options.instance = "\xff\xfe";
    CASE("connect_bad_instance", enea_buffer_connect(&options, &connection));
    options = target_options(argv[1]);
    CHECK(enea_buffer_connect(&options, &connection));
    CASE("size_null_handle", enea_buffer_connection_size(NULL, &size));
    CASE("size_null_out", enea_buffer_connection_size(connection, NULL));
    CASE("map_null_connection", enea_buffer_map(NULL, false, &rw));
    CHECK(enea_buffer_map(connection, false, &rw));
    CHECK(enea_buffer_map_read_only(connection, &ro));
    CHECK(enea_buffer_shared_size(rw, &size));

    CASE("load_past_end", enea_buffer_shared_load_u32(rw, size, &word));
    CASE("load_misaligned", enea_buffer_shared_load_u32(rw, 2, &word));
    CASE("load_huge_offset", enea_buffer_shared_load_u32(rw, SIZE_MAX - 3, &word));
    CASE("ro_load_misaligned", enea_buffer_read_only_load_u32(ro, 1, &word));
    CASE("store_past_end", enea_buffer_shared_store_u32(rw, size, 1));
    CASE("read_past_end", enea_buffer_shared_read_at(rw, size - 8, bytes, 16));
    CASE("read_wrapping", enea_buffer_shared_read_at(rw, SIZE_MAX, bytes, 2));
    CASE("read_null_out", enea_buffer_shared_read_at(rw, 0, NULL, 4));
    CASE("read_null_empty", enea_buffer_shared_read_at(rw, 0, NULL, 0));
    CASE("read_huge_len", enea_buffer_shared_read_at(rw, 0, bytes, SIZE_MAX));
    CASE("write_null_data", enea_buffer_shared_write_at(rw, 0, NULL, 4));
    CASE("ro_read_past_end", enea_buffer_read_only_read_at(ro, size, bytes, 1));
    CASE("wait_null_out", enea_buffer_shared_wait_change(rw, 0, 0, 0, NULL));
    CHECK(enea_buffer_shared_load_u32(rw, 0, &word));
    CASE("wait_times_out", enea_buffer_shared_wait_change(rw, 0, word, 10, &word));
    CASE("wait_spin_null_out", enea_buffer_shared_wait_change_spin(rw, 0, 0, 0, 1, NULL));
    CASE("wait_spin_misaligned", enea_buffer_shared_wait_change_spin(rw, 2, 0, 0, 1, &word));
    /* A spin of about 71 minutes ends at the 10 ms timeout. */
    CASE("wait_spin_times_out",
         enea_buffer_shared_wait_change_spin(rw, 0, word, 10, UINT32_MAX, &word));
    CASE("publish_inside_control", enea_buffer_shared_publish(rw, 0, bytes, 8, 100));
    CASE("snapshot_past_end", enea_buffer_shared_snapshot(rw, size - 8, bytes, 16, 100, NULL));
    CASE("status_name_unknown", (enea_buffer_status)99);

    /* The last error: full length returned, the copy cut and NUL-terminated. */
    enea_buffer_shared_load_u32(rw, 2, &word);
    size_t len = enea_buffer_last_error(NULL, 0);
    char small[8];
    memset(small, 'x', sizeof small);
    size_t again = enea_buffer_last_error(small, sizeof small);
    char full[512];
    enea_buffer_last_error(full, sizeof full);
    printf("last_error len=%zu again=%zu cut=%s full=%s\n", len, again, small, full);

    enea_buffer_read_only_close(ro);
    enea_buffer_shared_close(rw);
    enea_buffer_connection_close(connection);
    /* Closing NULL is a no-op. */
    enea_buffer_shared_close(NULL);
    enea_buffer_read_only_close(NULL);
    enea_buffer_connection_close(NULL);
    enea_buffer_death_watch_close(NULL);
    return 0;
}
