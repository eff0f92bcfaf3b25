// See include/CSystemd.h: the notify protocol and watchdog variables natively, sd-bus
// through dlopen of libsystemd.so.0 on first use. libsystemd-dev's headers are the
// declared interface: every function loaded with dlsym is typed from its declaration
// in <systemd/sd-bus.h>, and the native notify functions must have sd-daemon.h's
// signatures, so the compiler checks each call against the real API. Including the
// headers links nothing: only dlsym ever names a libsystemd symbol.
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
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

// The native implementations stand in for libsystemd's: same parameters, same result.
_Static_assert(__builtin_types_compatible_p(__typeof__(&baton_sd_notify), __typeof__(&sd_notify)),
               "baton_sd_notify must have sd_notify's signature (sd-daemon.h)");
_Static_assert(__builtin_types_compatible_p(__typeof__(&baton_sd_watchdog_enabled), __typeof__(&sd_watchdog_enabled)),
               "baton_sd_watchdog_enabled must have sd_watchdog_enabled's signature (sd-daemon.h)");
// baton_sd_bus_error crosses into libsystemd by pointer: it must be sd_bus_error's layout.
_Static_assert(sizeof(baton_sd_bus_error) == sizeof(sd_bus_error), "sd_bus_error size");
_Static_assert(offsetof(baton_sd_bus_error, name) == offsetof(sd_bus_error, name), "sd_bus_error.name");
_Static_assert(offsetof(baton_sd_bus_error, message) == offsetof(sd_bus_error, message), "sd_bus_error.message");
_Static_assert(offsetof(baton_sd_bus_error, _need_free) == offsetof(sd_bus_error, _need_free), "sd_bus_error._need_free");

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

// Every sd-bus function Baton loads: the slot's type is the header's declaration, and
// the dlsym name is the same token, so a name, a type and a call can never disagree.
#define BUS_FUNCTIONS(X) \
    X(sd_bus_open_system) \
    X(sd_bus_open_user) \
    X(sd_bus_new) \
    X(sd_bus_set_address) \
    X(sd_bus_set_bus_client) \
    X(sd_bus_start) \
    X(sd_bus_close) \
    X(sd_bus_unref) \
    X(sd_bus_set_method_call_timeout) \
    X(sd_bus_match_signal) \
    X(sd_bus_slot_unref) \
    X(sd_bus_process) \
    X(sd_bus_wait) \
    X(sd_bus_message_new_method_call) \
    X(sd_bus_message_unref) \
    X(sd_bus_call) \
    X(sd_bus_message_read_basic) \
    X(sd_bus_error_free) \
    X(sd_bus_message_read) \
    X(sd_bus_message_append)

static struct {
#define SLOT(name) __typeof__(name) *name;
    BUS_FUNCTIONS(SLOT)
#undef SLOT
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
#define ENTRY(name) {#name, (void **)&bus.name},
        BUS_FUNCTIONS(ENTRY)
#undef ENTRY
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

// The baton_ types are opaque names for sd-bus's own (the public header keeps sd-bus's
// declarations out of Swift, which must not call libsystemd directly): the casts below
// only rename, and every argument and result is checked against sd-bus.h.
#define BUS(p) ((sd_bus *)(p))
#define MSG(p) ((sd_bus_message *)(p))
#define ERR(p) ((sd_bus_error *)(p))

int baton_sd_bus_open_system(baton_sd_bus **ret) { REQUIRE_BUS(); return bus.sd_bus_open_system((sd_bus **)ret); }
int baton_sd_bus_open_user(baton_sd_bus **ret) { REQUIRE_BUS(); return bus.sd_bus_open_user((sd_bus **)ret); }
int baton_sd_bus_new(baton_sd_bus **ret) { REQUIRE_BUS(); return bus.sd_bus_new((sd_bus **)ret); }
int baton_sd_bus_set_address(baton_sd_bus *b, const char *address) { REQUIRE_BUS(); return bus.sd_bus_set_address(BUS(b), address); }
int baton_sd_bus_set_bus_client(baton_sd_bus *b, int client) { REQUIRE_BUS(); return bus.sd_bus_set_bus_client(BUS(b), client); }
int baton_sd_bus_start(baton_sd_bus *b) { REQUIRE_BUS(); return bus.sd_bus_start(BUS(b)); }
int baton_sd_bus_set_method_call_timeout(baton_sd_bus *b, uint64_t usec) {
    REQUIRE_BUS();
    return bus.sd_bus_set_method_call_timeout(BUS(b), usec);
}
int baton_sd_bus_match_signal(baton_sd_bus *b, baton_sd_bus_slot **ret, const char *sender, const char *path,
                              const char *interface, const char *member, baton_sd_bus_message_handler_t callback,
                              void *userdata) {
    REQUIRE_BUS();
    return bus.sd_bus_match_signal(BUS(b), (sd_bus_slot **)ret, sender, path, interface, member,
                                   (sd_bus_message_handler_t)callback, userdata);
}
int baton_sd_bus_process(baton_sd_bus *b, baton_sd_bus_message **ret) {
    REQUIRE_BUS();
    return bus.sd_bus_process(BUS(b), (sd_bus_message **)ret);
}
int baton_sd_bus_wait(baton_sd_bus *b, uint64_t timeout_usec) { REQUIRE_BUS(); return bus.sd_bus_wait(BUS(b), timeout_usec); }
int baton_sd_bus_message_new_method_call(baton_sd_bus *b, baton_sd_bus_message **m, const char *destination,
                                         const char *path, const char *interface, const char *member) {
    REQUIRE_BUS();
    return bus.sd_bus_message_new_method_call(BUS(b), (sd_bus_message **)m, destination, path, interface, member);
}
int baton_sd_bus_call(baton_sd_bus *b, baton_sd_bus_message *m, uint64_t usec, baton_sd_bus_error *ret_error,
                      baton_sd_bus_message **reply) {
    REQUIRE_BUS();
    return bus.sd_bus_call(BUS(b), MSG(m), usec, ERR(ret_error), (sd_bus_message **)reply);
}
int baton_sd_bus_message_read_basic(baton_sd_bus_message *m, char type, void *p) {
    REQUIRE_BUS();
    return bus.sd_bus_message_read_basic(MSG(m), type, p);
}
int baton_sd_bus_read_job_removed(baton_sd_bus_message *m, uint32_t *id, const char **job, const char **unit,
                                  const char **result) {
    REQUIRE_BUS();
    return bus.sd_bus_message_read(MSG(m), "uoss", id, job, unit, result);
}
int baton_sd_bus_append_unit_and_mode(baton_sd_bus_message *m, const char *unit, const char *mode) {
    REQUIRE_BUS();
    return bus.sd_bus_message_append(MSG(m), "ss", unit, mode);
}

// The releasing functions are only ever given objects that a loaded libsystemd made.
void baton_sd_bus_close(baton_sd_bus *b) { if (loaded && b) bus.sd_bus_close(BUS(b)); }
void baton_sd_bus_unref(baton_sd_bus *b) { if (loaded && b) bus.sd_bus_unref(BUS(b)); }
void baton_sd_bus_slot_unref(baton_sd_bus_slot *slot) { if (loaded && slot) bus.sd_bus_slot_unref((sd_bus_slot *)slot); }
void baton_sd_bus_message_unref(baton_sd_bus_message *m) { if (loaded && m) bus.sd_bus_message_unref(MSG(m)); }
void baton_sd_bus_error_free(baton_sd_bus_error *e) { if (loaded && e) bus.sd_bus_error_free(ERR(e)); }
