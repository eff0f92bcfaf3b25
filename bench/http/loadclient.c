// loadclient.c: an exact-count HTTP/1.1 load client for bench/http.
//
// wrk runs for a duration, so it cannot send an exact number of requests; the allocation
// figure needs "allocations between two counter reads / requests answered in between", with
// connection setup outside the window. This client opens its connections first, then obeys
// commands on stdin, one per line, answering one line on stdout each:
//
//   run N            send exactly N requests spread over the connections (each kept alive,
//                    up to DEPTH pipelined), wait for all N responses
//                    -> "ok <responses> <non-200> <seconds>"
//   latency N SECS   sequential requests on connection 0, one at a time, until N requests or
//                    SECS seconds; -> "latency <count> <p50_us> <p90_us> <p99_us> <p999_us> <max_us>"
//   quit             close every connection and exit
//
// Any failure (connection closed by the server, malformed response, no progress for
// 10 seconds) prints "error <why>" and exits with status 1: a partial count is never reported.
//
// Usage: loadclient HOST PORT CONNECTIONS DEPTH PATH
// Build: gcc -O2 -o loadclient loadclient.c
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { maxConnections = 4096, maxDepth = 256, bufferCapacity = 1 << 16, stallSeconds = 10 };

struct connection {
    int fd;
    uint64_t toSend;          // requests still to be written in this run
    uint64_t inFlight;        // written, response not yet complete
    size_t pendingBytes;      // bytes of the current batch not yet written
    size_t batchBytes;        // size of the current batch
    int wantsWrite;           // EPOLLOUT registered
    size_t length;            // bytes in buffer
    char buffer[bufferCapacity];
};

static struct connection *connections;
static int connectionCount;
static int depth;
static int epollFd;
static char *requestBatch;    // `depth` copies of the request
static size_t requestBytes;

static double nowSeconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static void fail(const char *why) {
    printf("error %s (errno %d: %s)\n", why, errno, strerror(errno));
    fflush(stdout);
    exit(1);
}

// parseResponses consumes every complete response at the front of the buffer; returns the
// number consumed and adds non-200 answers to *non200. Returns -1 if the bytes are not HTTP.
static long parseResponses(struct connection *c, uint64_t *non200) {
    long complete = 0;
    size_t position = 0;
    for (;;) {
        size_t available = c->length - position;
        char *start = c->buffer + position;
        char *end = memmem(start, available, "\r\n\r\n", 4);
        if (end == NULL) {
            if (available >= bufferCapacity / 2) return -1;  // a head this large is not ours
            break;
        }
        size_t headBytes = (size_t)(end - start) + 4;
        if (headBytes < 12 || memcmp(start, "HTTP/1.", 7) != 0) return -1;
        if (memcmp(start + 9, "200", 3) != 0) (*non200)++;
        long contentLength = -1;
        for (char *line = memchr(start, '\n', headBytes); line != NULL && line < end;
             line = memchr(line + 1, '\n', (size_t)(end - line))) {
            if (strncasecmp(line + 1, "content-length:", 15) == 0) {
                contentLength = strtol(line + 16, NULL, 10);
                break;
            }
        }
        if (contentLength < 0 || contentLength > bufferCapacity / 2) return -1;
        if (available < headBytes + (size_t)contentLength) break;
        position += headBytes + (size_t)contentLength;
        complete++;
    }
    if (position > 0) {
        memmove(c->buffer, c->buffer + position, c->length - position);
        c->length -= position;
    }
    return complete;
}

static void setInterest(struct connection *c, int wantsWrite) {
    if (c->wantsWrite == wantsWrite) return;
    struct epoll_event event = {.events = EPOLLIN | (wantsWrite ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(epollFd, EPOLL_CTL_MOD, c->fd, &event) != 0) fail("epoll_ctl");
    c->wantsWrite = wantsWrite;
}

// flush writes the rest of the current batch, then starts new batches while the pipeline
// has room. Returns without blocking when the socket is full.
static void flush(struct connection *c) {
    for (;;) {
        if (c->pendingBytes == 0) {
            uint64_t room = (uint64_t)depth - c->inFlight;
            uint64_t batch = c->toSend < room ? c->toSend : room;
            if (batch == 0) break;
            c->toSend -= batch;
            c->inFlight += batch;
            c->batchBytes = c->pendingBytes = (size_t)batch * requestBytes;
        }
        ssize_t written = write(c->fd, requestBatch + (c->batchBytes - c->pendingBytes), c->pendingBytes);
        if (written < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            fail("write");
        }
        c->pendingBytes -= (size_t)written;
    }
    setInterest(c, c->pendingBytes > 0);
}

static void runExactly(uint64_t total) {
    uint64_t share = total / (uint64_t)connectionCount;
    uint64_t remainder = total % (uint64_t)connectionCount;
    for (int i = 0; i < connectionCount; i++) {
        connections[i].toSend = share + ((uint64_t)i < remainder ? 1 : 0);
        connections[i].inFlight = 0;
    }
    uint64_t answered = 0, non200 = 0;
    double started = nowSeconds(), lastProgress = started;
    for (int i = 0; i < connectionCount; i++) flush(&connections[i]);
    struct epoll_event events[256];
    while (answered < total) {
        int ready = epoll_wait(epollFd, events, 256, 1000);
        if (ready < 0) {
            if (errno == EINTR) continue;
            fail("epoll_wait");
        }
        double now = nowSeconds();
        if (ready == 0 && now - lastProgress > stallSeconds) { errno = ETIMEDOUT; fail("no progress"); }
        for (int k = 0; k < ready; k++) {
            struct connection *c = events[k].data.ptr;
            if (events[k].events & EPOLLOUT) flush(c);
            if (events[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                ssize_t got = read(c->fd, c->buffer + c->length, bufferCapacity - c->length);
                if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                if (got < 0) fail("read");
                if (got == 0) { errno = ECONNRESET; fail("server closed a kept-alive connection"); }
                c->length += (size_t)got;
                long complete = parseResponses(c, &non200);
                if (complete < 0) { errno = EPROTO; fail("malformed response"); }
                if ((uint64_t)complete > c->inFlight) { errno = EPROTO; fail("more responses than requests"); }
                c->inFlight -= (uint64_t)complete;
                answered += (uint64_t)complete;
                if (complete > 0) { lastProgress = now; flush(c); }
            }
        }
    }
    printf("ok %llu %llu %.6f\n", (unsigned long long)answered, (unsigned long long)non200, nowSeconds() - started);
    fflush(stdout);
}

static int compareDoubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// latency: one request at a time on connection 0, timing each from write to complete answer.
static void measureLatency(uint64_t maximum, double seconds) {
    if (maximum == 0 || maximum > 10000000) maximum = 10000000;
    double *samples = malloc(sizeof(double) * (size_t)maximum);
    if (samples == NULL) fail("malloc");
    struct connection *c = &connections[0];
    struct epoll_event events[4];
    uint64_t count = 0, non200 = 0;
    double deadline = nowSeconds() + seconds;
    while (count < maximum && nowSeconds() < deadline) {
        double started = nowSeconds();
        c->toSend = 1;
        c->inFlight = 0;
        flush(c);
        while (c->inFlight > 0 || c->pendingBytes > 0) {
            int ready = epoll_wait(epollFd, events, 4, 1000);
            if (ready < 0 && errno == EINTR) continue;
            if (ready < 0) fail("epoll_wait");
            if (nowSeconds() - started > stallSeconds) { errno = ETIMEDOUT; fail("no answer"); }
            for (int k = 0; k < ready; k++) {
                struct connection *e = events[k].data.ptr;
                if (e != c) continue;
                if (events[k].events & EPOLLOUT) flush(c);
                if (events[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                    ssize_t got = read(c->fd, c->buffer + c->length, bufferCapacity - c->length);
                    if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                    if (got < 0) fail("read");
                    if (got == 0) { errno = ECONNRESET; fail("server closed the probe connection"); }
                    c->length += (size_t)got;
                    long complete = parseResponses(c, &non200);
                    if (complete < 0) { errno = EPROTO; fail("malformed response"); }
                    c->inFlight -= (uint64_t)complete;
                }
            }
        }
        samples[count++] = (nowSeconds() - started) * 1e6;
    }
    qsort(samples, (size_t)count, sizeof(double), compareDoubles);
#define AT(q) (count ? samples[(size_t)((double)(count - 1) * (q))] : 0.0)
    printf("latency %llu %.1f %.1f %.1f %.1f %.1f %llu\n", (unsigned long long)count, AT(0.50), AT(0.90), AT(0.99),
           AT(0.999), count ? samples[count - 1] : 0.0, (unsigned long long)non200);
#undef AT
    fflush(stdout);
    free(samples);
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s HOST PORT CONNECTIONS DEPTH PATH\n", argv[0]);
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]);
    connectionCount = atoi(argv[3]);
    depth = atoi(argv[4]);
    const char *path = argv[5];
    if (connectionCount < 1 || connectionCount > maxConnections || depth < 1 || depth > maxDepth || port < 1) {
        fprintf(stderr, "connections must be 1...%d, depth 1...%d\n", maxConnections, maxDepth);
        return 2;
    }
    char request[512];
    int written = snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n", path, host, port);
    if (written <= 0 || (size_t)written >= sizeof request) return 2;
    requestBytes = (size_t)written;
    requestBatch = malloc(requestBytes * (size_t)depth);
    for (int i = 0; i < depth; i++) memcpy(requestBatch + (size_t)i * requestBytes, request, requestBytes);

    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &address.sin_addr) != 1) { fprintf(stderr, "HOST must be an IPv4 address\n"); return 2; }
    epollFd = epoll_create1(EPOLL_CLOEXEC);
    connections = calloc((size_t)connectionCount, sizeof(struct connection));
    if (connections == NULL || epollFd < 0) fail("setup");
    for (int i = 0; i < connectionCount; i++) {
        struct connection *c = &connections[i];
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0) fail("socket");
        if (connect(c->fd, (struct sockaddr *)&address, sizeof address) != 0) fail("connect");
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (fcntl(c->fd, F_SETFL, O_NONBLOCK) != 0) fail("fcntl");
        struct epoll_event event = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(epollFd, EPOLL_CTL_ADD, c->fd, &event) != 0) fail("epoll_ctl");
    }
    printf("connected %d\n", connectionCount);
    fflush(stdout);

    char line[256];
    while (fgets(line, sizeof line, stdin) != NULL) {
        unsigned long long n = 0;
        double seconds = 0;
        if (sscanf(line, "run %llu", &n) == 1 && n > 0) {
            runExactly(n);
        } else if (sscanf(line, "latency %llu %lf", &n, &seconds) == 2) {
            measureLatency(n, seconds);
        } else if (strncmp(line, "quit", 4) == 0) {
            break;
        } else {
            printf("error unknown command\n");
            fflush(stdout);
        }
    }
    for (int i = 0; i < connectionCount; i++) close(connections[i].fd);
    return 0;
}
