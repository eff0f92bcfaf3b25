/* hookrec FILE INCARNATION — the hook the fault harness gives `baton agent`
 * (--on-change). It appends one line per run to FILE:
 *     EVENT NODE INCARNATION TERM START_BOOTTIME_NS END_BOOTTIME_NS REASON
 * from BATON_EVENT, BATON_NODE_ID, BATON_TERM and BATON_REASON, with CLOCK_BOOTTIME read
 * at start and end (in the node's time namespace; the checker converts). C rather than a
 * script so a hook costs about a millisecond on a loaded machine. One write(2) with
 * O_APPEND per line, so lines from one node never interleave. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long long boottime_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static const char *env(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : "-";
}

int main(int argc, char **argv) {
    long long start = boottime_ns();
    if (argc < 3) { fprintf(stderr, "usage: hookrec FILE INCARNATION\n"); return 2; }
    const char *sleep_ms = getenv("BFZ_HOOK_SLEEP_MS");
    if (sleep_ms) usleep((useconds_t)atoi(sleep_ms) * 1000);
    long long end = boottime_ns();
    char line[512];
    int n = snprintf(line, sizeof line, "%s %s %s %s %lld %lld %s\n", env("BATON_EVENT"),
                     env("BATON_NODE_ID"), argv[2], env("BATON_TERM"), start, end, env("BATON_REASON"));
    int fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0) { perror(argv[1]); return 1; }
    if (write(fd, line, (size_t)n) != n) { perror("write"); return 1; }
    close(fd);
    return 0;
}
