"""commissiond-spool with the real daemon: councils' CSV files dropped into
the spool directory; done/ and failed/, the errors files, the figures, and
that the same file dropped twice delivers nothing twice."""
import json
import os
import shutil
import stat
import subprocess
import tempfile
import time
import unittest

from harness import (SPOOL, Adapter, Daemon, adapter_settings, discharge_ready_csv,
                     drop_spool_file, nhs_number, wait_for)

DATA = os.path.join(os.path.dirname(__file__), "..", "data", "spool")
AS_OF = "1778450400000"  # 2026-05-10T22:00:00Z


class SpoolCase(unittest.TestCase):

    settings = {}  # more settings for both, by "section.key"

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cd-spool-")
        self.daemon = Daemon(self.workdir, **adapter_settings(self.workdir), **self.settings)
        self.daemon.start()
        self.adapter = Adapter(self.daemon, SPOOL).start()
        self.spool = self.daemon.settings["spool.directory"]

    def tearDown(self):
        try:
            for proc in (self.adapter, self.daemon):
                rc = proc.stop()
                self.assertIsNone(proc.sanitizer_report(), proc.log_text())
                self.assertEqual(rc, 0, proc.log_text())
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def drop(self, name, as_name=None):
        """Copy a sample file in the way a sender should: write, then rename."""
        target = os.path.join(self.spool, as_name or name)
        shutil.copy(os.path.join(DATA, name), target + ".part")
        os.rename(target + ".part", target)
        return as_name or name

    def write_pausing(self, name, lines, pause):
        """Write lines under the final name as cp, sftp put or mv across
        filesystems do: half of them, a pause of pause s, then the rest.
        Fails when the file was taken away during the pause."""
        path = os.path.join(self.spool, name)
        with open(path, "w", newline="") as f:
            f.writelines(lines[:51])
            f.flush()
            time.sleep(pause)
            self.assertTrue(os.path.exists(path), "taken before its writer was done")
            f.writelines(lines[51:])

    def wait_done(self, name, where="done"):
        wait_for(lambda: os.path.exists(os.path.join(self.spool, where, name)), what=f"{where}/{name}")

    def events(self):
        return self.daemon.status()["events"]

    def show(self, area):
        return json.loads(self.daemon.ctl("show", area, "--as-of", AS_OF, check=True).stdout)


class SlowShare(SpoolCase):
    """[spool] settle_ms: a writer that pauses longer than the default 2 s
    mid-file is still waited for when the setting is raised."""

    settings = {"spool.settle_ms": "6000"}

    def test_a_writer_pausing_3_s_under_its_final_name_is_waited_for(self):
        lines = discharge_ready_csv([nhs_number(7200 + i) for i in range(100)]).splitlines(True)
        self.write_pausing("slow.csv", lines, 3.0)
        self.wait_done("slow.csv")
        wait_for(lambda: self.events() == 100, what="100 events")
        with open(os.path.join(self.spool, "done", "slow.csv"), newline="") as f:
            self.assertEqual(f.read(), "".join(lines))


class SpoolAdapter(SpoolCase):

    def test_reference_data_capacity_and_discharge_lists_give_the_figures(self):
        for name in ("organisations_good.csv", "care_home_capacity_good.csv",
                     "discharge_ready_good.csv"):
            self.wait_done(self.drop(name))
        wait_for(lambda: self.events() == 8 + 3 + 3, what="14 events")
        lines = self.show("capacity")["capacity"]["lines"]
        nursing = [l for l in lines if l["organisation"] == "1-123039495" and l["sector"] == "nursing"]
        self.assertEqual(len(nursing), 1)
        # Occupied 35 and 3 vacancies accepting admissions: 38 available.
        self.assertEqual((nursing[0]["available"], nursing[0]["occupied"]), (38, 35))
        cases = self.show("discharges")["discharges"]["cases"]
        self.assertEqual(sorted(c["pathway"] for c in cases), [0, 1, 3])
        self.assertEqual({c["status"] for c in cases}, {"open"})

    def test_bad_rows_are_listed_beside_the_file_and_the_good_rows_delivered(self):
        before = self.events()
        self.wait_done(self.drop("care_packages_bad.csv"))
        with open(os.path.join(self.spool, "done", "care_packages_bad.csv.errors.csv")) as f:
            errors = f.read()
        lines = errors.splitlines()
        self.assertEqual(lines[0], "line,column,reason")
        reported = [int(line.split(",", 1)[0]) for line in lines[1:]]
        self.assertEqual(reported, [2, 3, 4, 5, 6, 7, 8, 9, 10, 12])
        self.assertIn("NHS Number", errors)
        self.assertIn("Start date", errors)
        self.assertNotIn("9434765918", errors)  # no NHS number in a report
        wait_for(lambda: self.events() == before + 1, what="the one good row")

    def test_an_errors_file_lists_10000_bad_rows_then_counts_the_rest(self):
        # A file of short bad rows gave an errors file some 26 times its
        # size, held in memory until written: past 10,000 bad rows, one
        # line says where the rest start and how many they are.
        good = discharge_ready_csv([nhs_number(7300)]).splitlines()
        bad = [f"x{i},RXC,2026-05-08,1,E10000011,2026-05-10"
               for i in range(10005)]
        text = "\r\n".join(good[:1] + bad + good[1:]) + "\r\n"
        path = os.path.join(self.spool, "many_bad.csv")
        with open(path + ".part", "w", newline="") as f:
            f.write(text)
        os.rename(path + ".part", path)
        self.wait_done("many_bad.csv")
        with open(os.path.join(self.spool, "done", "many_bad.csv.errors.csv"), newline="") as f:
            lines = f.read().split("\r\n")
        self.assertEqual(lines[0], "line,column,reason")
        self.assertEqual(lines[-1], "")
        listed = lines[1:-2]
        self.assertEqual(len(listed), 10000)
        self.assertEqual([int(l.split(",", 1)[0]) for l in listed], list(range(2, 10002)))
        self.assertEqual(lines[-2], "10002,,this bad row and the 4 after it are not listed: "
                                    "an errors file lists the first 10000")
        wait_for(lambda: self.events() == 1, what="the one good row after them")
        wait_for(lambda: "10006 rows, 10005 bad" in self.adapter.log_text(), what="the count")

    def test_a_file_of_no_known_kind_goes_to_failed_with_the_reason(self):
        self.wait_done(self.drop("unknown_kind.csv"), where="failed")
        with open(os.path.join(self.spool, "failed", "unknown_kind.csv.reason.txt")) as f:
            self.assertIn("kind", f.read())

    def test_the_same_file_dropped_twice_delivers_nothing_twice(self):
        self.wait_done(self.drop("care_home_capacity_good.csv"))
        wait_for(lambda: self.events() == 3, what="3 events")
        self.drop("care_home_capacity_good.csv", as_name="again.csv")
        self.wait_done("again.csv")
        # At least 3: a commit slower than [adapter] resend_ms has the
        # adapter send a row again, which is one more duplicate.
        wait_for(lambda: self.daemon.status()["duplicates"] >= 3, what="3 duplicates")
        self.assertEqual(self.events(), 3)

    def test_a_file_still_being_written_is_left_alone_until_renamed(self):
        partial = os.path.join(self.spool, "late.csv.part")
        shutil.copy(os.path.join(DATA, "care_home_capacity_good.csv"), partial)
        time.sleep(0.5)
        self.assertTrue(os.path.exists(partial))
        self.assertEqual(self.events(), 0)
        os.rename(partial, os.path.join(self.spool, "late.csv"))
        self.wait_done("late.csv")
        wait_for(lambda: self.events() == 3, what="3 events")


CAPACITY = ("CQC Location ID,Home Type,Maximum Capacity,Occupied Beds,Last Updated\n"
            "1-800000001,Nursing,40,3,2026-05-10T09:30Z\n")


class SpoolWatcher(SpoolCase):
    """What the watcher does with files that cannot simply be taken and
    moved: each is taken once, and what stays is said once."""

    def test_a_name_too_long_for_done_is_cut_and_its_errors_file_written(self):
        name = "x" * 246 + ".csv"  # 250 bytes: NAME.errors.csv.tmp would not fit
        for _ in range(2):
            self.drop("care_packages_bad.csv", as_name=name)
            wait_for(lambda: not os.path.exists(os.path.join(self.spool, name)), what="taken")
        done = sorted(os.listdir(os.path.join(self.spool, "done")))
        first, again = "x" * 240, "x" * 226 + "."
        self.assertIn(first, done)
        self.assertIn(first + ".errors.csv", done)
        later = [n for n in done if n.startswith(again) and not n.endswith(".errors.csv")]
        self.assertEqual(len(later), 1, done)
        self.assertIn(later[0] + ".errors.csv", done)
        for report in (first, later[0]):
            with open(os.path.join(self.spool, "done", report + ".errors.csv")) as f:
                self.assertEqual(f.readline().strip(), "line,column,reason")
        time.sleep(0.5)
        self.assertEqual(self.adapter.log_text().count(f"{name}: care_packages: "), 2)

    def test_done_removed_by_an_operator_is_made_again(self):
        shutil.rmtree(os.path.join(self.spool, "done"))
        self.wait_done(self.drop("care_home_capacity_good.csv"))
        self.assertIn("done/ was missing", self.adapter.log_text())
        wait_for(lambda: self.events() == 3, what="3 events")
        self.assertEqual(self.adapter.log_text().count("care_home_capacity_good.csv: care_home"), 1)

    def test_a_file_that_cannot_be_moved_is_never_put_again(self):
        done = os.path.join(self.spool, "done")
        shutil.rmtree(done)
        os.symlink(os.path.join(self.spool, "nowhere"), done)  # mkdir: EEXIST, rename: ENOENT
        name = self.drop("care_home_capacity_good.csv")
        wait_for(lambda: self.events() == 3, what="3 events")
        time.sleep(1.5)  # fifteen looks
        self.assertEqual(self.adapter.log_text().count(f"{name}: care_home_capacity: "), 1)
        self.assertIn("its rows are in the outbox: it is not taken again", self.adapter.log_text())
        self.assertEqual(self.daemon.status()["duplicates"], 0)
        self.assertTrue(os.path.exists(os.path.join(self.spool, name)))
        os.unlink(done)
        self.wait_done(name)
        self.assertIn(f"{name}: moved to done/ at last", self.adapter.log_text())

    def test_a_file_written_under_its_final_name_is_taken_once_complete(self):
        # As cp, sftp put or mv across filesystems write: the final name,
        # in pieces.
        lines = discharge_ready_csv([nhs_number(7000 + i) for i in range(100)]).splitlines(True)
        self.write_pausing("straight.csv", lines, 1.0)
        self.wait_done("straight.csv")
        self.assertFalse(os.path.exists(os.path.join(self.spool, "done",
                                                     "straight.csv.errors.csv")))
        wait_for(lambda: self.events() == 100, what="100 events")

    def test_symlinks_directories_and_fifos_are_said_once_and_left(self):
        os.symlink("/etc/passwd", os.path.join(self.spool, "link.csv"))
        os.mkdir(os.path.join(self.spool, "folder"))
        os.mkfifo(os.path.join(self.spool, "pipe.csv"))
        self.wait_done(self.drop("care_home_capacity_good.csv"))
        time.sleep(0.5)
        log = self.adapter.log_text()
        for name, what in (("link.csv", "a symbolic link"), ("folder", "a directory"),
                           ("pipe.csv", "a FIFO")):
            self.assertEqual(log.count(f"spool: {name}: "), 1, log)
            self.assertIn(f"spool: {name}: {what}, not a regular file", log)
            self.assertTrue(os.path.lexists(os.path.join(self.spool, name)))


class SpoolFifoRace(unittest.TestCase):
    """A file replaced by a FIFO between the look and the open does not
    block the adapter."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cd-spool-")
        self.daemon = Daemon(self.workdir, **adapter_settings(self.workdir))
        self.daemon.start()
        self.spool = self.daemon.settings["spool.directory"]
        self.adapter = None

    def tearDown(self):
        fifo = os.path.join(self.spool, "z.csv")
        try:
            if self.adapter is not None and self.adapter.proc is not None:
                self.adapter.proc.send_signal(15)
                try:
                    self.adapter.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    # Blocked in the open: a writer lets it go on.
                    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
                    self.adapter.proc.wait(timeout=30)
                    self.fail("the adapter did not stop on SIGTERM")
                self.assertIsNone(self.adapter.sanitizer_report(), self.adapter.log_text())
        finally:
            try:
                self.daemon.stop()
            finally:
                shutil.rmtree(self.workdir, ignore_errors=True)

    def test_a_fifo_in_place_of_a_listed_file_is_refused_not_opened(self):
        os.makedirs(self.spool)
        old = time.time() - 60  # settled: both taken at the first look
        big = os.path.join(self.spool, "a_big.csv")
        drop_spool_file(self.spool, "a_big.csv",
                        discharge_ready_csv([nhs_number(i) for i in range(100000)]))
        drop_spool_file(self.spool, "z.csv", CAPACITY)
        for path in (big, os.path.join(self.spool, "z.csv")):
            os.utime(path, (old, old))
        self.adapter = Adapter(self.daemon, SPOOL).start()
        time.sleep(0.5)  # the first look (100 ms) lists both; a_big.csv takes seconds
        self.assertNotIn("a_big.csv", self.adapter.log_text(), "too fast to test the race")
        os.unlink(os.path.join(self.spool, "z.csv"))
        os.mkfifo(os.path.join(self.spool, "z.csv"))
        drop_spool_file(self.spool, "later.csv", CAPACITY.replace("800000001", "800000002"))
        wait_for(lambda: os.path.exists(os.path.join(self.spool, "done", "later.csv")),
                 what="later.csv taken")
        self.assertEqual(self.adapter.log_text().count("spool: z.csv: a FIFO"), 1,
                         self.adapter.log_text())


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("setpriv"),
                     "needs root to run the adapter as another account")
class SpoolUnreadable(unittest.TestCase):
    """Files the adapter's account cannot read (a sender's umask 077): each
    goes to failed/ with the reason, and they never stop other files."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cd-spool-")
        os.chmod(self.workdir, 0o755)
        settings = adapter_settings(self.workdir)
        daemon = Daemon(self.workdir, **settings)  # for its config file only
        os.chmod(daemon.config, 0o644)
        self.spool = settings["spool.directory"]
        subprocess.run([SPOOL, "keygen", settings["pseudonym.key_file"]], check=True,
                       capture_output=True)
        for path in (self.spool, settings["spool.outbox"]):
            os.makedirs(path)
            os.chown(path, 65534, 65534)
        os.chown(settings["pseudonym.key_file"], 65534, 65534)
        self.log = os.path.join(self.workdir, "spool.log")
        with open(self.log, "w") as logf:
            self.proc = subprocess.Popen(
                ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", SPOOL,
                 "--config", daemon.config], stdout=logf, stderr=logf)
        wait_for(lambda: "ready:" in self.log_text(), what="the adapter ready")

    def tearDown(self):
        try:
            self.proc.terminate()
            self.assertEqual(self.proc.wait(timeout=30), 0, self.log_text())
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def test_unreadable_files_go_to_failed_and_never_starve_the_others(self):
        for i in range(200):
            path = os.path.join(self.spool, f"a{i:03}.csv")
            with open(path, "w") as f:
                f.write(CAPACITY)
            os.chmod(path, 0o600)  # root's: the adapter cannot read it
        drop_spool_file(self.spool, "ok.csv", CAPACITY)
        wait_for(lambda: os.path.exists(os.path.join(self.spool, "done", "ok.csv")),
                 what="ok.csv taken")
        failed = os.path.join(self.spool, "failed")
        wait_for(lambda: len(os.listdir(failed)) == 400, what="200 files in failed/")
        with open(os.path.join(failed, "a007.csv.reason.txt")) as f:
            self.assertIn("cannot be read: Permission denied", f.read())
        self.assertIn("spool: a007.csv: failed: cannot be read: Permission denied",
                      self.log_text())


class SpoolOutboxTooSmall(SpoolCase):
    """A file whose events cannot fit in the outbox even when it is empty
    goes to failed/ saying which setting to change; it is not tried for
    ever."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cd-spool-")
        settings = adapter_settings(self.workdir)
        settings["adapter.outbox_map_size"] = "1M"
        self.daemon = Daemon(self.workdir, **settings)
        self.daemon.start()
        self.adapter = Adapter(self.daemon, SPOOL).start()
        self.spool = self.daemon.settings["spool.directory"]

    def test_a_file_too_big_for_the_outbox_fails_naming_the_settings(self):
        log = self.adapter.log_text()
        self.assertIn("[spool] max_file_bytes (33554432) is more than an eighth of "
                      "[adapter] outbox_map_size (1048576)", log)
        drop_spool_file(self.spool, "big.csv",
                        discharge_ready_csv([nhs_number(i) for i in range(8000)]))
        self.wait_done("big.csv", where="failed")
        with open(os.path.join(self.spool, "failed", "big.csv.reason.txt")) as f:
            reason = f.read()
        self.assertIn("its 8000 events", reason)
        self.assertIn("do not fit in the outbox even with nothing else waiting", reason)
        self.assertIn("[adapter] outbox_map_size is 1048576 bytes", reason)
        drop_spool_file(self.spool, "small.csv", CAPACITY)
        self.wait_done("small.csv")
        wait_for(lambda: self.events() == 1, what="the small file's event")
