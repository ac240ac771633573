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
        import socket
        import time
        self.daemon.settings.update(adapter_settings(self.workdir))
        self.daemon.write_config()
        adapter = Adapter(self.daemon, HL7).start()
        answered = lambda: adapter.log_text().count(" AE field=")
        try:
            host, port = self.daemon.settings["hl7.listen"].rsplit(":", 1)
            sock = socket.create_connection((host, int(port)), timeout=30)
            sock.setblocking(False)
            # No PID segment: each gets an AE of about 300 bytes.
            message = (b"\x0bMSH|^~\\&|PAS|RXC_PAS|COMMISSIOND|ICS|20260510093000||"
                       b"ADT^A01^ADT_A01|C1|P|2.4\r\x1c\x0d")
            data, buf, total = message * 1000, b"", 0
            while total < 100000 * len(message):
                buf = buf or data
                try:
                    n = sock.send(buf)
                except BlockingIOError:
                    break  # the adapter stopped reading
                total, buf = total + n, buf[n:]
            whole = total // len(message)
            # Wait until the adapter stops answering.
            last, still_since = -1, time.monotonic()
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                now = answered()
                if now != last:
                    last, still_since = now, time.monotonic()
                elif time.monotonic() - still_since > 3:
                    break
                time.sleep(0.2)
            self.assertGreater(last, 1000)
            self.assertLess(last, whole // 2,
                            f"{last} of {whole} messages answered while the sender read nothing")
            # Read the ACKs: it reads and answers again, every whole message.
            sock.setblocking(True)
            sock.settimeout(1)
            deadline = time.monotonic() + 120
            while answered() < whole and time.monotonic() < deadline:
                try:
                    sock.recv(1 << 20)
                except socket.timeout:
                    pass
            self.assertEqual(answered(), whole)
            sock.close()
        finally:
            self.assertEqual(adapter.stop(), 0, adapter.log_text())
