"""An outage: commissiond stopped while both adapters keep answering their
sources (AA, files moved to done/); when it starts again everything arrives,
exactly once."""
import os
import shutil
import tempfile
import unittest

from harness import (HL7, SPOOL, Adapter, Daemon, MllpClient, ack_fields, adapter_settings, adt,
                     json_lines, nhs_number, wait_for)

DATA = os.path.join(os.path.dirname(__file__), "..", "data", "spool")


class Outage(unittest.TestCase):

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cd-out-")
        self.daemon = Daemon(self.workdir, **adapter_settings(self.workdir),
                             **{"hl7.provider": "RXC_PAS=RXC"})
        self.daemon.start()
        self.hl7 = Adapter(self.daemon, HL7).start()
        self.spool = Adapter(self.daemon, SPOOL).start()

    def tearDown(self):
        try:
            for proc in (self.hl7, self.spool, self.daemon):
                rc = proc.stop()
                self.assertIsNone(proc.sanitizer_report(), proc.log_text())
                self.assertEqual(rc, 0, proc.log_text())
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def test_adapters_keep_answering_while_the_daemon_is_down_and_deliver_exactly_once(self):
        self.assertEqual(self.daemon.stop(), 0)
        # While it is down: 30 ADT messages, each answered AA...
        client = MllpClient(self.daemon.settings["hl7.listen"])
        for i in range(30):
            client.send(adt("A01", f"OUT-{i}", nhs_number(300 + i), f"VO{i}"))
            self.assertEqual(ack_fields(client.ack())["MSA"][1], "AA")
        client.close()
        # ...and two files, each moved to done/.
        spool_dir = self.daemon.settings["spool.directory"]
        for name in ("care_home_capacity_good.csv", "discharge_ready_good.csv"):
            shutil.copy(os.path.join(DATA, name), os.path.join(spool_dir, name + ".part"))
            os.rename(os.path.join(spool_dir, name + ".part"), os.path.join(spool_dir, name))
            wait_for(lambda n=name: os.path.exists(os.path.join(spool_dir, "done", n)),
                     what=f"done/{name}")
        # The daemon comes back: everything arrives, once.
        self.daemon.start()
        expected = 30 + 3 + 3
        wait_for(lambda: self.daemon.status()["events"] == expected, timeout=60,
                 what=f"{expected} events")
        log = json_lines(self.daemon.ctl("events", check=True).stdout)
        keys = [(e["source"], e["eventId"]) for e in log]
        self.assertEqual(len(keys), expected)
        self.assertEqual(len(set(keys)), expected)
