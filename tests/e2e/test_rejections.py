"""Bad input gets a clear REJECTED ack, lands in the dead letters, and the
daemon goes on serving."""
import json

import zmq

from harness import DaemonTestCase, decode_ack, event_mix, json_lines, pb_field, pb_fields


class Rejections(DaemonTestCase):

    def setUp(self):
        super().setUp()
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(self.daemon.settings["ingest.endpoint"])

    def tearDown(self):
        self.sock.close()
        self.ctx.term()
        super().tearDown()

    def ask(self, frame):
        self.sock.send(frame)
        self.assertTrue(self.sock.poll(10000), "no ack within 10 s")
        return decode_ack(self.sock.recv())

    def assert_still_serving(self):
        acks, proc = self.daemon.send(event_mix(1))
        self.assertEqual(acks[0]["status"], "ACK_STATUS_ACCEPTED", proc.stderr)

    def test_malformed_frames_are_rejected_with_a_reason_and_kept_as_dead_letters(self):
        no_event = (pb_field(1, "feed") + pb_field(2, "X1") + pb_field(3, 1778371200000))
        unknown_kind = no_event + pb_field(99, b"\x0a\x01x")  # a field from a newer schema
        cases = [
            ("garbage bytes", b"\xff\xfe\xfd garbage \x00\x01", "not a commissioning.Envelope"),
            ("an empty frame", b"", "empty"),
            ("a 10 MB frame", b"\x0a" * (10 * 1024 * 1024), "above the limit"),
            ("an envelope with no event set", no_event, "no known event set"),
            ("an unknown event kind", unknown_kind, "no known event set"),
        ]
        for name, frame, words in cases:
            with self.subTest(name):
                ack = self.ask(frame)
                self.assertEqual(ack["status"], "REJECTED", name)
                self.assertIn(words, ack["reason"])
                self.assertTrue(ack["field"])
        # A frame refused unread still names its source and id, read off
        # the wire where they can be, so that its sender can settle it;
        # bytes that are not printable ASCII are echoed as '?'.
        ids = pb_field(1, "hl7:RXC") + pb_field(2, "BIG-\n1")
        for name, frame in (("too large", ids + pb_field(3, 1) + pb_field(20, b"x" * 2000000)),
                            # occurred_at (an int64) sent as bytes: the
                            # wire reads, protobuf-c refuses it
                            ("not an Envelope", ids + pb_field(3, b"xx"))):
            with self.subTest(name):
                ack = self.ask(frame)
                self.assertEqual((ack["status"], ack["source"], ack["eventId"]),
                                 ("REJECTED", "hl7:RXC", "BIG-?1"), ack)
                cases.append((name, frame, ack["reason"][:20]))
        dead = json_lines(self.daemon.ctl("deadletters", check=True).stdout)
        self.assertEqual(len(dead), len(cases))
        self.assertEqual([(d["source"], d["eventId"]) for d in dead[-2:]],
                         [("hl7:RXC", "BIG-?1")] * 2)
        for letter, (name, frame, words) in zip(dead, cases):
            self.assertIn(words, letter["reason"], name)
            self.assertEqual(int(letter.get("rawSize", "0")), len(frame), name)
        self.assertEqual(self.daemon.status()["rejected"], len(cases))
        self.assert_still_serving()

    def test_a_request_from_a_req_socket_is_answered_too(self):
        req = self.ctx.socket(zmq.REQ)
        req.setsockopt(zmq.LINGER, 0)
        req.connect(self.daemon.settings["ingest.endpoint"])
        req.send(b"not protobuf")
        self.assertTrue(req.poll(10000))
        self.assertEqual(decode_ack(req.recv())["status"], "REJECTED")
        req.close()

    def test_invalid_identifiers_are_rejected_naming_the_field(self):
        good = event_mix(1)[0]
        bad_provider = json.loads(json.dumps(good))
        bad_provider["patientAdmitted"]["provider"] = "XYZ"
        bad_site = json.loads(json.dumps(good))
        bad_site["eventId"] = "other"
        bad_site["patientAdmitted"]["site"] = "RBB01"
        bad_pseudonym = json.loads(json.dumps(good))
        bad_pseudonym["eventId"] = "third"
        bad_pseudonym["patientAdmitted"]["patientPseudonym"] = "AAAA"
        acks, proc = self.daemon.send([bad_provider, bad_site, bad_pseudonym])
        self.assertEqual(proc.returncode, 1)
        self.assertEqual([a["status"] for a in acks], ["ACK_STATUS_REJECTED"] * 3)
        self.assertEqual([a["field"] for a in acks], ["provider", "site", "patient_pseudonym"])
        self.assertEqual(self.daemon.status()["events"], 0)
        # A corrected resend under the same id is judged afresh.
        acks, proc = self.daemon.send([good])
        self.assertEqual(acks[0]["status"], "ACK_STATUS_ACCEPTED")

    def test_a_line_that_is_not_an_envelope_is_reported_by_commissionctl(self):
        proc = self.daemon.ctl("send", input='{"source": "x", "noSuchField": 1}\nnot json\n')
        self.assertEqual(proc.returncode, 1)
        self.assertIn("line 1: not an Envelope: noSuchField: no such field", proc.stderr)
        self.assertIn("line 2: not JSON", proc.stderr)

    def test_ids_that_are_not_text_are_echoed_as_utf8_and_logged_on_one_line(self):
        # An Ack's strings must be UTF-8 (proto3: strict decoders refuse
        # the whole message otherwise), and an event id must not put a
        # line with a journald priority of its own into the log.
        from harness import admission
        from protopack import pack_envelope
        packed = pack_envelope(dict(admission(1), source="S", eventId="E"))
        head = pb_field(1, "S") + pb_field(2, "E")
        self.assertTrue(packed.startswith(head))
        cases = [
            ("an event id not UTF-8", b"hl7:RXC", b"A\xff\xfe", "event_id"),
            ("an event id with a line break", b"hl7:RXC", b"X\n<0>commissiond: forged", "event_id"),
            ("a source too long, cut inside a character", ("a" + "\u00e9" * 40).encode(), b"E1",
             "source"),
        ]
        for name, source, event_id, field in cases:
            with self.subTest(name):
                self.sock.send(pb_field(1, source) + pb_field(2, event_id) + packed[len(head):])
                self.assertTrue(self.sock.poll(10000), "no ack within 10 s")
                f = pb_fields(self.sock.recv())
                texts = {n: f[n][0].decode("utf-8") for n in (1, 4, 5, 6) if n in f}
                self.assertEqual(f[2][0], 3, name)  # REJECTED
                self.assertEqual(texts[5], field, name)
                for n, text in texts.items():
                    self.assertTrue(all(" " <= c <= "~" for c in text), f"{name}: {n}: {text!r}")
        self.assertNotIn("\n<0>", self.daemon.log_text())
        self.assertIn("event_id=X?<0>commissiond: forged", self.daemon.log_text())
        dead = json_lines(self.daemon.ctl("deadletters", check=True).stdout)
        self.assertEqual([d["eventId"] for d in dead], ["A??", "X?<0>commissiond: forged", "E1"])
        self.assert_still_serving()

    def test_a_request_with_too_many_frames_is_rejected_not_dropped_unanswered(self):
        from harness import admission
        from protopack import pack_envelope
        # Three frames may come before the Envelope (routing ids, a REQ
        # socket's delimiter), and come back before the Ack.
        self.sock.send_multipart([b"r1", b"r2", b"", pack_envelope(admission(1))])
        self.assertTrue(self.sock.poll(10000), "no ack within 10 s")
        reply = self.sock.recv_multipart()
        self.assertEqual(reply[:3], [b"r1", b"r2", b""])
        self.assertEqual(decode_ack(reply[3])["status"], "ACCEPTED")
        for extra in (4, 9):
            with self.subTest(f"{extra} frames before the Envelope"):
                frames = [b"r%d" % i for i in range(extra)] + [pack_envelope(admission(extra))]
                self.sock.send_multipart(frames)
                self.assertTrue(self.sock.poll(10000), "no ack within 10 s")
                reply = self.sock.recv_multipart()
                self.assertEqual(reply[:-1], frames[:3])
                ack = decode_ack(reply[-1])
                self.assertEqual(ack["status"], "REJECTED")
                self.assertEqual(ack["field"], "envelope")
                self.assertIn(f"{extra} frames before its last", ack["reason"])
                self.assertEqual(ack["eventId"], f"A{extra:07d}")
        dead = json_lines(self.daemon.ctl("deadletters", check=True).stdout)
        self.assertEqual([d["field"] for d in dead], ["envelope", "envelope"])
        status = self.daemon.status()
        self.assertEqual((status["events"], status["rejected"]), (1, 2))
        self.assert_still_serving()
