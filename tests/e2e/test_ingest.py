"""Durable ingest, dedupe and publish through the real daemon and commissionctl."""
import json

from harness import DaemonTestCase, event_mix, json_lines

N = 10000


def seq(ack):
    return int(ack["sequence"])


class IngestAndPublish(DaemonTestCase):

    def test_10000_events_accepted_in_order_then_10000_duplicates_with_the_same_sequences(self):
        events = event_mix(N)
        # Every accepted event publishes event.<kind>.<source>, and one
        # update per place of the picture it changes (test_updates.py).
        # --from 1: without it tail starts after whatever is newest when
        # it asks, which a send started straight after may already pass.
        live = self.daemon.ctl_popen("tail", "--from", "1", "--count", str(N), "event.")
        acks, proc = self.daemon.send(events)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(len(acks), N)
        self.assertEqual({a["status"] for a in acks}, {"ACK_STATUS_ACCEPTED"})
        self.assertEqual([a["eventId"] for a in acks], [e["eventId"] for e in events])
        sequences = [seq(a) for a in acks]
        self.assertTrue(all(b > a for a, b in zip(sequences, sequences[1:])),
                        "sequence numbers are not strictly increasing")

        again, proc = self.daemon.send(events)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual({a["status"] for a in again}, {"ACK_STATUS_DUPLICATE"})
        self.assertEqual([seq(a) for a in again], sequences)

        status = self.daemon.status()
        self.assertEqual(status["events"], N)
        self.assertEqual(status["duplicates"], N)
        self.assertEqual(status["rejected"], 0)

        # A subscriber started before the send got every update, in order.
        out, err = live.communicate(timeout=120)
        self.assertEqual(live.returncode, 0, err)
        live_updates = json_lines(out)
        update_sequences = [int(u["sequence"]) for u in live_updates]
        self.assertTrue(all(b > a for a, b in zip(update_sequences, update_sequences[1:])))
        self.assertEqual([int(u["eventSequence"]) for u in live_updates], sequences)
        self.assertEqual([u["eventAccepted"]["envelope"]["eventId"] for u in live_updates],
                         [e["eventId"] for e in events])
        self.assertEqual(live_updates[0]["topic"], "event.patient_admitted.hl7:RXC")
        # Each carries its envelope whole, as it was sent.
        self.assertEqual([u["eventAccepted"]["envelope"] for u in live_updates], events)

        # One started after replays from the start and gets the same.
        late = self.daemon.ctl("tail", "--from", "0", "--count", str(N), "event.", timeout=120)
        self.assertEqual(late.returncode, 0, late.stderr)
        self.assertEqual(json_lines(late.stdout), live_updates)

    def test_tail_filters_by_topic_prefix(self):
        events = event_mix(100)
        self.daemon.send(events)
        want = [e["eventId"] for e in events if "capacityReported" in e]
        out = self.daemon.ctl("tail", "--from", "1", "--count", str(len(want)),
                              "event.capacity_reported.", timeout=60)
        got = [u["eventAccepted"]["envelope"]["eventId"] for u in json_lines(out.stdout)]
        self.assertEqual(got, want)

    def test_same_event_id_with_other_content_is_rejected_and_the_stored_one_stands(self):
        first = event_mix(1)[0]
        acks, _ = self.daemon.send([first])
        changed = json.loads(json.dumps(first))
        changed["patientAdmitted"]["ward"] = "OTHER"
        acks2, proc = self.daemon.send([changed])
        self.assertNotEqual(proc.returncode, 0)
        self.assertEqual(acks2[0]["status"], "ACK_STATUS_REJECTED")
        self.assertEqual(acks2[0]["field"], "event_id")
        self.assertIn("reused with different content", acks2[0]["reason"])
        events = json_lines(self.daemon.ctl("events", check=True).stdout)
        self.assertEqual(len(events), 1)
        self.assertEqual(events[0]["patientAdmitted"]["ward"], first["patientAdmitted"]["ward"])
        # A different schema version is not different content.
        first["schemaVersion"] = 7
        acks3, _ = self.daemon.send([first])
        self.assertEqual(acks3[0]["status"], "ACK_STATUS_DUPLICATE")
        self.assertEqual(acks3[0]["sequence"], acks[0]["sequence"])


class SlowSubscriber(DaemonTestCase):
    # A tiny PUB high-water mark: the daemon drops updates for a subscriber
    # that cannot keep up, as it must rather than grow without bound.
    settings = {"publish.high_water_mark": "10"}

    def test_tail_fills_dropped_updates_from_replay_and_prints_every_one_in_order(self):
        events = event_mix(3000)
        expected_updates = 2 * len(events)  # the event, and the place it changes
        live = self.daemon.ctl_popen("tail", "--from", "1", "--count", str(expected_updates))
        acks, proc = self.daemon.send(events)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(self.daemon.status()["lastUpdateSequence"], expected_updates)
        out, err = live.communicate(timeout=120)
        self.assertEqual(live.returncode, 0, err)
        sequences = [int(u["sequence"]) for u in json_lines(out)]
        self.assertEqual(sequences, list(range(1, expected_updates + 1)))
