// CSystemd: what Baton needs of systemd, without linking libsystemd.
//
// * The notify protocol (sd_notify(3): one datagram to $NOTIFY_SOCKET) and the watchdog
//   variables (sd_watchdog_enabled(3): $WATCHDOG_USEC, $WATCHDOG_PID) are implemented
//   here: both are small, documented and stable, and every agent uses them.
// * sd-bus, only for --leader-unit, is loaded from libsystemd.so.0 with dlopen on first
//   use. An agent without --leader-unit never maps libsystemd (about 0.9 MiB of RSS with
//   what it pulls in: libgcrypt, lzma, zstd, lz4, libcap), and the binary runs where
//   there is no libsystemd at all (a minimal container image).
//
// Return values follow libsystemd: >= 0 success, -errno on failure; every sd-bus wrapper
// returns -ENOSYS when libsystemd could not be loaded (`baton_sd_bus_load` says why).
// The names carry a baton_ prefix so that nothing here can interpose on libsystemd's own
// symbols once it is loaded, and this header does not include libsystemd's so that Swift
// cannot call sd_* directly (nothing links libsystemd). CSystemd.c includes
// <systemd/sd-bus.h> and <systemd/sd-daemon.h> (libsystemd-dev) and checks every
// wrapper, type and layout here against them at compile time.
#pragma once
#include <stdint.h>

typedef struct baton_sd_bus baton_sd_bus;
typedef struct baton_sd_bus_message baton_sd_bus_message;
typedef struct baton_sd_bus_slot baton_sd_bus_slot;

/// sd_bus_error: zero-initialise it, free it with baton_sd_bus_error_free.
typedef struct baton_sd_bus_error {
    const char *name;
    const char *message;
    int _need_free;
} baton_sd_bus_error;

typedef int (*baton_sd_bus_message_handler_t)(baton_sd_bus_message *m, void *userdata, baton_sd_bus_error *ret_error);

/// sd_notify: sends `state` to $NOTIFY_SOCKET (an absolute path or "@abstract"). 0 when
/// the variable is unset, 1 when sent, -errno otherwise. Blocks only as long as the
/// receiver's queue is full, as libsystemd's does.
int baton_sd_notify(int unset_environment, const char *state);

/// sd_watchdog_enabled: 1 and *usec when $WATCHDOG_USEC is set for this process (no
/// $WATCHDOG_PID, or ours); 0 when unset or meant for another process; -EINVAL when the
/// values cannot be read (a usec of 0 included).
int baton_sd_watchdog_enabled(int unset_environment, uint64_t *usec);

/// baton_sd_bus_load loads libsystemd.so.0 and the sd-bus functions below, once. 0 when
/// they are available; otherwise -ENOSYS and *why (if not NULL) says what is missing.
int baton_sd_bus_load(const char **why);

int baton_sd_bus_open_system(baton_sd_bus **ret);
int baton_sd_bus_open_user(baton_sd_bus **ret);
int baton_sd_bus_new(baton_sd_bus **ret);
int baton_sd_bus_set_address(baton_sd_bus *bus, const char *address);
int baton_sd_bus_set_bus_client(baton_sd_bus *bus, int b);
int baton_sd_bus_start(baton_sd_bus *bus);
void baton_sd_bus_close(baton_sd_bus *bus);
void baton_sd_bus_unref(baton_sd_bus *bus);
int baton_sd_bus_set_method_call_timeout(baton_sd_bus *bus, uint64_t usec);
int baton_sd_bus_match_signal(baton_sd_bus *bus, baton_sd_bus_slot **ret, const char *sender, const char *path,
                              const char *interface, const char *member, baton_sd_bus_message_handler_t callback,
                              void *userdata);
void baton_sd_bus_slot_unref(baton_sd_bus_slot *slot);
int baton_sd_bus_process(baton_sd_bus *bus, baton_sd_bus_message **ret);
int baton_sd_bus_wait(baton_sd_bus *bus, uint64_t timeout_usec);
int baton_sd_bus_message_new_method_call(baton_sd_bus *bus, baton_sd_bus_message **m, const char *destination,
                                         const char *path, const char *interface, const char *member);
void baton_sd_bus_message_unref(baton_sd_bus_message *m);
int baton_sd_bus_call(baton_sd_bus *bus, baton_sd_bus_message *m, uint64_t usec, baton_sd_bus_error *ret_error,
                      baton_sd_bus_message **reply);
int baton_sd_bus_message_read_basic(baton_sd_bus_message *m, char type, void *p);
void baton_sd_bus_error_free(baton_sd_bus_error *e);

// sd-bus's message readers and writers are C variadic functions, which Swift cannot
// call; these read and write the shapes Baton needs.

/// Reads the `uoss` body of org.freedesktop.systemd1.Manager.JobRemoved.
int baton_sd_bus_read_job_removed(baton_sd_bus_message *m, uint32_t *id, const char **job, const char **unit,
                                  const char **result);

/// Appends the `ss` arguments of StartUnit / StopUnit (unit name, job mode).
int baton_sd_bus_append_unit_and_mode(baton_sd_bus_message *m, const char *unit, const char *mode);
