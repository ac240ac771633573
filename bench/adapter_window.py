#!/usr/bin/python3
"""The spool adapter's CPU to settle N envelopes in flight at once.

A daemon (from $COMMISSIOND_BUILD, default build/) is paused while
commissiond-spool, with [adapter] window 65536, reads a file of N rows and
sends them all; then it is let go and answers them. Printed: the time from
the resume until the daemon holds N events, and the adapter's CPU seconds
from the resume until its CPU stops moving (matching the N Acks to their
envelopes, and settling them). Not part of `make bench`:

    COMMISSIOND_BUILD=$PWD/build /usr/bin/python3 bench/adapter_window.py 30000
"""
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
os.environ.setdefault("COMMISSIOND_BUILD", os.path.join(HERE, "..", "build"))

from harness import (SPOOL, Adapter, Daemon, adapter_settings,  # noqa: E402
                     discharge_ready_csv, drop_spool_file, nhs_number, pause, resume, wait_for)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30000
    workdir = tempfile.mkdtemp(prefix="cd-window-")
    settings = adapter_settings(workdir)
    settings.update({"adapter.window": "65536", "adapter.resend_ms": "600000"})
    daemon = Daemon(workdir, **settings)
    daemon.start()
    spool = Adapter(daemon, SPOOL).start()
    try:
        spool_dir = daemon.settings["spool.directory"]
        pause(daemon)
        drop_spool_file(spool_dir, "many.csv",
                        discharge_ready_csv([nhs_number(i) for i in range(n)]))
        wait_for(lambda: os.path.exists(os.path.join(spool_dir, "done", "many.csv")),
                 timeout=600, what="the file read")
        time.sleep(2)  # the window sent
        before = cpu_seconds(spool.proc.pid)
        began = time.monotonic()
        resume(daemon)
        wait_for(lambda: daemon.status()["events"] >= n, timeout=1200, interval=0.2,
                 what=f"{n} events")
        delivered = time.monotonic() - began
        last = -1.0
        while cpu_seconds(spool.proc.pid) != last:
            last = cpu_seconds(spool.proc.pid)
            time.sleep(1)
        print(f"{n} envelopes in flight (window 65536): delivered in {delivered:.1f} s; "
              f"adapter CPU {last - before:.2f} s")
    finally:
        resume(daemon)
        spool.stop()
        daemon.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
