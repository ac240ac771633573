"""GET /api/v1/stream past retention (docs/HTTP.md, Live stream): updates a
client is owed that the store has pruned are said with `event: gap`, not
skipped in silence; a client with no id to resume after starts at the
oldest kept, owed nothing."""
import json

from harness import event_mix, wait_for
from test_http_api import assert_valid, openapi
from test_sse import StreamCase, ids


class StreamPastRetention(StreamCase):

    http = {"store.update_retention": "40", "store.housekeeping_ms": "200"}

    def pruned(self):
        self.send(event_mix(60))
        wait_for(lambda: self.daemon.status()["firstUpdateSequence"] > 10, timeout=60,
                 what="updates past retention to be pruned")
        status = self.daemon.status()
        return status["firstUpdateSequence"], status["lastUpdateSequence"]

    def test_a_resume_after_an_id_past_retention_is_told_the_gap_then_gets_the_rest(self):
        first, last = self.pruned()
        for query, headers in (("?topic=flow.", {"Last-Event-ID": "3"}),
                               ("?last_event_id=3", None)):
            with self.subTest(query):
                client = self.connect(query, headers)
                event = client.next_event()
                self.assertEqual(event["event"], "gap", event)
                self.assertEqual(json.loads(event["data"]), {"from": 4, "to": first - 1})
                assert_valid(json.loads(event["data"]),
                             openapi()["paths"]["/api/v1/stream"]["get"]["x-sse-events"]["gap"],
                             "gap")
                if headers is None:
                    self.assertEqual(ids(client.updates_until(last)), list(range(first, last + 1)))
                else:
                    update = client.next_event()
                    self.assertEqual(update["event"], "update", update)
                    self.assertGreaterEqual(int(update["id"]), first)
                    self.assertTrue(json.loads(update["data"])["topic"].startswith("flow."))
                client.close()

    def test_a_client_with_no_id_to_resume_after_starts_at_the_oldest_kept(self):
        first, last = self.pruned()
        client = self.connect()
        got = client.updates_until(last)
        self.assertEqual(ids(got), list(range(first, last + 1)))
        client.close()
