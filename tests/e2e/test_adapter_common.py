"""What both adapters share (adapters/common: adapter.c, client.c), met
as an operator meets it: the --set options apply over the file whatever
their place on the command line, at start and again at SIGHUP; a window
larger than ZeroMQ's default queue is sent whole; an envelope commissiond
cannot read is settled; a commissiond that does not answer is said, and
so is its answering again; an Ack of a status the adapter does not know is
said, and its envelope kept."""
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import (HL7, SANITIZER_MARKS, SPOOL, Adapter, Daemon, MllpClient, ack_fields,
                     adapter_settings, adt, discharge_ready_csv, drop_spool_file, free_port,
                     nhs_number, pause, pb_field, pb_fields, resume, stop_cleanly, wait_for)


class SetOptionsOverTheFile(unittest.TestCase):
    """`--set` is "one setting after the file" (--help, the man pages)."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cd-adapter-")
        self.conf = os.path.join(self.workdir, "c.conf")
        self.key = os.path.join(self.workdir, "pseudonym.key")
        subprocess.run([HL7, "keygen", self.key], check=True, capture_output=True)
        with open(self.conf, "w") as f:
            f.write(f"[log]\nlevel = info\n"
                    f"[ingest]\nendpoint = ipc://{self.workdir}/ingest\n"
                    f"[pseudonym]\nkey_file = {self.key}\n"
                    f"[hl7]\nlisten = 127.0.0.1:{free_port()}\n"
                    f"outbox = {self.workdir}/hl7-outbox\n"
                    f"[spool]\ndirectory = {self.workdir}/spool\n"
                    f"outbox = {self.workdir}/spool-outbox\n")
        self.proc = None
        self.log = os.path.join(self.workdir, "adapter.log")

    def tearDown(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def test_a_set_before_the_config_option_still_wins_over_the_file(self):
        for program in (HL7, SPOOL):
            out = subprocess.run([program, "--set", "log.level=debug", "--config", self.conf,
                                  "--print-config"], capture_output=True, text=True,
                                 timeout=60)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertTrue("\nlevel = debug\n" in out.stdout,
                            f"{os.path.basename(program)}: the file's level won")

    def test_sighup_applies_the_set_options_over_the_file_again(self):
        with open(self.log, "w") as logf:
            self.proc = subprocess.Popen([HL7, "--config", self.conf, "--set",
                                          "log.level=debug"], stdout=logf, stderr=logf)
        wait_for(lambda: "ready:" in self.log_text(), what="the ready line")
        self.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload: log level" in self.log_text(), what="the reload line")
        # The file says info; the --set option, applied after it, debug.
        self.assertIn("reload: log level debug", self.log_text())
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(timeout=30), 0, self.log_text())
        self.assertFalse(any(m in self.log_text() for m in SANITIZER_MARKS), self.log_text())

    def test_sighup_names_each_changed_setting_that_needs_a_restart_once(self):
        with open(self.log, "w") as logf:
            self.proc = subprocess.Popen([HL7, "--config", self.conf], stdout=logf,
                                         stderr=logf)
        wait_for(lambda: "ready:" in self.log_text(), what="the ready line")
        with open(self.conf) as f:
            text = f.read()
        # Read by commissiond-hl7 (its window; its own section) and not
        # (the spool adapter's section, the daemon's store).
        text = text.replace("[hl7]\n", "[hl7]\nmax_connections = 7\n")
        text = text.replace("[spool]\n", "[spool]\npoll_ms = 250\n")
        with open(self.conf, "w") as f:
            f.write(text + "[adapter]\nwindow = 512\n[store]\nupdate_retention = 5\n")
        for n in (1, 2):
            self.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: self.log_text().count("reload: log level") == n,
                     what=f"reload {n}")
        text = self.log_text()
        self.assertEqual(text.count('reload: adapter.window changed to "512", but it needs a '
                                    'restart; keeping "256"'), 1, text)
        self.assertEqual(text.count("reload: hl7.max_connections changed to"), 1, text)
        self.assertNotIn("spool.poll_ms", text)
        self.assertNotIn("store.update_retention", text)
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(timeout=30), 0, self.log_text())
        self.assertFalse(any(m in self.log_text() for m in SANITIZER_MARKS), self.log_text())


class WindowPastTheSocketsDefault(unittest.TestCase):
    """[adapter] window takes up to 65536 envelopes in flight; ZeroMQ's
    default send high-water mark is 1,000 messages."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cd-window-")
        settings = adapter_settings(self.workdir)
        settings.update({"adapter.window": "4000", "adapter.resend_ms": "120000"})
        self.daemon = Daemon(self.workdir, **settings)
        self.daemon.start()
        self.spool = Adapter(self.daemon, SPOOL).start()

    def tearDown(self):
        try:
            if self.daemon.proc is not None:
                resume(self.daemon)
            stop_cleanly(self, self.spool, self.daemon)
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def test_a_whole_window_sent_while_the_daemon_is_busy_arrives_without_a_resend(self):
        n = 3000
        spool_dir = self.daemon.settings["spool.directory"]
        # The daemon holds its connection but reads nothing (as in a long
        # commit): the adapter sends its window into the socket's queue.
        pause(self.daemon)
        drop_spool_file(spool_dir, "many.csv",
                        discharge_ready_csv([nhs_number(i) for i in range(n)]))
        wait_for(lambda: os.path.exists(os.path.join(spool_dir, "done", "many.csv")),
                 what="done/many.csv")
        time.sleep(1)
        resume(self.daemon)
        # Well within resend_ms: nothing waits to be sent again.
        wait_for(lambda: self.daemon.status()["events"] >= n, timeout=60,
                 what=f"{n} events")


class AnEnvelopeTheDaemonCannotRead(unittest.TestCase):
    """commissiond answers an envelope it cannot read (here: above its
    [ingest] max_envelope_bytes) REJECTED with its source and event id read
    off the wire, so the adapter settles it (into its dead letters) instead
    of sending it again for ever."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cd-unread-")
        settings = adapter_settings(self.workdir)
        settings.update({"hl7.provider": "RXC_PAS=RXC", "ingest.max_envelope_bytes": "64"})
        self.daemon = Daemon(self.workdir, **settings)
        self.daemon.start()
        self.hl7 = Adapter(self.daemon, HL7).start()

    def tearDown(self):
        try:
            stop_cleanly(self, self.hl7, self.daemon)
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def test_the_adapter_settles_it_naming_the_daemons_reason(self):
        client = MllpClient(self.daemon.settings["hl7.listen"])
        client.send(adt("A01", "BIG-1", nhs_number(1), "V1"))
        self.assertEqual(ack_fields(client.ack())["MSA"][1], "AA")
        client.close()
        wait_for(lambda: "event_id=BIG-1" in self.hl7.log_text(), timeout=30,
                 what="the adapter's REJECTED line")
        line = next(l for l in self.hl7.log_text().splitlines() if "event_id=BIG-1" in l)
        self.assertIn("REJECTED by commissiond: source=hl7:RXC_PAS", line)
        self.assertIn("max_envelope_bytes", line)
        # Settled: not sent again (resend_ms is 500 ms here).
        time.sleep(2)
        self.assertEqual(self.daemon.status()["rejected"], 1)
        self.assertNotIn("could not read", self.hl7.log_text())


class CommissiondNotAnswering(unittest.TestCase):
    """An adapter whose envelopes go unanswered for 10 x resend_ms says so
    once, with what waits in its outbox, and says so again when commissiond
    answers: an operator sees a backlog building, not only its end."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cd-unanswered-")
        settings = adapter_settings(self.workdir)
        settings.update({"hl7.provider": "RXC_PAS=RXC", "adapter.resend_ms": "300"})
        self.daemon = Daemon(self.workdir, **settings)
        self.daemon.start()
        self.hl7 = Adapter(self.daemon, HL7).start()

    def tearDown(self):
        try:
            if self.daemon.proc is not None:
                resume(self.daemon)
            stop_cleanly(self, self.hl7, self.daemon)
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def send(self, control_ids):
        client = MllpClient(self.daemon.settings["hl7.listen"])
        for n, cid in enumerate(control_ids):
            client.send(adt("A01", cid, nhs_number(10 + n), f"V{cid}"))
            self.assertEqual(ack_fields(client.ack())["MSA"][1], "AA")
        client.close()

    def test_it_says_when_commissiond_stops_answering_and_when_it_answers_again(self):
        self.send(["UA-1"])
        wait_for(lambda: self.daemon.status()["events"] == 1, what="the first event")
        # Quiet for longer than 10 x resend_ms with nothing in flight: not
        # a silence to speak of.
        time.sleep(4)
        pause(self.daemon)
        self.send(["UA-2", "UA-3"])
        warning = "delivery: commissiond at " + self.daemon.settings["ingest.endpoint"] + \
            " has not answered for "
        # Counted from the send, not from the last answer 4 s ago.
        time.sleep(0.6)
        self.assertNotIn(warning, self.hl7.log_text())
        wait_for(lambda: warning in self.hl7.log_text(), timeout=30, what="the warning")
        line = next(l for l in self.hl7.log_text().splitlines() if warning in l)
        self.assertIn("waits in the outbox (2 envelopes)", line)
        seconds = int(line.split(warning)[1].split()[0])
        self.assertGreaterEqual(seconds, 3)
        time.sleep(1.5)  # said once
        self.assertEqual(self.hl7.log_text().count(warning), 1)
        resume(self.daemon)
        wait_for(lambda: "commissiond answers again" in self.hl7.log_text(), timeout=30,
                 what="the all-clear")
        self.assertRegex(self.hl7.log_text(),
                         r"delivery: commissiond answers again, after \d+ s; delivering what waits "
                         r"in the outbox \(\d+ envelopes\)")
        wait_for(lambda: self.daemon.status()["events"] == 3, what="the two held events")
        self.assertEqual(self.hl7.log_text().count(warning), 1)


class AnAckOfAStatusTheAdapterDoesNotKnow(unittest.TestCase):
    """An Ack whose status the adapter does not know (0, or a newer
    daemon's) keeps the envelope and sends it again later, as RETRY_LATER
    does; it is said, not only counted at the stop. A ROUTER of the test's
    own stands in for commissiond."""

    def setUp(self):
        import zmq
        self.workdir = tempfile.mkdtemp(prefix="cd-status-")
        settings = adapter_settings(self.workdir)
        settings["adapter.resend_ms"] = "200"
        self.daemon = Daemon(self.workdir, **settings)  # its config file only
        self.ctx = zmq.Context()
        self.router = self.ctx.socket(zmq.ROUTER)
        self.router.bind(self.daemon.settings["ingest.endpoint"])
        self.spool = Adapter(self.daemon, SPOOL).start()

    def tearDown(self):
        try:
            stop_cleanly(self, self.spool)
        finally:
            self.router.close(linger=0)
            self.ctx.term()
            shutil.rmtree(self.workdir, ignore_errors=True)

    def test_it_is_said_and_the_envelope_sent_again(self):
        drop_spool_file(self.daemon.settings["spool.directory"], "one.csv",
                        discharge_ready_csv([nhs_number(1)]))
        self.assertTrue(self.router.poll(20000), "no envelope came")
        peer, envelope = self.router.recv_multipart()
        fields = pb_fields(envelope)
        source, event_id = fields[1][0], fields[2][0]
        self.router.send_multipart([peer, pb_field(1, event_id) + pb_field(2, 99) +
                                    pb_field(4, "a status of tomorrow") +
                                    pb_field(6, source)])
        wait_for(lambda: "status 99" in self.spool.log_text(), what="the warning")
        line = next(l for l in self.spool.log_text().splitlines() if "status 99" in l)
        self.assertIn(f"source={source.decode()} event_id={event_id.decode()}", line)
        self.assertIn("a status of tomorrow", line)
        # Kept: sent again.
        self.assertTrue(self.router.poll(20000), "not sent again")
        self.assertEqual(self.router.recv_multipart()[1], envelope)


if __name__ == "__main__":
    unittest.main()
