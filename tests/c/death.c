/* The death callback through the C ABI. Registers two callbacks and closes
 * the second at once, prints "ready ...", then waits (bounded) for the
 * service to die -- the test kills it -- and reports what it saw:
 *   ready value=<word 0> alive=1 calls=0
 *   died calls=1
 *   map <STATUS NAME>
 *   map_read_only <STATUS NAME>
 *   alive 0
 *   old value=<word 0>
 *   closed calls=<callbacks run> cancelled_calls=<closed watch's runs>
 * or "no_callback" if none came within 60 s. Usage: death binder|SOCKET */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */

#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "common.h"

/* Guards every count; main waits on `woken` for the first callback. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t woken = PTHREAD_COND_INITIALIZER;

/* A callback's context: how often it ran. */
struct watched {
    int calls;
};

/* The death callback: count the run and wake main. */
static void on_death(void *context) {
    struct watched *w = context;
    pthread_mutex_lock(&lock);
    w->calls++;
    pthread_cond_broadcast(&woken);
    pthread_mutex_unlock(&lock);
}

/* A callback's run count, read under the lock. */
static int calls(const struct watched *w) {
    pthread_mutex_lock(&lock);
    int n = w->calls;
    pthread_mutex_unlock(&lock);
    return n;
}

/* Waits up to `seconds` for any callback to run; false if none did. */
static bool wait_for_callback(const struct watched *a, const struct watched *b, int seconds) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += seconds;
    pthread_mutex_lock(&lock);
    int rc = 0;
    while (a->calls == 0 && b->calls == 0 && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&woken, &lock, &deadline);
    bool ran = a->calls != 0 || b->calls != 0;
    pthread_mutex_unlock(&lock);
    return ran;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s binder|SOCKET\n", argv[0]);
        return 2;
    }
    struct watched counted = {0};
    struct watched cancelled = {0};

    enea_buffer_connect_options options = target_options(argv[1]);
    options.death_notifications = true;
    enea_buffer_connection *connection = NULL;
    CHECK(enea_buffer_connect(&options, &connection));
    enea_buffer_shared *buffer = NULL;
    CHECK(enea_buffer_map(connection, false, &buffer));
    enea_buffer_death_watch *watch = NULL;
    CHECK(enea_buffer_connection_on_death(connection, on_death, &counted, &watch));
    /* Closing a watch cancels its callback. */
    enea_buffer_death_watch *closed = NULL;
    CHECK(enea_buffer_connection_on_death(connection, on_death, &cancelled, &closed));
    enea_buffer_death_watch_close(closed);

    uint32_t word = 0;
    bool alive = false;
    CHECK(enea_buffer_shared_load_u32(buffer, 0, &word));
    CHECK(enea_buffer_connection_is_alive(connection, &alive));
    printf("ready value=0x%08x alive=%d calls=%d\n", word, alive, calls(&counted));
    fflush(stdout);

    if (!wait_for_callback(&counted, &cancelled, 60)) {
        printf("no_callback\n");
        return 1;
    }
    printf("died calls=%d\n", calls(&counted));

    /* Calls to the dead service fail; the mapping made before outlives it. */
    enea_buffer_shared *again = NULL;
    printf("map %s\n", enea_buffer_status_name(enea_buffer_map(connection, false, &again)));
    enea_buffer_read_only *ro = NULL;
    printf("map_read_only %s\n",
           enea_buffer_status_name(enea_buffer_map_read_only(connection, &ro)));
    CHECK(enea_buffer_connection_is_alive(connection, &alive));
    printf("alive %d\n", alive);
    CHECK(enea_buffer_shared_load_u32(buffer, 0, &word));
    printf("old value=0x%08x\n", word);

    /* Closing the watch cancels its callback; the counts are read after. */
    enea_buffer_death_watch_close(watch);
    printf("closed calls=%d cancelled_calls=%d\n", calls(&counted), calls(&cancelled));
    enea_buffer_shared_close(buffer);
    enea_buffer_connection_close(connection);
    return 0;
}
