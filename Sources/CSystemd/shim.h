// CSystemd: the part of libsystemd that Baton uses (sd_notify, the watchdog setting and
// sd-bus), found with pkg-config (`libsystemd`, Debian package libsystemd-dev).
// libsystemd stays a shared library even in a --static-swift-stdlib build: it is part of
// the base system on every systemd machine and is not meant to be linked statically.
#pragma once
#include <systemd/sd-daemon.h>
#include <systemd/sd-bus.h>
#include <stdint.h>

// sd-bus's message readers and writers are C variadic functions, which Swift cannot
// call; these fixed-signature wrappers read and write the shapes Baton needs.

/// Reads the `uoss` body of org.freedesktop.systemd1.Manager.JobRemoved.
static inline int baton_sd_bus_read_job_removed(sd_bus_message *m, uint32_t *id, const char **job,
                                                const char **unit, const char **result) {
    return sd_bus_message_read(m, "uoss", id, job, unit, result);
}

/// Appends the `ss` arguments of StartUnit / StopUnit (unit name, job mode).
static inline int baton_sd_bus_append_unit_and_mode(sd_bus_message *m, const char *unit, const char *mode) {
    return sd_bus_message_append(m, "ss", unit, mode);
}
