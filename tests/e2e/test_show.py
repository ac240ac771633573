"""commissionctl show: an area's figures as of an instant, filtered to one
ICB or one organisation, read from the store while the daemon runs."""
import json
import os
import subprocess

from harness import CTL, DaemonTestCase

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
END_OF_DAY = "1778540400000"  # 2026-05-11T23:00:00Z


class Show(DaemonTestCase):

    def setUp(self):
        super().setUp()
        out = subprocess.run([os.path.join(ROOT, "tools", "sample-day"), "--date", "2026-05-11",
                              "--patients", "100", "--seed", "show"],
                             capture_output=True, text=True, check=True).stdout
        events = [json.loads(line) for line in out.splitlines()]
        # A second ICB's trust, so that there is something to filter out.
        events.append({"source": "ods", "eventId": "QNQ-trust", "occurredAt": "1767225600000",
                       "organisationRegistered": {"code": "RDU", "role": "ORG_ROLE_TRUST",
                                                  "parentCode": "QNQ"}})
        events.append({"source": "capacity", "eventId": "QNQ-line", "occurredAt": "1778500800000",
                       "capacityReported": {"organisation": "RDU01", "sector": "SECTOR_MATERNITY",
                                            "bedsAvailable": "40", "bedsOccupied": "41",
                                            "asOf": "1778500800000"}})
        acks, proc = self.daemon.send(events)
        self.assertEqual(proc.returncode, 0, proc.stderr)

    def show(self, *args):
        proc = self.daemon.ctl("show", *args)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return json.loads(proc.stdout)

    def test_every_area_is_shown_with_its_as_of(self):
        for area in ("organisations", "flow", "discharges", "capacity", "services", "finance",
                     "governance"):
            with self.subTest(area):
                figures = self.show(area, "--as-of", END_OF_DAY)
                self.assertIn(area, figures)
                self.assertEqual(figures["as_of"], int(END_OF_DAY))

    def test_icb_filter_keeps_only_that_icb(self):
        both = self.show("capacity", "--as-of", END_OF_DAY)
        self.assertEqual(sorted(both["capacity"]["icbs"]), ["QNQ", "QNX"])
        qnq = self.show("capacity", "--as-of", END_OF_DAY, "--icb", "QNQ")
        self.assertEqual(list(qnq["capacity"]["icbs"]), ["QNQ"])
        self.assertEqual([line["organisation"] for line in qnq["capacity"]["lines"]], ["RDU01"])
        self.assertEqual(qnq["capacity"]["icbs"]["QNQ"]["over_capacity_lines"], 1)

    def test_org_filter_keeps_only_that_provider(self):
        flow = self.show("flow", "--as-of", END_OF_DAY, "--org", "RXC")
        self.assertEqual(list(flow["flow"]["providers"]), ["RXC"])
        self.assertIn("QNX", flow["flow"]["icbs"])

    def test_an_unknown_area_is_refused_with_the_list_of_areas(self):
        proc = self.daemon.ctl("show", "beds")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("no such area: beds", proc.stderr)
        self.assertIn("capacity", proc.stderr)
        proc = self.daemon.ctl("show", "flow", "--as-of", "yesterday")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("--as-of", proc.stderr)

    def test_an_unknown_area_is_a_usage_error_before_the_store_is_read(self):
        # Said at once, not after loading every history, and not as a
        # store error where there is no store.
        missing = os.path.join(self.workdir, "no-store-here")
        proc = subprocess.run([CTL, "--set", f"store.path={missing}", "show", "beds"],
                              capture_output=True, text=True)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn("no such area: beds", proc.stderr)
        self.assertNotIn("LMDB", proc.stderr)
