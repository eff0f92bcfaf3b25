/* flood.c — a connection flood against Baton's peer ports, for bench/peer-flood.
 *
 *   flood --ports P1,P2,P3 [--rate 2000] [--seconds 60] [--hold-ms 2000] [--sources 1]
 *
 * Opens --rate new TCP connections per second to EACH port (paced every millisecond),
 * from one thread on epoll, and keeps each until the server closes it or --hold-ms
 * passes. Connections take turns at three behaviours a stranger can have:
 *   silent  - connects and never speaks (application-level half-open);
 *   garbage - sends 64 random bytes;
 *   partial - sends a valid frame header announcing a 2,000-byte hello, then nothing.
 * Every close is an RST (SO_LINGER 0), so neither side keeps TIME_WAIT sockets and the
 * ephemeral ports last. --sources N spreads the connections over 127.0.1.1..N (default:
 * all from 127.0.0.1, the members' own address: the hardest case for per-source limits).
 * On SIGTERM/SIGINT or after --seconds it prints one JSON line with what it achieved.
 * Loopback only: it refuses any other target.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PORTS 16
#define MAX_OPEN 60000

static volatile sig_atomic_t stopping = 0;
static void on_signal(int sig) { (void)sig; stopping = 1; }

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct conn { int fd; uint8_t mode; uint8_t connected; uint64_t opened_ns; };
static struct conn *conns;          /* indexed by fd */
static int ring[MAX_OPEN];          /* fds in opening order, for the hold timeout */
static uint64_t ring_opened[MAX_OPEN];
static int ring_head, ring_len;
static int epfd, open_count;
static uint64_t attempted, connected, failed, closed_by_server, closed_by_us, sent_bytes;

static void drop(int fd, int by_server) {
    if (conns[fd].fd != fd) return;
    epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    conns[fd].fd = -1;
    open_count--;
    if (by_server) closed_by_server++; else closed_by_us++;
}

static void on_connected(int fd) {
    struct conn *c = &conns[fd];
    c->connected = 1;
    connected++;
    if (c->mode == 1) {
        uint8_t junk[64];
        for (int i = 0; i < 64; i++) junk[i] = (uint8_t)rand();
        ssize_t n = send(fd, junk, sizeof junk, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) sent_bytes += (uint64_t)n;
    } else if (c->mode == 2) {
        /* "BTN1", version 2, type hello, flags 0, length 2000 (LE): then silence. */
        uint8_t head[12] = {'B', 'T', 'N', '1', 2, 1, 0, 0, 0xD0, 0x07, 0, 0};
        ssize_t n = send(fd, head, sizeof head, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) sent_bytes += (uint64_t)n;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = fd};
    epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
}

static void open_one(const struct sockaddr_in *to, const struct sockaddr_in *from, uint8_t mode) {
    attempted++;
    if (open_count >= MAX_OPEN - 16 || ring_len >= MAX_OPEN) { failed++; return; }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { failed++; return; }
    if (fd >= MAX_OPEN + 64) { close(fd); failed++; return; }
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    if (from && bind(fd, (const struct sockaddr *)from, sizeof *from) != 0) { close(fd); failed++; return; }
    int r = connect(fd, (const struct sockaddr *)to, sizeof *to);
    if (r != 0 && errno != EINPROGRESS) { close(fd); failed++; return; }
    conns[fd] = (struct conn){.fd = fd, .mode = mode, .connected = 0, .opened_ns = now_ns()};
    open_count++;
    int slot = (ring_head + ring_len) % MAX_OPEN;
    ring[slot] = fd; ring_opened[slot] = conns[fd].opened_ns; ring_len++;
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.fd = fd};
    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
    if (r == 0) on_connected(fd);
}

int main(int argc, char **argv) {
    int ports[MAX_PORTS], nports = 0, sources = 0;
    double rate = 2000, seconds = 60, hold_ms = 2000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--ports")) {
            for (char *p = strtok(argv[i + 1], ","); p && nports < MAX_PORTS; p = strtok(NULL, ",")) ports[nports++] = atoi(p);
        } else if (!strcmp(argv[i], "--rate")) rate = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--hold-ms")) hold_ms = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--sources")) sources = atoi(argv[i + 1]);
        else { fprintf(stderr, "flood: unknown flag %s\n", argv[i]); return 2; }
    }
    if (nports == 0 || rate <= 0 || seconds <= 0 || sources < 0 || sources > 250) {
        fprintf(stderr, "usage: flood --ports P1,P2 [--rate N] [--seconds S] [--hold-ms MS] [--sources 0..250]\n");
        return 2;
    }
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max < MAX_OPEN + 256 ? rl.rlim_max : MAX_OPEN + 256;
    setrlimit(RLIMIT_NOFILE, &rl);
    conns = calloc(MAX_OPEN + 64, sizeof *conns);
    for (int i = 0; i < MAX_OPEN + 64; i++) conns[i].fd = -1;
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);
    epfd = epoll_create1(EPOLL_CLOEXEC);

    struct sockaddr_in to[MAX_PORTS];
    for (int i = 0; i < nports; i++) {
        to[i] = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)ports[i])};
        inet_pton(AF_INET, "127.0.0.1", &to[i].sin_addr);  /* loopback only, always */
    }
    struct sockaddr_in from[251];
    for (int s = 0; s < sources; s++) {
        char text[32];
        snprintf(text, sizeof text, "127.0.1.%d", s + 1);
        from[s] = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = 0};
        inet_pton(AF_INET, text, &from[s].sin_addr);
    }

    uint64_t start = now_ns(), per_port_opened = 0, turn = 0;
    uint64_t hold_ns = (uint64_t)(hold_ms * 1e6);
    struct epoll_event events[512];
    while (!stopping) {
        uint64_t t = now_ns();
        double elapsed = (double)(t - start) / 1e9;
        if (elapsed >= seconds) break;
        /* Pace: as many per port as the rate says by now; a flooder descheduled on a busy
         * machine catches up, but never with more than 250 ms of backlog at once. */
        uint64_t due = (uint64_t)(elapsed * rate), backlog = (uint64_t)(rate / 4) + 1;
        if (due > per_port_opened + backlog) per_port_opened = due - backlog;
        while (per_port_opened < due) {
            for (int p = 0; p < nports; p++) {
                open_one(&to[p], sources ? &from[turn % (uint64_t)sources] : NULL, (uint8_t)(turn % 3));
                turn++;
            }
            per_port_opened++;
        }
        /* Hold timeout, oldest first. */
        t = now_ns();
        while (ring_len > 0 && t - ring_opened[ring_head] >= hold_ns) {
            int fd = ring[ring_head];
            if (conns[fd].fd == fd && conns[fd].opened_ns == ring_opened[ring_head]) drop(fd, 0);
            ring_head = (ring_head + 1) % MAX_OPEN; ring_len--;
        }
        int n = epoll_wait(epfd, events, 512, 1);
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (conns[fd].fd != fd) continue;
            uint32_t e = events[i].events;
            if (!conns[fd].connected && (e & EPOLLOUT) && !(e & (EPOLLERR | EPOLLHUP))) on_connected(fd);
            if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
                char buf[4096];
                ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
                if (r == 0 || (r < 0 && errno != EAGAIN) || (e & (EPOLLHUP | EPOLLERR | EPOLLRDHUP))) {
                    if (!conns[fd].connected) failed++;
                    drop(fd, 1);
                }
            }
        }
    }
    double secs = (double)(now_ns() - start) / 1e9;
    printf("{\"seconds\": %.2f, \"ports\": %d, \"target_per_port_per_s\": %.0f, \"attempted\": %llu, "
           "\"connected\": %llu, \"failed\": %llu, \"closed_by_server\": %llu, \"closed_by_us\": %llu, "
           "\"connected_per_port_per_s\": %.1f, \"open_at_end\": %d}\n",
           secs, nports, rate, (unsigned long long)attempted, (unsigned long long)connected,
           (unsigned long long)failed, (unsigned long long)closed_by_server, (unsigned long long)closed_by_us,
           (double)connected / secs / nports, open_count);
    return 0;
}
