#!/usr/bin/python3
"""A stand-in for systemd's manager object on a private dbus-daemon, for SystemdTests.

Owns org.freedesktop.systemd1 and serves org.freedesktop.systemd1.Manager's StartUnit and
StopUnit at /org/freedesktop/systemd1, answering with a job path and later emitting
JobRemoved(u id, o job, s unit, s result) as systemd does. The unit name picks the
behaviour, so one mock serves every case:

  fail-*.service        job ends with result "failed"
  early-*.service       JobRemoved ("done") is sent before the method reply
  hang-job-*.service    the call is answered, the job never ends
  hang-reply-*.service  the call is never answered
  anything else         job ends with result "done", 20 ms after the reply

Every call is appended to --calls as "METHOD UNIT MODE JOBPATH". --ready is created once
the name is owned. Uses Debian's python3-dbus and python3-gi (GLib main loop).
"""
import argparse
import os
import sys

import dbus
import dbus.mainloop.glib
import dbus.service
from gi.repository import GLib

IFACE = "org.freedesktop.systemd1.Manager"


class Manager(dbus.service.Object):
    def __init__(self, bus, calls_path):
        super().__init__(bus, "/org/freedesktop/systemd1")
        self.calls_path = calls_path
        self.next_job = 1

    def _job(self, method, unit, mode, reply):
        job_id = self.next_job
        self.next_job += 1
        path = dbus.ObjectPath(f"/org/freedesktop/systemd1/job/{job_id}")
        with open(self.calls_path, "a") as f:
            f.write(f"{method} {unit} {mode} {path}\n")
        if unit.startswith("hang-reply-"):
            return  # never answered: the caller must give up at its timeout
        if unit.startswith("early-"):
            self.JobRemoved(dbus.UInt32(job_id), path, unit, "done")
            reply(path)
            return
        reply(path)
        if unit.startswith("hang-job-"):
            return
        result = "failed" if unit.startswith("fail-") else "done"
        GLib.timeout_add(20, lambda: self.JobRemoved(dbus.UInt32(job_id), path, unit, result) and False)

    @dbus.service.method(IFACE, in_signature="ss", out_signature="o", async_callbacks=("reply", "error"))
    def StartUnit(self, unit, mode, reply, error):
        self._job("StartUnit", unit, mode, reply)

    @dbus.service.method(IFACE, in_signature="ss", out_signature="o", async_callbacks=("reply", "error"))
    def StopUnit(self, unit, mode, reply, error):
        self._job("StopUnit", unit, mode, reply)

    @dbus.service.signal(IFACE, signature="uoss")
    def JobRemoved(self, job_id, job, unit, result):
        pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--calls", required=True)
    parser.add_argument("--ready", required=True)
    args = parser.parse_args()
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    bus = dbus.bus.BusConnection(args.address)
    name = dbus.service.BusName("org.freedesktop.systemd1", bus)
    manager = Manager(bus, args.calls)
    loop = GLib.MainLoop()
    bus.call_on_disconnection(lambda _conn: loop.quit())
    open(args.ready, "w").close()
    loop.run()
    # The bus is gone: leave without BusName's release call on a closed connection.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
