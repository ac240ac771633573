"""GET /api/v1/stream: the published updates as Server-Sent Events, served
from the stored updates log (docs/HTTP.md, Live stream): ids are update
sequences, a resume with Last-Event-ID misses nothing and repeats nothing,
topic= filters by prefix, and a client too far behind is dropped with the
position it resumes from."""
import http.client
import json
import socket
import time

from harness import DaemonTestCase, admission, event_mix, json_lines, wait_for
from test_http_api import Api, assert_valid, http_settings, openapi, sample_day


class SseClient:
    """A stdlib Server-Sent Events client on a plain socket (HTTP/1.1; the
    body is chunked). rcvbuf: a small receive buffer, for a slow reader."""

    def __init__(self, api, query="", headers=None, rcvbuf=None, timeout=30):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(api.address)
        lines = [f"GET /api/v1/stream{query} HTTP/1.1", f"Host: {api.host}:{api.port}",
                 "Accept: text/event-stream"]
        if api.token:
            lines.append(f"Authorization: Bearer {api.token}")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.response = http.client.HTTPResponse(self.sock, method="GET")
        self.response.begin()
        self.status = self.response.status
        self.headers = self.response.headers
        self.comments = []
        self.closed = False

    def body(self):
        return self.response.read()

    def next_event(self):
        """The next event as {"id", "event", "data"}; None at the end."""
        event = {}
        data = []
        while True:
            try:
                line = self.response.readline()
            except http.client.IncompleteRead:
                line = b""
            if not line:
                self.closed = True
                return None
            line = line.decode("utf-8").rstrip("\r\n")
            if line == "":
                if data or event:
                    event["data"] = "\n".join(data)
                    event.setdefault("event", "message")
                    return event
                continue
            if line.startswith(":"):
                self.comments.append(line)
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "data":
                data.append(value)
            elif field in ("id", "event", "retry"):
                event[field] = value

    def updates_until(self, last_sequence, limit=100000):
        """Read updates until one with sequence >= last_sequence; return them."""
        got = []
        while len(got) < limit:
            event = self.next_event()
            if event is None:
                raise AssertionError(f"the stream ended after {got[-1]['id'] if got else 'none'}"
                                     f", before {last_sequence}")
            if event["event"] != "update":
                raise AssertionError(f"unexpected event {event}")
            got.append(event)
            if int(event["id"]) >= last_sequence:
                return got
        raise AssertionError("too many updates")

    def close(self):
        # The response reads through a file made from the socket: closing
        # the socket alone leaves the connection open. Shut it down.
        for step in (lambda: self.sock.shutdown(socket.SHUT_RDWR), self.response.close,
                     self.sock.close):
            try:
                step()
            except OSError:
                pass


def ids(events):
    return [int(e["id"]) for e in events]


class StreamCase(DaemonTestCase):

    http = {}

    def setUp(self):
        self.settings = http_settings(**self.http)
        super().setUp()
        self.api = Api(self.daemon)
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()
        super().tearDown()

    def connect(self, query="", headers=None, **kw):
        client = SseClient(self.api, query, headers, **kw)
        self.clients.append(client)
        self.assertEqual(client.status, 200, client.body()[:300] if client.status != 200 else "")
        self.assertEqual(client.headers["Content-Type"].split(";")[0].strip(), "text/event-stream")
        return client

    def last_update(self):
        return self.daemon.status()["lastUpdateSequence"]

    def stored_updates(self, prefix=""):
        last = self.last_update()
        out = self.daemon.ctl("tail", "--from", "1", "--count", str(last), timeout=120).stdout
        return {int(u["sequence"]): u for u in json_lines(out) if u["topic"].startswith(prefix)}

    def send(self, events):
        acks, proc = self.daemon.send(events)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return acks

    def check_updates(self, events, stored):
        """ids strictly increasing, each the update's sequence, data as stored
        and as docs/openapi.yaml describes it."""
        schema = openapi()["paths"]["/api/v1/stream"]["get"]["x-sse-events"]["update"]
        numbers = ids(events)
        self.assertEqual(numbers, sorted(set(numbers)), "ids strictly increasing")
        for event in events:
            update = json.loads(event["data"])
            self.assertEqual(update["sequence"], event["id"])
            self.assertEqual(update, stored[int(event["id"])])
            assert_valid(update, schema, f"update {event['id']}")


class Stream(StreamCase):

    def test_updates_arrive_live_and_a_resume_misses_nothing_and_repeats_nothing(self):
        client = self.connect()
        self.send(event_mix(20))
        first_last = self.last_update()
        self.assertGreater(first_last, 20)
        got = client.updates_until(first_last)
        self.assertEqual(ids(got), list(range(1, first_last + 1)))
        client.close()

        # Away: more is stored; back with Last-Event-ID, from the store first.
        self.send([admission(n) for n in range(1000, 1030)])
        second_last = self.last_update()
        resumed = self.connect(headers={"Last-Event-ID": str(first_last)})
        again = resumed.updates_until(second_last)
        self.assertEqual(ids(again), list(range(first_last + 1, second_last + 1)))
        # ... then live, on the same connection.
        self.send([admission(n) for n in range(2000, 2005)])
        third_last = self.last_update()
        live = resumed.updates_until(third_last)
        self.assertEqual(ids(live), list(range(second_last + 1, third_last + 1)))
        stored = self.stored_updates()
        self.check_updates(got + again + live, stored)

        # last_event_id= is the header's equal.
        by_query = self.connect(f"?last_event_id={second_last}")
        self.assertEqual(ids(by_query.updates_until(third_last)),
                         list(range(second_last + 1, third_last + 1)))

    def test_a_topic_prefix_keeps_only_its_updates(self):
        self.send(sample_day(60, seed="sse"))
        wanted = self.stored_updates("flow.QNX.")
        self.assertGreater(len(wanted), 10)
        client = self.connect("?topic=flow.QNX.")
        got = client.updates_until(max(wanted))
        self.assertEqual(ids(got), sorted(wanted))
        self.check_updates(got, wanted)
        # Live too: an admission at RXC is published under flow.QNX.RXC;
        # a capacity report under capacity.* is not sent to this client.
        before = self.last_update()
        self.send([admission(5000)])
        self.send(event_mix(10)[9:])  # a capacity report only
        new = {s: u for s, u in self.stored_updates("flow.QNX.").items() if s > before}
        self.assertTrue(new)
        live = client.updates_until(max(new))
        self.assertEqual(ids(live), sorted(new))
        for event in live:
            self.assertTrue(json.loads(event["data"])["topic"].startswith("flow.QNX."))
        # The same with a resume: what it missed under that prefix, nothing else.
        resumed = self.connect(f"?topic=flow.QNX.&last_event_id={before}")
        self.assertEqual(ids(resumed.updates_until(max(new))), sorted(new))

    def test_a_bad_last_event_id_is_400(self):
        answer = self.api.get("/api/v1/stream", headers={"Last-Event-ID": "yesterday"})
        self.assertEqual(answer.status, 400, answer)
        self.assertEqual(answer.json()["error"]["parameter"], "last_event_id")

    def test_resuming_after_the_largest_sequence_is_400_not_a_replay_from_the_start(self):
        self.send(event_mix(5))
        largest = str(2**64 - 1)
        for query, headers in ((f"?last_event_id={largest}", None),
                               ("", {"Last-Event-ID": largest})):
            with self.subTest(query=query, headers=headers):
                client = SseClient(self.api, query, headers, timeout=5)
                self.clients.append(client)
                if client.status != 400:
                    # Before, this resumed from sequence 1 (the id plus one wrapped).
                    self.fail(f"{client.status}: a stream, first event {client.next_event()}")
                error = json.loads(client.body())["error"]
                self.assertEqual(error["parameter"], "last_event_id")
                self.assertIn(largest, error["message"])


class SlowClient(StreamCase):
    # A client further behind than 4 KiB is dropped.
    http = {"http.sse_buffer_bytes": "4096"}

    def test_a_client_that_does_not_read_is_dropped_with_where_to_resume_and_loses_nothing(self):
        slow = self.connect(rcvbuf=4096)
        # It reads nothing more while a day's updates (800 kB) are stored.
        self.send(sample_day(300))
        last = self.last_update()

        def dropped():
            text = self.api.get("/metrics", check=False).text
            return any(line.startswith("commissiond_stream_dropped_total ") and
                       float(line.split()[-1]) >= 1 for line in text.splitlines()) or \
                "dropped" in self.daemon.log_text()

        wait_for(dropped, timeout=30, what="the slow client to be dropped")
        # Now it reads: what was queued for it, then where to resume.
        before, resume_after = [], None
        while True:
            event = slow.next_event()
            if event is None:
                break
            if event["event"] == "dropped":
                data = json.loads(event["data"])
                assert_valid(data, openapi()["paths"]["/api/v1/stream"]["get"]["x-sse-events"][
                    "dropped"], "event: dropped")
                resume_after = data["resume_after"]
                self.assertIsNone(slow.next_event(), "the stream is closed after dropped")
                break
            self.assertEqual(event["event"], "update")
            before.append(event)
        self.assertIsNotNone(resume_after, "no event: dropped")
        self.assertLess(resume_after, last, "dropped before the end, or nothing to test")
        self.assertEqual(ids(before), list(range(1, len(before) + 1)))
        self.assertEqual(resume_after, len(before), "resume_after is the last update it got")

        resumed = self.connect(headers={"Last-Event-ID": str(resume_after)})
        after = resumed.updates_until(last)
        self.assertEqual(ids(after), list(range(resume_after + 1, last + 1)))
        self.assertEqual(sorted(ids(before) + ids(after)), list(range(1, last + 1)))
        self.check_updates(before + after, self.stored_updates())


class IdleStream(StreamCase):
    # A stream is not an idle connection: it outlives timeout_ms.
    http = {"http.timeout_ms": "1000"}

    def test_a_quiet_stream_stays_open_past_timeout_ms(self):
        client = self.connect()
        time.sleep(3)
        self.send([admission(1)])
        got = client.updates_until(self.last_update())
        self.assertEqual(ids(got), list(range(1, self.last_update() + 1)))


class TooManyClients(StreamCase):
    http = {"http.sse_max_clients": "2"}

    def test_more_clients_than_sse_max_clients_get_503_and_a_place_frees_on_leaving(self):
        first = self.connect()
        self.connect()
        answer = self.api.get("/api/v1/stream")
        self.assertEqual(answer.status, 503, answer)
        self.assertEqual(answer.json()["error"]["status"], 503)
        self.assertEqual(answer.headers.get("Retry-After"), "1")  # as every 503
        first.close()
        # The server learns that a client left when it next writes to it:
        # give it something to write.
        self.send([admission(1)])
        time.sleep(0.3)
        self.send([admission(2)])

        def room():
            probe = SseClient(self.api)
            try:
                return probe.status == 200
            finally:
                probe.close()

        wait_for(room, timeout=10, what="the closed client's place to free")
