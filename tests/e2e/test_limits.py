"""Sizes are checked before memory is taken: an envelope that would unpack
into far more memory than its size is REJECTED, and a replay request far
past its limit is cut off by ZeroMQ; the daemon serves on."""
import zmq

from harness import (HL7, Adapter, DaemonTestCase, adapter_settings, decode_ack, pb_field,
                     pb_fields, wait_for)


def capacity_envelope(event_id, extra=b""):
    ms = 1778371200000
    body = pb_field(1, "RXC01") + pb_field(2, 1) + pb_field(3, 400) + pb_field(4, 300)
    return (pb_field(1, "capacity") + pb_field(2, event_id) + pb_field(3, ms) +
            pb_field(26, body + pb_field(5, ms)) + extra)


class Limits(DaemonTestCase):

    def setUp(self):
        super().setUp()
        self.ctx = zmq.Context()

    def tearDown(self):
        self.ctx.destroy(linger=0)
        super().tearDown()

    def dealer(self, endpoint_key):
        s = self.ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(self.daemon.settings[endpoint_key])
        return s

    def test_an_envelope_of_many_tiny_unknown_fields_is_rejected_before_it_takes_memory(self):
        ingest = self.dealer("ingest.endpoint")
        # 100,000 unknown fields (9, varint 0) of two bytes each: 200 KB on
        # the wire, well under the 1 MiB limit, many MB once unpacked.
        ingest.send(capacity_envelope("H1", bytes([9 << 3, 0]) * 100000))
        self.assertTrue(ingest.poll(30000), "no ack within 30 s")
        ack = decode_ack(ingest.recv())
        self.assertEqual(ack["status"], "REJECTED")
        self.assertEqual(ack["field"], "envelope")
        self.assertIn("too many fields for its size", ack["reason"])
        # A few unknown fields (a newer sender's) are fine.
        ingest.send(capacity_envelope("H2", bytes([9 << 3, 0]) * 3))
        self.assertTrue(ingest.poll(30000), "no ack within 30 s")
        self.assertEqual(decode_ack(ingest.recv())["status"], "ACCEPTED")
        status = self.daemon.status()
        self.assertEqual((status["events"], status["deadLetters"]), (1, 1))

    def test_a_replay_request_far_past_its_limit_is_cut_off_and_replay_serves_on(self):
        big = self.dealer("replay.endpoint")
        big.send(pb_field(2, "x" * 200000))
        self.assertFalse(big.poll(2000), "a 200 KB replay request was answered")
        small = self.dealer("replay.endpoint")
        small.send(pb_field(1, 1))
        self.assertTrue(small.poll(30000), "no replay reply within 30 s")
        self.assertEqual(pb_fields(small.recv()).get(3), [1])  # end: nothing stored yet


class Hl7Backpressure(DaemonTestCase):
    """An MLLP sender that never reads its ACKs is no longer read once a
    megabyte of them waits, instead of the adapter's buffers growing."""

    def test_a_sender_that_does_not_read_its_acks_is_paused_then_resumed(self):
        # What the adapter answers is counted on the socket, not in its log:
        # the log holds back repeated lines of one kind (docs/OPERATIONS.md).
        import socket
        import time
        self.daemon.settings.update(adapter_settings(self.workdir))
        self.daemon.write_config()
        adapter = Adapter(self.daemon, HL7).start()
        try:
            host, port = self.daemon.settings["hl7.listen"].rsplit(":", 1)
            sock = socket.create_connection((host, int(port)), timeout=30)
            sock.setblocking(False)
            # No PID segment: each gets an AE of about 300 bytes.
            message = (b"\x0bMSH|^~\\&|PAS|RXC_PAS|COMMISSIOND|ICS|20260510093000||"
                       b"ADT^A01^ADT_A01|C1|P|2.4\r\x1c\x0d")
            offered = 100000 * len(message)
            data, buf, total = message * 1000, b"", 0
            stalled_since = None
            # Send until the adapter has taken nothing for 3 s: it has
            # stopped reading a sender that reads none of its ACKs.
            while total < offered:
                buf = buf or data[:offered - total]
                try:
                    n = sock.send(buf)
                    total, buf, stalled_since = total + n, buf[n:], None
                except BlockingIOError:
                    stalled_since = stalled_since or time.monotonic()
                    if time.monotonic() - stalled_since > 3:
                        break
                    time.sleep(0.05)
            self.assertLess(total, offered,
                            "the adapter read all 100,000 messages while their ACKs went unread")
            # Whole messages were sent; a part message stays unanswered.
            whole = total // len(message)
            self.assertGreater(whole, 1000)
            # Read the ACKs: it reads and answers again, every whole message.
            sock.setblocking(True)
            sock.settimeout(1)
            got = b""
            deadline = time.monotonic() + 120
            while got.count(b"\x1c\x0d") < whole and time.monotonic() < deadline:
                try:
                    chunk = sock.recv(1 << 20)
                except socket.timeout:
                    continue
                if not chunk:
                    break
                got += chunk
            self.assertEqual(got.count(b"\x1c\x0d"), whole)
            self.assertEqual(got.count(b"MSA|AE"), whole)
            sock.close()
        finally:
            self.assertEqual(adapter.stop(), 0, adapter.log_text())
