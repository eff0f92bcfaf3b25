// See include/CSystemd.h: the notify protocol and watchdog variables natively, sd-bus
// through dlopen of libsystemd.so.0 on first use.
#define _GNU_SOURCE
#include "CSystemd.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

// MARK: notify protocol (sd_notify(3))

int baton_sd_notify(int unset_environment, const char *state) {
    const char *path = getenv("NOTIFY_SOCKET");
    int result = 0;
    if (path == NULL || path[0] == '\0') goto done;
    size_t length = strlen(path);
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    // An absolute path, or "@name" for the abstract namespace (leading NUL, no trailing one).
    if ((path[0] != '/' && path[0] != '@') || length < 2 || length >= sizeof(address.sun_path)) {
        result = -EINVAL;
        goto done;
    }
    memcpy(address.sun_path, path, length);
    socklen_t address_length = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + length);
    if (path[0] == '@') {
        address.sun_path[0] = '\0';
    } else {
        address_length += 1;  // the path's terminating NUL
    }
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        result = -errno;
        goto done;
    }
    ssize_t sent;
    do {
        sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (const struct sockaddr *)&address, address_length);
    } while (sent < 0 && errno == EINTR);
    result = sent < 0 ? -errno : 1;
    close(fd);
done:
    if (unset_environment) unsetenv("NOTIFY_SOCKET");
    return result;
}

// parse_decimal reads a whole unsigned decimal (no sign, no spaces, no overflow).
static int parse_decimal(const char *text, uint64_t *out) {
    if (text == NULL || text[0] == '\0') return -EINVAL;
    uint64_t value = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9') return -EINVAL;
        unsigned digit = (unsigned)(*p - '0');
        if (value > (UINT64_MAX - digit) / 10) return -ERANGE;
        value = value * 10 + digit;
    }
    *out = value;
    return 0;
}

int baton_sd_watchdog_enabled(int unset_environment, uint64_t *usec) {
    int result = 0;
    uint64_t microseconds = 0;
    const char *usec_text = getenv("WATCHDOG_USEC");
    if (usec_text == NULL) goto done;
    if (parse_decimal(usec_text, &microseconds) < 0 || microseconds == 0 || microseconds == UINT64_MAX) {
        result = -EINVAL;
        goto done;
    }
    const char *pid_text = getenv("WATCHDOG_PID");
    if (pid_text != NULL) {
        uint64_t pid = 0;
        if (parse_decimal(pid_text, &pid) < 0 || pid == 0 || pid > INT32_MAX) {
            result = -EINVAL;
            goto done;
        }
        if ((pid_t)pid != getpid()) goto done;  // meant for another process: off for us
    }
    if (usec) *usec = microseconds;
    result = 1;
done:
    if (unset_environment) {
        unsetenv("WATCHDOG_USEC");
        unsetenv("WATCHDOG_PID");
    }
    return result;
}

// MARK: sd-bus, loaded on first use

static struct {
    int (*open_system)(baton_sd_bus **);
    int (*open_user)(baton_sd_bus **);
    int (*new_bus)(baton_sd_bus **);
    int (*set_address)(baton_sd_bus *, const char *);
    int (*set_bus_client)(baton_sd_bus *, int);
    int (*start)(baton_sd_bus *);
    void (*close_bus)(baton_sd_bus *);
    baton_sd_bus *(*unref)(baton_sd_bus *);
    int (*set_method_call_timeout)(baton_sd_bus *, uint64_t);
    int (*match_signal)(baton_sd_bus *, baton_sd_bus_slot **, const char *, const char *, const char *, const char *,
                        baton_sd_bus_message_handler_t, void *);
    baton_sd_bus_slot *(*slot_unref)(baton_sd_bus_slot *);
    int (*process)(baton_sd_bus *, baton_sd_bus_message **);
    int (*wait)(baton_sd_bus *, uint64_t);
    int (*message_new_method_call)(baton_sd_bus *, baton_sd_bus_message **, const char *, const char *, const char *,
                                   const char *);
    baton_sd_bus_message *(*message_unref)(baton_sd_bus_message *);
    int (*call)(baton_sd_bus *, baton_sd_bus_message *, uint64_t, baton_sd_bus_error *, baton_sd_bus_message **);
    int (*message_read_basic)(baton_sd_bus_message *, char, void *);
    void (*error_free)(baton_sd_bus_error *);
    int (*message_read)(baton_sd_bus_message *, const char *, ...);
    int (*message_append)(baton_sd_bus_message *, const char *, ...);
} bus;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static const char *load_problem = "libsystemd was not loaded";
static int loaded = 0;

static void load(void) {
    void *library = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        load_problem = "cannot load libsystemd.so.0 (Debian: apt-get install libsystemd0)";
        return;
    }
    struct {
        const char *name;
        void **slot;
    } symbols[] = {
        {"sd_bus_open_system", (void **)&bus.open_system},
        {"sd_bus_open_user", (void **)&bus.open_user},
        {"sd_bus_new", (void **)&bus.new_bus},
        {"sd_bus_set_address", (void **)&bus.set_address},
        {"sd_bus_set_bus_client", (void **)&bus.set_bus_client},
        {"sd_bus_start", (void **)&bus.start},
        {"sd_bus_close", (void **)&bus.close_bus},
        {"sd_bus_unref", (void **)&bus.unref},
        {"sd_bus_set_method_call_timeout", (void **)&bus.set_method_call_timeout},
        {"sd_bus_match_signal", (void **)&bus.match_signal},
        {"sd_bus_slot_unref", (void **)&bus.slot_unref},
        {"sd_bus_process", (void **)&bus.process},
        {"sd_bus_wait", (void **)&bus.wait},
        {"sd_bus_message_new_method_call", (void **)&bus.message_new_method_call},
        {"sd_bus_message_unref", (void **)&bus.message_unref},
        {"sd_bus_call", (void **)&bus.call},
        {"sd_bus_message_read_basic", (void **)&bus.message_read_basic},
        {"sd_bus_error_free", (void **)&bus.error_free},
        {"sd_bus_message_read", (void **)&bus.message_read},
        {"sd_bus_message_append", (void **)&bus.message_append},
    };
    for (size_t i = 0; i < sizeof(symbols) / sizeof(symbols[0]); i++) {
        void *address = dlsym(library, symbols[i].name);
        if (address == NULL) {
            // sd_bus_set_method_call_timeout needs systemd 240 (2018); older is not supported.
            load_problem = "libsystemd.so.0 lacks an sd-bus function Baton needs (systemd 240 or later is required)";
            return;
        }
        *symbols[i].slot = address;
    }
    loaded = 1;  // the library stays loaded for the life of the process
}

int baton_sd_bus_load(const char **why) {
    pthread_once(&load_once, load);
    if (!loaded && why) *why = load_problem;
    return loaded ? 0 : -ENOSYS;
}

#define REQUIRE_BUS() \
    do { \
        if (baton_sd_bus_load(NULL) < 0) return -ENOSYS; \
    } while (0)

int baton_sd_bus_open_system(baton_sd_bus **ret) { REQUIRE_BUS(); return bus.open_system(ret); }
int baton_sd_bus_open_user(baton_sd_bus **ret) { REQUIRE_BUS(); return bus.open_user(ret); }
int baton_sd_bus_new(baton_sd_bus **ret) { REQUIRE_BUS(); return bus.new_bus(ret); }
int baton_sd_bus_set_address(baton_sd_bus *b, const char *address) { REQUIRE_BUS(); return bus.set_address(b, address); }
int baton_sd_bus_set_bus_client(baton_sd_bus *b, int client) { REQUIRE_BUS(); return bus.set_bus_client(b, client); }
int baton_sd_bus_start(baton_sd_bus *b) { REQUIRE_BUS(); return bus.start(b); }
int baton_sd_bus_set_method_call_timeout(baton_sd_bus *b, uint64_t usec) {
    REQUIRE_BUS();
    return bus.set_method_call_timeout(b, usec);
}
int baton_sd_bus_match_signal(baton_sd_bus *b, baton_sd_bus_slot **ret, const char *sender, const char *path,
                              const char *interface, const char *member, baton_sd_bus_message_handler_t callback,
                              void *userdata) {
    REQUIRE_BUS();
    return bus.match_signal(b, ret, sender, path, interface, member, callback, userdata);
}
int baton_sd_bus_process(baton_sd_bus *b, baton_sd_bus_message **ret) { REQUIRE_BUS(); return bus.process(b, ret); }
int baton_sd_bus_wait(baton_sd_bus *b, uint64_t timeout_usec) { REQUIRE_BUS(); return bus.wait(b, timeout_usec); }
int baton_sd_bus_message_new_method_call(baton_sd_bus *b, baton_sd_bus_message **m, const char *destination,
                                         const char *path, const char *interface, const char *member) {
    REQUIRE_BUS();
    return bus.message_new_method_call(b, m, destination, path, interface, member);
}
int baton_sd_bus_call(baton_sd_bus *b, baton_sd_bus_message *m, uint64_t usec, baton_sd_bus_error *ret_error,
                      baton_sd_bus_message **reply) {
    REQUIRE_BUS();
    return bus.call(b, m, usec, ret_error, reply);
}
int baton_sd_bus_message_read_basic(baton_sd_bus_message *m, char type, void *p) {
    REQUIRE_BUS();
    return bus.message_read_basic(m, type, p);
}
int baton_sd_bus_read_job_removed(baton_sd_bus_message *m, uint32_t *id, const char **job, const char **unit,
                                  const char **result) {
    REQUIRE_BUS();
    return bus.message_read(m, "uoss", id, job, unit, result);
}
int baton_sd_bus_append_unit_and_mode(baton_sd_bus_message *m, const char *unit, const char *mode) {
    REQUIRE_BUS();
    return bus.message_append(m, "ss", unit, mode);
}

// The releasing functions are only ever given objects that a loaded libsystemd made.
void baton_sd_bus_close(baton_sd_bus *b) { if (loaded && b) bus.close_bus(b); }
void baton_sd_bus_unref(baton_sd_bus *b) { if (loaded && b) bus.unref(b); }
void baton_sd_bus_slot_unref(baton_sd_bus_slot *slot) { if (loaded && slot) bus.slot_unref(slot); }
void baton_sd_bus_message_unref(baton_sd_bus_message *m) { if (loaded && m) bus.message_unref(m); }
void baton_sd_bus_error_free(baton_sd_bus_error *e) { if (loaded && e) bus.error_free(e); }
