"""Replay streams (docs/PROTOCOL.md, Replay: streaming): a client grants
credit and the daemon sends that many replies back to back, each from the
one before's next_sequence; the client grants one more for each it takes.
The stream gives what one-request-at-a-time replay gives, every update
once and in order, and the daemon never sends more than was granted."""
import os
import subprocess
import threading
import time

import zmq

from harness import (CTL, DaemonTestCase, admission, assert_gap_free_once, capacity,
                     decode_update, event_mix, json_lines, pb_field, pb_fields,
                     process_rss_kib, replay_updates, wait_for)

TIMEOUT_MS = 30000


def request(from_sequence=None, prefix="", max_updates=0, credit=0, more_credit=0):
    out = b""
    if from_sequence is not None:
        out += pb_field(1, from_sequence)
    if prefix:
        out += pb_field(2, prefix)
    for number, value in ((3, max_updates), (4, credit), (5, more_credit)):
        if value:
            out += pb_field(number, value)
    return out


def reply_fields(data):
    f = pb_fields(data)
    return {"updates": [decode_update(u) for u in f.get(1, [])],
            "next": f.get(2, [0])[0], "end": bool(f.get(3, [0])[0]),
            "last": f.get(4, [0])[0], "error": f[5][0].decode() if 5 in f else "",
            "first": f.get(6, [0])[0]}


class ReplayClient(DaemonTestCase):
    """A daemon and a replay client's sockets."""

    def setUp(self):
        super().setUp()
        self.ctx = zmq.Context()
        self.endpoint = self.daemon.settings["replay.endpoint"]

    def tearDown(self):
        self.ctx.destroy(linger=0)
        super().tearDown()

    def dealer(self):
        s = self.ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(self.endpoint)
        return s

    def receive(self, sock):
        self.assertTrue(sock.poll(TIMEOUT_MS), f"no ReplayReply within {TIMEOUT_MS} ms")
        return reply_fields(sock.recv())

    def stream(self, from_sequence=0, prefix="", credit=3):
        """Every update from from_sequence on through a stream, granting
        one reply for each taken, and the replies."""
        sock = self.dealer()
        try:
            sock.send(request(from_sequence, prefix, credit=credit))
            replies = []
            while True:
                reply = self.receive(sock)
                self.assertEqual(reply["error"], "")
                replies.append(reply)
                if reply["end"]:
                    break
                sock.send(request(more_credit=1))
            # The stream is closed after its end: nothing more comes.
            self.assertFalse(sock.poll(300), "a reply after the one with end")
            return [u for r in replies for u in r["updates"]], replies
        finally:
            sock.close()



class ReplayStream(ReplayClient):

    settings = {"replay.max_updates": "7"}

    def test_a_stream_delivers_every_update_once_in_order_from_any_sequence(self):
        acks, proc = self.daemon.send(event_mix(60))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        last = self.daemon.status()["lastUpdateSequence"]
        self.assertGreater(last, 60)
        for start in (0, 1, 2, 37, last - 1, last):
            updates, replies = self.stream(start, credit=3)
            assert_gap_free_once(updates, max(start, 1), last)
            classic, _ = replay_updates(self.endpoint, start)
            self.assertEqual([u["raw"] for u in updates], [u["raw"] for u in classic])
            self.assertTrue(all(len(r["updates"]) <= 7 for r in replies))
            self.assertEqual((replies[-1]["next"], replies[-1]["last"]), (last + 1, last))
        # From past the end: one empty reply with end, telling where it is.
        updates, replies = self.stream(last + 100, credit=1)
        self.assertEqual((updates, len(replies), replies[0]["last"]), ([], 1, last))

    def test_a_stream_honours_a_topic_prefix(self):
        self.daemon.send(event_mix(80))
        prefix = "event.capacity_reported."
        updates, replies = self.stream(0, prefix, credit=2)
        classic, _ = replay_updates(self.endpoint, 0, prefix)
        self.assertEqual(len(updates), 8)
        self.assertTrue(all(u["topic"].startswith(prefix) for u in updates))
        self.assertEqual([u["sequence"] for u in updates], [u["sequence"] for u in classic])
        self.assertEqual(sorted(set(u["sequence"] for u in updates)),
                         [u["sequence"] for u in updates])

    def test_credit_bounds_what_is_sent_and_a_grant_sends_one_more(self):
        self.daemon.send(event_mix(60))  # > 120 updates: > 17 replies of 7
        sock = self.dealer()
        sock.send(request(1, credit=4))
        # The client reads nothing for a while: the daemon sends 4, no more.
        time.sleep(1.0)
        got = [self.receive(sock) for _ in range(4)]
        self.assertFalse(sock.poll(1000), "a fifth reply on a credit of 4")
        sock.send(request(more_credit=2))
        got += [self.receive(sock), self.receive(sock)]
        self.assertFalse(sock.poll(1000), "a seventh reply on 4 + 2 of credit")
        updates = [u for r in got for u in r["updates"]]
        assert_gap_free_once(updates, 1, 42)
        self.assertEqual(got[-1]["next"], 43)
        self.assertFalse(got[-1]["end"])
        # Opening again on the same connection starts a new stream there.
        sock.send(request(100, credit=1))
        reply = self.receive(sock)
        self.assertEqual(reply["updates"][0]["sequence"], 100)
        sock.close()

    def test_bad_credit_values_are_refused_with_a_clear_error(self):
        self.daemon.send(event_mix(20))
        sock = self.dealer()
        sock.send(request(1, credit=9))
        reply = self.receive(sock)
        self.assertIn("credit: at most 8 replies", reply["error"])
        self.assertTrue(reply["end"])
        self.assertEqual(reply["updates"], [])
        sock.send(request(1, credit=2, more_credit=1))
        self.assertIn("credit and more_credit", self.receive(sock)["error"])
        # Granting past 8 unread closes the stream with an error.
        sock.send(request(1, credit=1, max_updates=1))
        self.assertEqual(self.receive(sock)["updates"][0]["sequence"], 1)
        sock.send(request(more_credit=9))
        reply = self.receive(sock)
        self.assertIn("more_credit: 9 more would pass 8", reply["error"])
        sock.send(request(more_credit=1))  # no stream open now: ignored
        self.assertFalse(sock.poll(1000), "an answer to a grant with no stream open")
        # A one-off request on the same connection is answered as ever.
        sock.send(request(1))
        self.assertEqual(self.receive(sock)["updates"][0]["sequence"], 1)
        sock.close()

    def test_a_request_with_routing_frames_too_large_to_keep_is_dropped(self):
        self.daemon.send(event_mix(5))
        sock = self.dealer()
        # An envelope frame of 2 KB before the request: more than the 1 KiB
        # of routing frames a stream keeps, so it is not answered.
        sock.send_multipart([b"x" * 2048, request(1, credit=2)])
        self.assertFalse(sock.poll(1000), "a request with 2 KB of routing frames was answered")
        sock.send_multipart([b"x" * 200, request(1)])
        frames = sock.recv_multipart() if sock.poll(TIMEOUT_MS) else []
        self.assertEqual(len(frames), 2, "no answer to a request with 200 bytes of routing")
        self.assertEqual(frames[0], b"x" * 200)
        self.assertEqual(reply_fields(frames[1])["updates"][0]["sequence"], 1)
        sock.close()


class ReplayStreamUnread(ReplayClient):
    """Replies of every update at once (the default [replay] max_updates)."""

    settings = {}

    def test_a_client_that_grants_credit_and_stops_reading_leaves_the_daemon_bounded(self):
        # Updates of about a kilobyte, so that unbounded queueing would show.
        self.daemon.send([capacity(i) if i % 2 else admission(i) for i in range(300)])
        last = self.daemon.status()["lastUpdateSequence"]
        pid = self.daemon.proc.pid
        before = process_rss_kib(pid)
        sock = self.dealer()
        sock.setsockopt(zmq.RCVHWM, 1)
        # A thousand and more streams opened, none read: unbounded, that
        # would be as many replies of every update held for this client.
        for _ in range(1500):
            sock.send(request(1, credit=8))
            time.sleep(0.002)  # each stream is served before the next opens
        # Another client is served meanwhile, whole.
        updates, _ = self.stream(0, credit=8)
        assert_gap_free_once(updates, 1, last)
        time.sleep(2)  # what is left of the flood is taken in
        growth_mib = (process_rss_kib(pid) - before) / 1024
        self.assertLess(growth_mib, 64, f"daemon anonymous memory grew {growth_mib:.0f} MiB")
        sock.close()


class ReplayStreamAfterRetention(DaemonTestCase):

    settings = {"store.update_retention": "40", "replay.max_updates": "6"}

    def test_a_stream_starts_at_the_oldest_kept_and_says_where_that_is(self):
        self.daemon.send(event_mix(80))
        wait_for(lambda: self.daemon.status()["firstUpdateSequence"] > 1, timeout=60,
                 what="updates past retention to be pruned")
        status = self.daemon.status()
        first, last = status["firstUpdateSequence"], status["lastUpdateSequence"]
        ctx = zmq.Context()
        try:
            sock = ctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(self.daemon.settings["replay.endpoint"])
            sock.send(request(1, credit=2))
            replies = []
            while not replies or not replies[-1]["end"]:
                self.assertTrue(sock.poll(TIMEOUT_MS), "no ReplayReply")
                replies.append(reply_fields(sock.recv()))
                self.assertEqual(replies[-1]["error"], "")
                if not replies[-1]["end"]:
                    sock.send(request(more_credit=1))
        finally:
            ctx.destroy(linger=0)
        updates = [u for r in replies for u in r["updates"]]
        assert_gap_free_once(updates, first, last)
        self.assertTrue(all(r["first"] == first for r in replies))
        self.assertEqual((replies[-1]["next"], replies[-1]["last"]), (last + 1, last))


class TailThroughStreams(ReplayClient):
    """commissionctl tail catches up through a stream, and one reply at a
    time from a daemon that does not stream."""

    settings = {"replay.max_updates": "7"}

    def test_tail_prints_every_stored_update_once_in_order_through_a_stream(self):
        self.daemon.send(event_mix(60))
        last = self.daemon.status()["lastUpdateSequence"]
        out = self.daemon.ctl("tail", "--from", "3", "--count", str(last - 2), timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        printed = [int(u["sequence"]) for u in json_lines(out.stdout)]
        self.assertEqual(printed, list(range(3, last + 1)))

    def test_tail_asks_one_reply_at_a_time_of_a_daemon_that_does_not_stream(self):
        self.daemon.send(event_mix(30))
        stored, _ = replay_updates(self.endpoint, 0)
        old = os.path.join(self.workdir, "old-replay")
        asked = []
        router = self.ctx.socket(zmq.ROUTER)
        router.bind(f"ipc://{old}")
        stop = threading.Event()

        def serve():
            # What a daemon from before streams answers: fields 4 and 5
            # unknown, so a grant reads as a request from the oldest.
            while not stop.is_set():
                if not router.poll(100):
                    continue
                peer, body = router.recv_multipart()
                f = pb_fields(body)
                asked.append(f)
                start = max(f.get(1, [0])[0], 1)
                chunk = [u for u in stored if u["sequence"] >= start][:5]
                nxt = chunk[-1]["sequence"] + 1 if chunk else start
                reply = b"".join(pb_field(1, u["raw"]) for u in chunk)
                reply += pb_field(2, nxt) + pb_field(4, len(stored)) + pb_field(6, 1)
                if nxt > len(stored):
                    reply += pb_field(3, 1)
                router.send_multipart([peer, reply])
        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        config = os.path.join(self.workdir, "old.conf")
        with open(self.daemon.config) as f:
            text = f.read().replace(self.endpoint, f"ipc://{old}")
        with open(config, "w") as f:
            f.write(text)
        try:
            out = subprocess.run([CTL, "--config", config, "tail", "--from", "1", "--count",
                                  str(len(stored))], capture_output=True, text=True, timeout=120)
        finally:
            stop.set()
            thread.join(timeout=30)
            router.close()
        self.assertEqual(out.returncode, 0, out.stderr)
        printed = [int(u["sequence"]) for u in json_lines(out.stdout)]
        self.assertEqual(printed, list(range(1, len(stored) + 1)))
        # It opened a stream once, then asked from each next_sequence.
        self.assertEqual(asked[0].get(4), [4])
        self.assertTrue(all(4 not in f and 5 not in f for f in asked[1:]), asked[1:])


class ReplayOfLargeUpdates(ReplayClient):
    """Updates as large as their envelopes: a reply is bounded in bytes,
    not only in updates."""

    settings = {}

    def test_a_reply_of_large_updates_stops_at_4_mib_and_the_rest_follows(self):
        from harness import decode_ack, pb_field
        from protopack import pack_envelope
        ingest = self.ctx.socket(zmq.DEALER)
        ingest.setsockopt(zmq.LINGER, 0)
        ingest.connect(self.daemon.settings["ingest.endpoint"])
        # A field of a newer schema is kept with the envelope, and goes out
        # with its event.* update: 12 updates of 700 KB.
        for n in range(12):
            ingest.send(pack_envelope(admission(n)) + pb_field(999, b"x" * 700000))
            self.assertTrue(ingest.poll(TIMEOUT_MS), "no ack")
            self.assertEqual(decode_ack(ingest.recv())["status"], "ACCEPTED")
        ingest.close()
        last = self.daemon.status()["lastUpdateSequence"]
        sock = self.dealer()
        sequences, replies, at = [], 0, 1
        while True:
            sock.send(request(at))
            self.assertTrue(sock.poll(TIMEOUT_MS), "no ReplayReply")
            raw = sock.recv()
            reply = reply_fields(raw)
            self.assertEqual(reply["error"], "")
            self.assertLess(len(raw), (4 << 20) + 800000, f"a reply of {len(raw)} bytes")
            self.assertTrue(reply["updates"] or reply["end"], "an empty reply before the end")
            sequences += [u["sequence"] for u in reply["updates"]]
            replies += 1
            at = reply["next"]
            if reply["end"]:
                break
        sock.close()
        self.assertEqual(sequences, list(range(1, last + 1)))
        self.assertGreaterEqual(replies, 3)
        # A stream gives the same, in replies as bounded.
        updates, streamed = self.stream(0, credit=2)
        self.assertEqual([u["sequence"] for u in updates], sequences)
        self.assertGreaterEqual(len(streamed), 3)


class FilteredReplay(ReplayClient):
    """A topic filter reads each stored update's topic off its bytes: every
    kind of update (events, state changes) is filtered as a whole decode
    would. How long such a filter holds ingest is a matter for the
    benchmarks, not for a test."""

    def test_every_prefix_gives_what_the_unfiltered_replay_holds_under_it(self):
        self.daemon.send(event_mix(300))
        every, _ = replay_updates(self.endpoint, 0)
        topics = sorted({u["topic"] for u in every})
        prefixes = {t.split(".")[0] + "." for t in topics} | {topics[0], topics[-1],
                                                            "no.such.topic."}
        self.assertGreater(len(prefixes), 4, topics[:20])
        for prefix in sorted(prefixes):
            with self.subTest(prefix=prefix):
                filtered, _ = replay_updates(self.endpoint, 0, prefix)
                self.assertEqual([u["sequence"] for u in filtered],
                                 [u["sequence"] for u in every
                                  if u["topic"].startswith(prefix)])
