/* waiters: hold N long-poll requests on one agent and count their answers.
 *
 *   waiters HOST PORT N PATH TIMEOUT_S
 *
 * Opens N connections (non-blocking, epoll), sends `GET PATH` on each, prints
 * "sent N" once every request is written, then reads until every connection got an
 * answer (or TIMEOUT_S passes) and prints "answered A status200=X status503=Y
 * other=Z errors=E last_answer_ms=T" (T from "go" on stdin, if given, to the last
 * answer). Bounded in count and time; loopback only. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

enum { CONNECTING, SENT, ANSWERED, FAILED };

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: waiters HOST PORT N PATH TIMEOUT_S\n");
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]), n = atoi(argv[3]);
    const char *path = argv[4];
    double timeout_ms = atof(argv[5]) * 1000;
    if (n < 1 || n > 100000) { fprintf(stderr, "N must be 1..100000\n"); return 2; }
    struct rlimit rl = {n + 64, n + 64};
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) { perror("setrlimit (run as root or raise ulimit -n)"); return 2; }

    char request[1024];
    int request_len = snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &addr.sin_addr);

    int ep = epoll_create1(0);
    int *fds = calloc(n, sizeof(int));
    char *state = calloc(n, 1);
    int sent = 0, answered = 0, failed = 0, s200 = 0, s503 = 0, other = 0;
    struct epoll_event events[1024];
    double start = now_ms();
    int opened = 0;
    /* Connect in slices so the agent's accept queue is never overrun. */
    while (sent + failed < n && now_ms() - start < timeout_ms) {
        while (opened < n && opened - sent - failed < 256) {
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd < 0) { perror("socket"); return 2; }
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0 && errno != EINPROGRESS) {
                perror("connect");
                return 2;
            }
            fds[opened] = fd;
            struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.u32 = opened};
            epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
            opened++;
        }
        int k = epoll_wait(ep, events, 1024, 100);
        for (int i = 0; i < k; i++) {
            int c = events[i].data.u32;
            if (state[c] != CONNECTING) continue;
            if (events[i].events & (EPOLLERR | EPOLLHUP)) { state[c] = FAILED; failed++; continue; }
            if (write(fds[c], request, request_len) != request_len) { state[c] = FAILED; failed++; continue; }
            state[c] = SENT;
            sent++;
            struct epoll_event ev = {.events = EPOLLIN, .data.u32 = c};
            epoll_ctl(ep, EPOLL_CTL_MOD, fds[c], &ev);
        }
    }
    printf("sent %d failed %d connect_ms %.0f\n", sent, failed, now_ms() - start);
    fflush(stdout);

    /* "go" on stdin marks the moment the change is triggered (client-side view). */
    char line[64];
    double go = 0;
    if (fgets(line, sizeof line, stdin)) go = now_ms();
    double last = go, deadline = now_ms() + timeout_ms;
    char buf[4096];
    while (answered + failed < n && now_ms() < deadline) {
        int k = epoll_wait(ep, events, 1024, 100);
        for (int i = 0; i < k; i++) {
            int c = events[i].data.u32;
            if (state[c] != SENT) continue;
            ssize_t r = read(fds[c], buf, sizeof buf - 1);
            if (r <= 0) { state[c] = FAILED; failed++; continue; }
            buf[r] = 0;
            state[c] = ANSWERED;
            answered++;
            last = now_ms();
            if (strncmp(buf, "HTTP/1.1 200", 12) == 0) s200++;
            else if (strncmp(buf, "HTTP/1.1 503", 12) == 0) s503++;
            else other++;
        }
    }
    printf("answered %d status200 %d status503 %d other %d errors %d last_answer_ms %.1f\n",
           answered, s200, s503, other, failed, last - go);
    for (int i = 0; i < opened; i++) close(fds[i]);
    return 0;
}
