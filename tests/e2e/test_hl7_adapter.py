"""commissiond-hl7 with the real daemon: a third-party MLLP client sends ADT
messages; ACK codes, the flow figures, rejections at the source, and that no
NHS number leaves the adapter."""
import glob
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import (HL7, Adapter, Daemon, MllpClient, ack_fields, adapter_settings, adt,
                     nhs_number, preload_env, run_senders, wait_for)

AS_OF = "1778450400000"  # 2026-05-10T22:00:00Z


def register(daemon):
    orgs = [("QNX", "ORG_ROLE_ICB", "Y59"), ("RXC", "ORG_ROLE_TRUST", "QNX"),
            ("RXC01", "ORG_ROLE_TRUST_SITE", "RXC")]
    events = [{"source": "ods", "eventId": f"O-{code}", "occurredAt": "1767225600000",
               "organisationRegistered": {"code": code, "role": role, "parentCode": parent}}
              for code, role, parent in orgs]
    acks, proc = daemon.send(events)
    assert proc.returncode == 0, proc.stderr


class Hl7Case(unittest.TestCase):
    """A daemon with the organisations registered, and commissiond-hl7."""

    settings = {}  # more settings for both, by "section.key"

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cd-hl7-")
        self.daemon = Daemon(self.workdir, **adapter_settings(self.workdir),
                             **{"hl7.provider": "RXC_PAS=RXC", **self.settings})
        self.daemon.start()
        register(self.daemon)
        self.adapter = Adapter(self.daemon, HL7).start()
        self.address = self.daemon.settings["hl7.listen"]

    def tearDown(self):
        try:
            for proc in (self.adapter, self.daemon):
                rc = proc.stop()
                self.assertIsNone(proc.sanitizer_report(), proc.log_text())
                self.assertEqual(rc, 0, proc.log_text())
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def events_stored(self):
        return self.daemon.status()["events"]


class Hl7TrainingFeed(Hl7Case):
    """[hl7] processing_ids set to take a training system's messages too."""

    settings = {"hl7.processing_ids": "P, T"}

    def test_a_training_message_is_taken_when_the_setting_names_t(self):
        before = self.events_stored()
        client = MllpClient(self.address)
        client.send(adt("A01", "T1", nhs_number(1), "V1").replace("|T1|P|2.4", "|T1|T|2.4"))
        ack = ack_fields(client.ack())
        client.send(adt("A01", "D1", nhs_number(2), "V2").replace("|D1|P|2.4", "|D1|D|2.4"))
        refused = ack_fields(client.ack())
        client.close()
        self.assertEqual(ack["MSA"][1], "AA", ack)
        self.assertEqual(refused["MSA"][1], "AE", refused)
        # v2.4: the reason in MSA-3, ERR-1 the field and table 0357's code.
        self.assertIn("processing id \"D\" is not one this adapter takes (P, T)",
                      refused["MSA"][3])
        self.assertEqual(refused["ERR"][1], "MSH^1^11^202&Unsupported processing id&HL70357")
        wait_for(lambda: self.events_stored() == before + 1, what="delivery")


class Hl7Adapter(Hl7Case):

    def test_admissions_transfers_and_discharges_give_the_flow_figures(self):
        client = MllpClient(self.address)
        messages = [
            adt("A01", "C1", nhs_number(1), "V1", ward="W1"),
            adt("A01", "C2", nhs_number(2), "V2", ward="W1"),
            adt("A01", "C3", nhs_number(3), "V3", ward="W2"),
            adt("A02", "C4", nhs_number(2), "V2", ward="W2", when="20260510110000"),
            adt("A03", "C5", nhs_number(3), "V3", ward="W2", when="20260510150000"),
        ]
        for message in messages:
            client.send(message)
            ack = ack_fields(client.ack())
            self.assertEqual(ack["MSA"][1], "AA", ack)
        client.close()
        wait_for(lambda: self.events_stored() == 3 + len(messages), what="delivery")
        flow = json.loads(self.daemon.ctl("show", "flow", "--as-of", AS_OF, check=True).stdout)
        rxc = flow["flow"]["providers"]["RXC"]
        self.assertEqual(rxc["in_hospital"], 2)
        self.assertEqual(rxc["days"]["2026-05-10"]["admissions"], 3)
        self.assertEqual(rxc["days"]["2026-05-10"]["discharges"], 1)
        self.assertEqual(rxc["sites"]["RXC01"]["wards"], {"W1": 1, "W2": 1})
        self.assertEqual(flow["flow"]["icbs"]["QNX"]["in_hospital"], 2)

    def test_msa_2_echoes_the_control_id_and_msh_mirrors_sender_and_receiver(self):
        client = MllpClient(self.address)
        client.send(adt("A01", "CTRL-77", nhs_number(7), "V7"))
        ack = ack_fields(client.ack())
        client.close()
        self.assertEqual(ack["MSA"][2], "CTRL-77")
        msh = ack["MSH"]
        self.assertEqual((msh[2], msh[3], msh[4], msh[5]), ("COMMISSIOND", "ICS", "PAS", "RXC_PAS"))

    def test_wrong_messages_get_ae_naming_the_field_and_nothing_reaches_the_daemon(self):
        bad_check_digit = nhs_number(5)[:-1] + str((int(nhs_number(5)[-1]) + 1) % 10)
        cases = [
            ("an invalid NHS number", adt("A01", "E1", bad_check_digit, "V1"), "PID"),
            ("an unknown trigger", adt("A01", "E2", nhs_number(1), "V1").replace("ADT^A01^ADT_A01", "ADT^A99^ADT_A99"), "MSH"),
            ("an unparseable time", adt("A01", "E3", nhs_number(1), "V1", when="2026051X"), "PV1"),
            ("a training system's message",
             adt("A01", "E4", nhs_number(1), "V1").replace("|E4|P|2.4", "|E4|T|2.4"), "MSH^1^11"),
        ]
        before = self.events_stored()
        client = MllpClient(self.address)
        for name, message, segment in cases:
            with self.subTest(name):
                client.send(message)
                ack = ack_fields(client.ack())
                self.assertEqual(ack["MSA"][1], "AE", ack)
                self.assertIn("ERR", ack)
                self.assertIn(segment, "|".join(ack["ERR"]))
        client.close()
        self.assertEqual(self.events_stored(), before)
        # The log names the field once, then the rule; never the value.
        log = self.adapter.log_text()
        self.assertIn("127.0.0.1: AE: PID-3: the NHS number is not valid", log)
        self.assertNotIn("PID-3: PID-3", log)
        self.assertNotIn(bad_check_digit, log)

    def test_a_v22_trigger_in_evn_1_alone_is_in_the_ack_of_aa_and_ae_alike(self):
        """v2.2 lets MSH-9 be ADT alone, with the trigger in EVN-1: AA and AE
        both say ACK^A01 (no message structure before v2.3.1)."""
        def v22(control_id, nhs):
            return (adt("A01", control_id, nhs, "V22").replace("|ADT^A01^ADT_A01|", "|ADT|")
                    .replace("|P|2.4", "|P|2.2"))
        client = MllpClient(self.address)
        for control_id, nhs, code in (("V22-1", nhs_number(600), "AA"), ("V22-2", "", "AE")):
            message = v22(control_id, nhs)
            self.assertIn("|ADT|", message)
            client.send(message)
            ack = ack_fields(client.ack())
            self.assertEqual(ack["MSA"][1:3], [code, control_id], ack)
            self.assertEqual(ack["MSH"][8], "ACK^A01", ack)
        client.close()

    def test_a_resent_message_is_one_event(self):
        client = MllpClient(self.address)
        message = adt("A01", "SAME-1", nhs_number(9), "V9")
        for _ in range(3):
            client.send(message)
            self.assertEqual(ack_fields(client.ack())["MSA"][1], "AA")
        client.close()
        # At least 2: a commit slower than [adapter] resend_ms has the
        # adapter deliver one again, which is one more duplicate.
        wait_for(lambda: self.daemon.status()["duplicates"] >= 2, what="the resends")
        self.assertEqual(self.events_stored(), 3 + 1)

    def test_control_ids_that_differ_after_a_separator_are_distinct_events(self):
        """MSH-10 sent with ^ ~ & in it is the id whole: CID^1 and CID^2 are
        two admissions, not one admission and a reuse in dead letters."""
        ids = ["CID^1", "CID^2", "RID~1", "RID~2", "SID&1", "SID&2"]
        client = MllpClient(self.address)
        for i, control_id in enumerate(ids):
            client.send(adt("A01", control_id, nhs_number(300 + i), f"VS{i}"))
            self.assertEqual(ack_fields(client.ack())["MSA"][1:3], ["AA", control_id])
        client.close()
        wait_for(lambda: self.events_stored() == 3 + len(ids), what="six admissions")
        self.assertEqual(self.daemon.status()["rejected"], 0)
        events = self.daemon.ctl("events", check=True).stdout
        for control_id in ids:
            self.assertIn(control_id, events)

    def test_many_connections_and_messages_split_across_writes_or_sent_together(self):
        def sender(k):
            client = MllpClient(self.address)
            frames = b"".join(b"\x0b" + adt("A01", f"K{k}-{i}", nhs_number(100 * k + i), f"V{k}-{i}").encode() + b"\x1c\x0d"
                              for i in range(20))
            # Half in one write, the rest byte-split at an awkward place.
            client.send_raw(frames[: len(frames) // 2 + 7])
            client.send_raw(frames[len(frames) // 2 + 7:])
            codes = [ack_fields(client.ack())["MSA"][1] for _ in range(20)]
            client.close()
            results[k] = codes
        results = {}
        run_senders(sender, 8, timeout=60)
        self.assertEqual(sorted(results), list(range(8)))
        self.assertTrue(all(codes == ["AA"] * 20 for codes in results.values()), results)
        wait_for(lambda: self.events_stored() == 3 + 160, what="160 admissions")

    def test_concurrent_connections_get_acks_in_their_order_and_share_fsyncs(self):
        """Group commit: messages from many connections at once are made
        durable together (fewer outbox commits than messages), and each
        connection still gets its ACKs in its own order, AE and AA mixed."""
        per_sender, window = 30, 6

        def sender(k):
            client = MllpClient(self.address)
            msgs = []
            for i in range(per_sender):
                control_id = f"G{k}-{i}"
                # Every seventh has no NHS number: AE, answered in its place.
                nhs = "" if i % 7 == 3 else nhs_number(1000 + 100 * k + i)
                msgs.append((control_id, adt("A01", control_id, nhs, f"VG{k}-{i}"),
                             "AE" if not nhs else "AA"))
            got, sent = [], 0
            # Senders 0-5 wait for each ACK (as a PAS does); 6-7 keep a window.
            w = 1 if k < 6 else window
            while len(got) < per_sender:
                while sent < per_sender and sent - len(got) < w:
                    client.send(msgs[sent][1])
                    sent += 1
                fields = ack_fields(client.ack())
                got.append((fields["MSA"][2], fields["MSA"][1]))
            client.close()
            results[k] = (got, [(c, code) for c, _, code in msgs])

        results = {}
        run_senders(sender, 8, timeout=120)
        self.assertEqual(sorted(results), list(range(8)))
        for k, (got, expected) in results.items():
            self.assertEqual(got, expected, f"connection {k}: ACKs out of order or wrong")
        accepted = sum(code == "AA" for _, expected in results.values() for _, code in expected)
        wait_for(lambda: self.events_stored() == 3 + accepted, timeout=60,
                 what=f"{accepted} admissions")
        self.assertEqual(self.adapter.stop(), 0)
        m = re.search(r"outbox: (\d+) envelopes put in (\d+) commits", self.adapter.log_text())
        self.assertIsNotNone(m, self.adapter.log_text())
        put, commits = int(m.group(1)), int(m.group(2))
        self.assertEqual(put, accepted)
        # Each of the daemon's acks was matched to its envelope and settled.
        m = re.search(r"(\d+) accepted, (\d+) duplicate", self.adapter.log_text())
        self.assertEqual(int(m.group(1)) + int(m.group(2)), put, self.adapter.log_text())
        # Without group commit each connection's read is a commit of its
        # own: at least one for every message of those waiting for each ACK.
        waiting = sum(code == "AA" for k, (_, expected) in results.items() if k < 6
                      for _, code in expected)
        self.assertLess(commits, waiting, f"{put} envelopes in {commits} fsyncs")
        self.adapter.start()  # for tearDown

    def test_no_nhs_number_is_kept_or_logged_anywhere(self):
        numbers = [nhs_number(n) for n in range(40, 45)]
        client = MllpClient(self.address)
        for i, number in enumerate(numbers):
            client.send(adt("A01", f"P{i}", number, f"VP{i}"))
            self.assertEqual(ack_fields(client.ack())["MSA"][1], "AA")
        client.close()
        wait_for(lambda: self.events_stored() == 3 + len(numbers), what="delivery")
        files = [p for p in glob.glob(f"{self.workdir}/**", recursive=True) if os.path.isfile(p)]
        for path in files:
            with open(path, "rb") as f:
                data = f.read()
            for number in numbers:
                self.assertNotIn(number.encode(), data, f"{number} found in {path}")


class Connections(Hl7Case):
    """Connections that would otherwise hold a slot for good: a peer gone
    without a reset (TCP keepalive finds it) and one stalled mid-frame."""

    settings = {"hl7.frame_timeout_ms": "2000"}  # 60000 by default

    def adapter_side(self, client):
        """ss's line for the adapter's end of client's connection."""
        port = client.sock.getsockname()[1]
        out = subprocess.run(["ss", "-tnoH", "state", "established", f"( dport = :{port} )"],
                             capture_output=True, text=True, check=True).stdout
        self.assertTrue(out.strip(), f"no connection to port {port} in ss")
        return out

    def test_accepted_connections_have_tcp_keepalive_of_about_two_minutes(self):
        client = MllpClient(self.address)
        client.send(adt("A01", "KA-1", nhs_number(400), "VKA"))
        self.assertEqual(ack_fields(client.ack())["MSA"][1], "AA")
        line = self.adapter_side(client)
        client.close()
        # Idle 60 s before the first probe (then 6 every 10 s); the
        # system's default is 2 hours, and 9 probes 75 s apart.
        m = re.search(r"timer:\(keepalive,([^,)]+)", line)
        self.assertIsNotNone(m, line)
        units = {"min": 60, "sec": 1, "ms": 0.001}
        seconds = sum(float(n) * units[u] for n, u in re.findall(r"([\d.]+)(min|sec|ms)", m.group(1)))
        self.assertTrue(50 <= seconds <= 60, line)

    def test_a_frame_stalled_mid_message_closes_its_connection_and_an_idle_one_stays(self):
        stalled = MllpClient(self.address)
        stalled.send_raw(b"\x0b" + adt("A01", "ST-1", nhs_number(401), "VST").encode()[:60])
        idle = MllpClient(self.address)
        stalled.sock.settimeout(30)
        started = time.monotonic()
        with self.assertRaisesRegex(AssertionError, "closed the connection"):
            stalled.ack()
        waited = time.monotonic() - started
        stalled.close()
        # Swept every 500 ms (a quarter of the timeout).
        self.assertTrue(1.9 <= waited <= 4, f"closed after {waited:.1f} s")
        self.assertIn("has no end block (0x1C 0x0D): the sender stalled mid-message",
                      self.adapter.log_text())
        # A connection with nothing in flight is left open: engines keep
        # theirs open overnight.
        idle.send(adt("A01", "ST-2", nhs_number(402), "VST2"))
        self.assertEqual(ack_fields(idle.ack())["MSA"][1:3], ["AA", "ST-2"])
        idle.close()


class OutOfFileDescriptors(Hl7Case):
    """accept() failing for want of file descriptors (an open files limit
    below [hl7] max_connections) pauses the listener with a warning, rather
    than spinning on the connection waiting in the backlog; it accepts again
    once descriptors are free."""

    def setUp(self):
        import resource
        self.workdir = tempfile.mkdtemp(prefix="cd-hl7-")
        self.daemon = Daemon(self.workdir, **adapter_settings(self.workdir),
                             **{"hl7.provider": "RXC_PAS=RXC"})
        self.daemon.start()
        register(self.daemon)
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        # The adapter inherits it: some 30 descriptors of its own, then
        # room for a few dozen connections, far below max_connections.
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
        try:
            self.adapter = Adapter(self.daemon, HL7).start()
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        self.address = self.daemon.settings["hl7.listen"]

    def cpu_seconds(self):
        with open(f"/proc/{self.adapter.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def test_no_descriptor_for_a_connection_pauses_accepting_and_it_resumes(self):
        import socket
        host, port = self.address.rsplit(":", 1)
        held = [socket.create_connection((host, int(port))) for _ in range(80)]
        wait_for(lambda: "cannot accept a connection: Too many open files"
                 in self.adapter.log_text(), what="the warning")
        before = self.cpu_seconds()
        time.sleep(2)
        spent = self.cpu_seconds() - before
        # Spinning on accept() would take a core: 2 s of it.
        self.assertLess(spent, 0.4, f"{spent:.2f} s of CPU in 2 s with nothing to do")
        for sock in held:
            sock.close()
        client = MllpClient(self.address)
        client.send(adt("A01", "FD-1", nhs_number(650), "VFD1"))
        self.assertEqual(ack_fields(client.ack())["MSA"][1:3], ["AA", "FD-1"])
        client.close()
        self.assertIn("the open files limit, LimitNOFILE, bounds [hl7] max_connections",
                      self.adapter.log_text())


class HalfClose(Hl7Case):
    """A sender that shuts its side (shutdown(SHUT_WR)) after its last
    message can still read: it gets the ACK of every whole message it sent
    before its FIN, then a clean close (a FIN, not a reset)."""

    def read_acks_then_eof(self, client, n):
        acks = [ack_fields(client.ack()) for _ in range(n)]
        client.sock.settimeout(15)
        self.assertEqual(client.buffer, b"")
        self.assertEqual(client.sock.recv(65536), b"", "more than the ACKs, or no close")
        client.close()
        return [ack["MSA"][1:3] for ack in acks]

    def test_a_sender_that_shuts_its_side_gets_its_acks_then_a_clean_close(self):
        import socket
        client = MllpClient(self.address)
        client.send_raw(b"".join(b"\x0b" + adt("A01", f"HC-{i}", nhs_number(700 + i), f"VHC{i}")
                                 .encode() + b"\x1c\x0d" for i in range(3)))
        client.sock.shutdown(socket.SHUT_WR)
        self.assertEqual(self.read_acks_then_eof(client, 3),
                         [["AA", f"HC-{i}"] for i in range(3)])
        wait_for(lambda: self.events_stored() == 3 + 3, what="the three admissions")
        # Nothing sent at all: closed at once, cleanly.
        empty = MllpClient(self.address)
        empty.sock.shutdown(socket.SHUT_WR)
        self.assertEqual(self.read_acks_then_eof(empty, 0), [])

    def test_more_messages_than_one_turn_takes_and_a_cut_frame_before_the_fin(self):
        """300 messages (one turn takes 256 from a connection), some AE, and
        half a frame: every whole one answered in order, the half warned of."""
        import socket
        n = 300
        messages = [adt("A01", f"HM-{i}", "" if i % 50 == 7 else nhs_number(800 + i), f"VHM{i}")
                    for i in range(n)]
        client = MllpClient(self.address)
        client.send_raw(b"".join(b"\x0b" + m.encode() + b"\x1c\x0d" for m in messages)
                        + b"\x0b" + adt("A01", "HM-CUT", nhs_number(799), "VHMC").encode()[:40])
        client.sock.shutdown(socket.SHUT_WR)
        expected = [["AE" if i % 50 == 7 else "AA", f"HM-{i}"] for i in range(n)]
        self.assertEqual(self.read_acks_then_eof(client, n), expected)
        accepted = sum(code == "AA" for code, _ in expected)
        wait_for(lambda: self.events_stored() == 3 + accepted, timeout=60,
                 what=f"{accepted} admissions")
        self.assertIn("the sender shut its side in mid-frame: 41 bytes with no end block",
                      self.adapter.log_text())


class Framing(Hl7Case):
    """Broken MLLP framing costs the broken message alone, and is said."""

    def test_a_frame_without_its_end_block_gets_ae_and_the_next_frame_is_read(self):
        before = self.events_stored()
        client = MllpClient(self.address)
        cut = adt("A01", "FR-A", nhs_number(500), "VFA").encode()
        whole = adt("A01", "FR-B", nhs_number(501), "VFB").encode()
        client.send_raw(b"\x0b" + cut + b"\x0b" + whole + b"\x1c\x0d")
        first = ack_fields(client.ack())
        self.assertEqual(first["MSA"][1:3], ["AE", "FR-A"], first)
        self.assertIn("no end block", "|".join(first["MSA"]), first)
        self.assertEqual(ack_fields(client.ack())["MSA"][1:3], ["AA", "FR-B"])
        # 1C 0A is not an end block either.
        client.send_raw(b"\x0b" + cut.replace(b"FR-A", b"FR-C") + b"\x1c\x0a")
        client.send(adt("A01", "FR-D", nhs_number(503), "VFD"))
        self.assertEqual(ack_fields(client.ack())["MSA"][1:3], ["AE", "FR-C"])
        self.assertEqual(ack_fields(client.ack())["MSA"][1:3], ["AA", "FR-D"])
        # A doubled start block: read as one, and said so.
        client.send_raw(b"\x0b\x0b" + adt("A01", "FR-E", nhs_number(504), "VFE").encode()
                        + b"\x1c\x0d")
        self.assertEqual(ack_fields(client.ack())["MSA"][1:3], ["AA", "FR-E"])
        client.close()
        wait_for(lambda: self.events_stored() == before + 3, what="FR-B, FR-D and FR-E")
        log = self.adapter.log_text()
        self.assertIn("a frame with no end block (0x1C 0x0D) before the next start block "
                      "(0x0B): answered AE", log)
        self.assertIn("a doubled start block (0x0B 0x0B) read as one", log)
        self.assertNotIn("0 bytes dropped", log)

    def test_a_doubled_end_byte_is_read_as_one_end_block(self):
        """0x1C 0x1C 0x0D: the message is whole (0x1C is never data), so it
        is taken, with a warning, not refused for a stray byte in it."""
        client = MllpClient(self.address)
        client.send_raw(b"\x0b" + adt("A01", "DE-1", nhs_number(540), "VDE").encode()
                        + b"\x1c\x1c\x0d")
        self.assertEqual(ack_fields(client.ack())["MSA"][1:3], ["AA", "DE-1"])
        client.close()
        self.assertIn("a doubled end block (0x1C 0x1C 0x0D) read as one",
                      self.adapter.log_text())

    def test_a_doubled_end_block_is_not_said_to_be_a_message_without_its_start(self):
        """0x1C 0x0D 0x1C 0x0D: the second end block held nothing; the log
        must not tell the operator that a message was skipped."""
        client = MllpClient(self.address)
        client.send_raw(b"\x0b" + adt("A01", "DB-1", nhs_number(545), "VDB").encode()
                        + b"\x1c\x0d\x1c\x0d")
        self.assertEqual(ack_fields(client.ack())["MSA"][1:3], ["AA", "DB-1"])
        client.send(adt("A01", "DB-2", nhs_number(546), "VDB2"))
        self.assertEqual(ack_fields(client.ack())["MSA"][1:3], ["AA", "DB-2"])
        client.close()
        log = self.adapter.log_text()
        self.assertIn("a stray end block (0x1C) outside any frame skipped", log)
        self.assertNotIn("without its start block", log)

    def test_an_end_block_byte_in_msh_10_gets_ae_and_never_breaks_the_ack_frame(self):
        client = MllpClient(self.address)
        bad = adt("A01", "FS-1\x1c", nhs_number(520), "VFS").replace("|2.4", "|2.5")
        good = adt("A01", "FS-2", nhs_number(521), "VFS2").replace("|2.4", "|2.5")
        client.send_raw(b"\x0b" + bad.encode() + b"\x1c\x0d\x0b" + good.encode() + b"\x1c\x0d")
        first = client.ack()
        self.assertNotIn("\x1c", first)
        self.assertNotIn("\x0b", first)
        fields = ack_fields(first)
        self.assertEqual(fields["MSA"][1:3], ["AE", ""], first)
        self.assertEqual(fields["ERR"][2], "MSH^1^10", first)
        self.assertIn("control byte 0x1c", fields["ERR"][8])
        # The next ACK is in step: the second message's.
        self.assertEqual(ack_fields(client.ack())["MSA"][1:3], ["AA", "FS-2"])
        client.close()

    def test_a_message_without_its_start_block_is_a_warning(self):
        client = MllpClient(self.address)
        client.send_raw(adt("A01", "NS-1", nhs_number(510), "VNS").encode() + b"\x1c\x0d\r\n")
        client.send(adt("A01", "NS-2", nhs_number(511), "VNS2"))
        self.assertEqual(ack_fields(client.ack())["MSA"][1:3], ["AA", "NS-2"])
        client.close()
        self.assertRegex(self.adapter.log_text(),
                         r"<4>.*bytes outside MLLP frames skipped: a message sent without its "
                         r"start block \(0x0B\) is not read")


class TooLarge(Hl7Case):
    """A message over [hl7] max_message_bytes (1 MiB): AE with the header
    mirrored, then the connection closed, as the docs say; the ACKs reach
    the sender before the close (no reset)."""

    def test_a_message_too_large_gets_ae_then_the_connection_closes(self):
        good = adt("A01", "TL-1", nhs_number(530), "VTL1")
        big = adt("A01", "TL-2", nhs_number(531), "VTL2") + ("ZZZ|" + "x" * 60000 + "\r") * 18
        after = adt("A01", "TL-3", nhs_number(532), "VTL3")
        self.assertGreater(len(big), 1048576)
        client = MllpClient(self.address)
        client.send_raw(b"".join(b"\x0b" + m.encode() + b"\x1c\x0d" for m in (good, big, after)))
        self.assertEqual(ack_fields(client.ack())["MSA"][1:3], ["AA", "TL-1"])
        refused = ack_fields(client.ack())
        self.assertEqual(refused["MSA"][1:3], ["AE", "TL-2"], refused)
        self.assertEqual(refused["MSH"][3:6], ["ICS", "PAS", "RXC_PAS"], refused)
        self.assertIn("longer than 1048576 bytes ([hl7] max_message_bytes", refused["MSA"][3])
        # Then the connection closes (a FIN, not a reset), and what came
        # after the refused message is not answered: it is sent again.
        with self.assertRaisesRegex(AssertionError, "closed the connection"):
            client.ack()
        client.close()
        self.assertIn("max_message_bytes): answered AE; closing the connection",
                      self.adapter.log_text())
        again = MllpClient(self.address)
        again.send(after)
        self.assertEqual(ack_fields(again.ack())["MSA"][1:3], ["AA", "TL-3"])
        again.close()
        wait_for(lambda: self.events_stored() == 3 + 2, what="TL-1 and TL-3")

    def test_a_message_too_large_with_no_header_is_not_answered_and_the_connection_closes(self):
        """No MSH-10 to match an AE to: the ACKs before it, then the close,
        and a warning that says why nothing answered it."""
        good = adt("A01", "TL-4", nhs_number(533), "VTL4")
        client = MllpClient(self.address)
        client.send_raw(b"\x0b" + good.encode() + b"\x1c\x0d\x0b" + b"x" * 1100000)
        self.assertEqual(ack_fields(client.ack())["MSA"][1:3], ["AA", "TL-4"])
        with self.assertRaisesRegex(AssertionError, "closed the connection"):
            client.ack()
        client.close()
        self.assertIn("max_message_bytes), with no MSH-10 to answer it by: closing the "
                      "connection", self.adapter.log_text())
        wait_for(lambda: self.events_stored() == 3 + 1, what="TL-4")


class SlowSender(Hl7Case):
    """A large message sent a few hundred bytes at a time: each read looks
    at what came, not again at all of the frame so far."""

    def cpu_seconds(self):
        with open(f"/proc/{self.adapter.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def test_a_large_message_dripped_in_small_writes_costs_little_cpu(self):
        import socket
        message = (adt("A01", "SL-1", nhs_number(560), "VSL")
                   + ("ZZZ|" + "x" * 45000 + "\r") * 21).encode()
        self.assertLess(len(message), 1048576)
        client = MllpClient(self.address)
        client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        frame = b"\x0b" + message
        before = self.cpu_seconds()
        started = time.monotonic()
        for at in range(0, len(frame), 200):
            client.send_raw(frame[at:at + 200])
            time.sleep(0.0005)
        elapsed = time.monotonic() - started
        spent = self.cpu_seconds() - before
        client.send_raw(b"\x1c\x0d")
        self.assertEqual(ack_fields(client.ack())["MSA"][1:3], ["AA", "SL-1"])
        client.close()
        # Looking through the whole frame on every read took most of a
        # core while it came (about 2 s of CPU); each read's own bytes, a
        # small part of that.
        self.assertLess(spent, 0.2 * elapsed + 0.2,
                        f"{spent:.2f} s of CPU while {len(frame)} bytes came in {elapsed:.1f} s")


class LostAck(Hl7Case):
    """An ACK the adapter cannot send (out of memory, made so by
    fail_ack.c under LD_PRELOAD): no later ACK may overtake it, so the
    connection closes, and what it left unanswered is sent again."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cd-hl7-")
        self.daemon = Daemon(self.workdir, **adapter_settings(self.workdir),
                             **{"hl7.provider": "RXC_PAS=RXC"})
        self.daemon.start()
        register(self.daemon)
        saved = dict(os.environ)
        os.environ.update(preload_env(self.workdir, "fail_ack", FAIL_ACK="2"))
        try:
            self.adapter = Adapter(self.daemon, HL7).start()
        finally:
            os.environ.clear()
            os.environ.update(saved)
        self.address = self.daemon.settings["hl7.listen"]

    def test_no_ack_overtakes_a_lost_one_and_the_resends_are_stored_once(self):
        messages = [adt("A01", f"L{i}", nhs_number(20 + i), f"VL{i}") for i in range(3)]
        client = MllpClient(self.address)
        client.send_raw(b"".join(b"\x0b" + m.encode() + b"\x1c\x0d" for m in messages))
        first = ack_fields(client.ack())
        self.assertEqual(first["MSA"][1:3], ["AA", "L0"], first)
        # The second ACK is lost: the third must not come in its place.
        with self.assertRaisesRegex(AssertionError, "closed the connection"):
            client.ack()
        client.close()
        self.assertIn("closing the connection", self.adapter.log_text())
        again = MllpClient(self.address)
        for i, message in enumerate(messages[1:], 1):
            again.send(message)
            self.assertEqual(ack_fields(again.ack())["MSA"][1:3], ["AA", f"L{i}"])
        again.close()
        wait_for(lambda: self.events_stored() == 3 + 3, what="the three admissions")


class ThirdPartyClient(Hl7Case):
    """The same adapter driven by a real third-party MLLP client: Medplum's
    Hl7Client from the npm registry."""

    def test_a_third_party_mllp_client_gets_aa_and_its_events_arrive(self):
        from harness import third_party_mllp_send
        messages = [adt("A01", f"NPM-{i}", nhs_number(200 + i), f"VN{i}") for i in range(5)]
        messages.append(adt("A03", "NPM-D", nhs_number(200), "VN0", when="20260510170000"))
        answers = third_party_mllp_send(self.address, messages)
        self.assertEqual([a["msa1"] for a in answers], ["AA"] * 6)
        self.assertEqual([a["msa2"] for a in answers], [f"NPM-{i}" for i in range(5)] + ["NPM-D"])
        wait_for(lambda: self.events_stored() == 3 + 6, what="delivery")
        flow = json.loads(self.daemon.ctl("show", "flow", "--as-of", AS_OF, check=True).stdout)
        self.assertEqual(flow["flow"]["providers"]["RXC"]["in_hospital"], 4)
