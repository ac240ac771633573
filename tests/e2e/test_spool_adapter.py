"""commissiond-spool with the real daemon: councils' CSV files dropped into
the spool directory; done/ and failed/, the errors files, the figures, and
that the same file dropped twice delivers nothing twice."""
import json
import os
import shutil
import tempfile
import time
import unittest

from harness import SPOOL, Adapter, Daemon, adapter_settings, wait_for

DATA = os.path.join(os.path.dirname(__file__), "..", "data", "spool")
AS_OF = "1778450400000"  # 2026-05-10T22:00:00Z


class SpoolCase(unittest.TestCase):

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cd-spool-")
        self.daemon = Daemon(self.workdir, **adapter_settings(self.workdir))
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

    def wait_done(self, name, where="done"):
        wait_for(lambda: os.path.exists(os.path.join(self.spool, where, name)), what=f"{where}/{name}")

    def events(self):
        return self.daemon.status()["events"]

    def show(self, area):
        return json.loads(self.daemon.ctl("show", area, "--as-of", AS_OF, check=True).stdout)


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
