"""commissiond-spool's directory watcher with the real daemon: files that
are still being written, the names a sender's tool writes while it
uploads, the modes of what the watcher writes for the councils, and how
much one look takes on (docs/SPOOL.md, "How the watcher takes a file")."""
import fcntl
import os
import shutil
import signal
import stat
import tempfile
import time
import unittest

from harness import (SPOOL, Adapter, Daemon, adapter_settings, discharge_ready_csv, nhs_number,
                     wait_for)


class WatcherCase(unittest.TestCase):
    """A daemon, a spool made before the adapter starts (so that files put
    there first are listed at its first look), and the adapter."""

    settings = {}  # more settings, by "section.key"

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cd-spool-")
        self.daemon = Daemon(self.workdir, **{**adapter_settings(self.workdir), **self.settings})
        self.daemon.start()
        self.spool = self.daemon.settings["spool.directory"]
        os.makedirs(self.spool)
        self.adapter = None

    def tearDown(self):
        try:
            for proc in (self.adapter, self.daemon):
                if proc is None:
                    continue
                rc = proc.stop()
                self.assertIsNone(proc.sanitizer_report(), proc.log_text())
                self.assertEqual(rc, 0, proc.log_text())
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def start_adapter(self):
        self.adapter = Adapter(self.daemon, SPOOL).start()

    def write(self, name, text, settled=True):
        """Write name under its final name; settled: with a modification
        time a minute old, so that the first look takes it."""
        path = os.path.join(self.spool, name)
        with open(path, "w", newline="") as f:
            f.write(text)
        if settled:
            old = time.time() - 60
            os.utime(path, (old, old))
        return path

    def wait_done(self, name, where="done"):
        wait_for(lambda: os.path.exists(os.path.join(self.spool, where, name)),
                 what=f"{where}/{name}")

    def events(self):
        return self.daemon.status()["events"]


class ChangedWhileRead(WatcherCase):

    def test_a_file_written_to_while_it_is_read_is_not_put_until_it_settles(self):
        # A writer that paused past settle_ms and goes on while the file is
        # read: its last row is cut at "1" of "15" hours, which reads as a
        # good row with another value, so another event.
        rows = [f"E10000011,{nhs_number(i)},PKG-{i},2026-04-01,10\r\n" for i in range(100000)]
        path = self.write("big.csv", "LA Code,NHS Number,Package ID,Start Date,Hours per Week\r\n"
                          + "".join(rows)
                          + f"E10000011,{nhs_number(100000)},PKG-LAST,2026-04-01,1")
        self.start_adapter()
        time.sleep(0.5)  # the first look (100 ms) takes it; reading it takes seconds
        if "big.csv: care_packages: " in self.adapter.log_text():
            self.skipTest("too fast to test the race")
        with open(path, "a", newline="") as f:
            f.write("5\r\n")
        self.wait_done("big.csv")
        log = self.adapter.log_text()
        # Put once, whole: never the cut row.
        self.assertEqual(log.count("big.csv: care_packages: "), 1, log)
        self.assertIn("big.csv: it changed while it was being read", log)
        self.assertIn("big.csv: care_packages: 100001 rows, 0 bad, 100001 events", log)

    def test_a_file_renamed_over_while_the_first_is_read_gives_both(self):
        # What was read was a whole file; the one renamed over its name is
        # another, taken after it.
        rows = [f"E10000011,{nhs_number(i)},PKG-{i},2026-04-01,10\r\n" for i in range(100000)]
        path = self.write("big.csv", "LA Code,NHS Number,Package ID,Start Date,Hours per Week\r\n"
                          + "".join(rows))
        self.start_adapter()
        time.sleep(0.5)
        if "big.csv: care_packages: " in self.adapter.log_text():
            self.skipTest("too fast to test the race")
        with open(path + ".part", "w", newline="") as f:
            f.write(CAPACITY)
        os.rename(path + ".part", path)
        wait_for(lambda: "big.csv: care_home_capacity: 1 rows" in self.adapter.log_text(),
                 what="the second file taken")
        log = self.adapter.log_text()
        self.assertIn("big.csv: care_packages: 100000 rows, 0 bad, 100000 events", log)
        self.assertNotIn("changed while it was being read", log)


CAPACITY = ("CQC Location ID,Home Type,Maximum Capacity,Occupied Beds,Last Updated\r\n"
            "1-800000001,Nursing,40,3,2026-05-10T09:30Z\r\n")


class Modes(WatcherCase):
    """The councils' transfer accounts read done/, failed/ and the reports
    through the spool's group (docs/SECURITY.md), whatever the umask the
    adapter runs under (its unit's is 0077)."""

    def test_done_failed_and_the_reports_are_the_groups_under_umask_077(self):
        umask = os.umask(0o077)
        try:
            self.start_adapter()
        finally:
            os.umask(umask)
        done, failed = (os.path.join(self.spool, d) for d in ("done", "failed"))
        shutil.rmtree(failed)  # made again by the move
        self.write("bad.csv", CAPACITY + "1-800000002,Nursing,40,x,2026-05-10\r\n")
        self.write("none.csv", "a,b\r\n1,2\r\n")
        self.wait_done("bad.csv")
        self.wait_done("none.csv", where="failed")
        for path, mode in ((done, 0o750), (failed, 0o750),
                           (os.path.join(done, "bad.csv.errors.csv"), 0o640),
                           (os.path.join(failed, "none.csv.reason.txt"), 0o640)):
            self.assertEqual(oct(stat.S_IMODE(os.stat(path).st_mode)), oct(mode), path)


class UploadNames(WatcherCase):

    def test_winscps_filepart_is_left_alone_until_renamed(self):
        # WinSCP, the SFTP client councils' staff use most, uploads to
        # NAME.filepart and renames it when done (its default for files
        # over 100 KB); a transfer that stalls is not a complete file.
        self.write("capacity.csv.filepart", CAPACITY)
        self.start_adapter()
        time.sleep(1.0)  # ten looks
        self.assertTrue(os.path.exists(os.path.join(self.spool, "capacity.csv.filepart")),
                        self.adapter.log_text())
        self.assertNotIn("capacity.csv", self.adapter.log_text())
        os.rename(os.path.join(self.spool, "capacity.csv.filepart"),
                  os.path.join(self.spool, "capacity.csv"))
        self.wait_done("capacity.csv")
        wait_for(lambda: self.events() == 1, what="its event")


class LookBudget(WatcherCase):
    """One look takes no more files once those it took hold [spool]
    max_file_bytes, so the loop (the watchdog's ping, deliveries, SIGTERM)
    is back after about two files' worth however many large files wait."""

    settings = {"spool.poll_ms": "2000", "spool.max_file_bytes": "300000"}

    def test_a_look_stops_taking_files_past_max_file_bytes(self):
        names = [f"list{i}.csv" for i in range(4)]
        for i, name in enumerate(names):
            text = discharge_ready_csv([nhs_number(10000 * i + k) for k in range(3400)])
            self.assertGreater(len(text), 150000)  # each above half the limit
            self.write(name, text)
        self.start_adapter()
        done = os.path.join(self.spool, "done")
        wait_for(lambda: os.path.exists(os.path.join(done, names[0])), what="the first file")
        time.sleep(1.0)  # the next look is 2 s after the first
        self.assertEqual(sorted(os.listdir(done)), names[:2], self.adapter.log_text())
        for name in names[2:]:
            self.wait_done(name)
        wait_for(lambda: self.events() == 4 * 3400, what="every row's event")


class HeldOpen(WatcherCase):
    """An open that fails for now (a lease another process holds, as Samba
    takes for a Windows client's oplock; too many files open) is tried
    again at the next look: the file is not sent to failed/ as unreadable."""

    def test_a_file_under_a_write_lease_waits_for_it_to_be_released(self):
        path = self.write("capacity.csv", CAPACITY)
        # A write lease: any other open of the file fails with EWOULDBLOCK
        # (the adapter's is O_NONBLOCK) and the kernel tells the holder.
        previous = signal.signal(signal.SIGIO, lambda *_: None)
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.fcntl(fd, getattr(fcntl, "F_SETLEASE", 1024), fcntl.F_WRLCK)
            self.start_adapter()
            wait_for(lambda: "capacity.csv: cannot open it now" in self.adapter.log_text()
                     or os.path.exists(os.path.join(self.spool, "failed", "capacity.csv")),
                     what="a look at it")
            self.assertTrue(os.path.exists(path), self.adapter.log_text())
        finally:
            os.close(fd)  # the lease goes with it
            signal.signal(signal.SIGIO, previous)
        self.wait_done("capacity.csv")
        wait_for(lambda: self.events() == 1, what="its event")
        self.assertFalse(os.path.exists(os.path.join(self.spool, "failed", "capacity.csv")))


if __name__ == "__main__":
    unittest.main()
