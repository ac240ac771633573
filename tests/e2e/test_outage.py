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


class FullOutbox(unittest.TestCase):
    """An outbox that fills while the daemon is away: the source hears AR
    (send it again later), never AA for what was not stored."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cd-full-")
        self.daemon = Daemon(self.workdir, **adapter_settings(self.workdir),
                             **{"hl7.provider": "RXC_PAS=RXC", "adapter.outbox_map_size": "65536"})
        self.daemon.start()
        self.hl7 = Adapter(self.daemon, HL7).start()

    def tearDown(self):
        try:
            for proc in (self.hl7, self.daemon):
                rc = proc.stop()
                self.assertIsNone(proc.sanitizer_report(), proc.log_text())
                self.assertEqual(rc, 0, proc.log_text())
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def test_a_full_outbox_answers_ar_and_a_resend_is_taken_once_there_is_room(self):
        self.assertEqual(self.daemon.stop(), 0)
        client = MllpClient(self.daemon.settings["hl7.listen"])
        codes = []
        for i in range(400):
            client.send(adt("A01", f"FULL-{i}", nhs_number(500 + i), f"VF{i}"))
            ack = ack_fields(client.ack())
            codes.append(ack["MSA"][1])
            if codes[-1] == "AR":
                self.assertIn("again later", "|".join(ack.get("ERR", [])) + "|".join(ack["MSA"]))
                break
        self.assertEqual(codes[-1], "AR", "the outbox never filled")
        accepted = codes.count("AA")
        self.assertGreater(accepted, 0)
        refused = len(codes) - 1
        # The daemon returns, the outbox drains; the sender resends.
        self.daemon.start()
        wait_for(lambda: self.daemon.status()["events"] == accepted, timeout=60,
                 what=f"{accepted} events")
        client.send(adt("A01", f"FULL-{refused}", nhs_number(500 + refused), f"VF{refused}"))
        self.assertEqual(ack_fields(client.ack())["MSA"][1], "AA")
        client.close()
        wait_for(lambda: self.daemon.status()["events"] == accepted + 1, what="the resend")
