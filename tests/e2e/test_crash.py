"""kill -9 in the middle of a stream: every event ever ACCEPTED survives, once."""
import json
import time

from harness import DaemonTestCase, event_mix, json_lines

N = 20000


class CrashRecovery(DaemonTestCase):

    def test_kill9_mid_stream_loses_no_accepted_event_and_stores_none_twice(self):
        events = event_mix(N)
        text = "".join(json.dumps(e) + "\n" for e in events)
        # Send from a file so that the sender is mid-stream when the daemon dies.
        path = f"{self.workdir}/events.jsonl"
        with open(path, "w") as f:
            f.write(text)
        # Acks go to a file: a pipe nobody reads would stall the sender.
        acks_path = f"{self.workdir}/acks.jsonl"
        acks_file = open(acks_path, "w")
        sender = self.daemon.ctl_popen("send", "--timeout", "3000", path, stdout=acks_file)
        deadline = time.monotonic() + 60
        while self.daemon.status()["events"] < N // 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        self.daemon.kill9()
        sender.communicate(timeout=120)
        acks_file.close()
        with open(acks_path) as f:
            out = f.read()
        first_acks = {a["eventId"]: int(a["sequence"]) for a in json_lines(out)
                      if a["status"] == "ACK_STATUS_ACCEPTED"}
        self.assertGreater(len(first_acks), 0)
        self.assertLess(len(first_acks), N, "the daemon died too late to test anything")

        self.daemon.start()
        stored_after_crash = self.daemon.status()["events"]
        self.assertGreaterEqual(stored_after_crash, len(first_acks))

        # Resend everything that was not acked; and the acked ones too, which
        # must come back DUPLICATE under the sequence number they were given.
        unacked = [e for e in events if e["eventId"] not in first_acks]
        acks, proc = self.daemon.send(unacked)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertTrue(all(a["status"] in ("ACK_STATUS_ACCEPTED", "ACK_STATUS_DUPLICATE")
                            for a in acks))
        acked = [e for e in events if e["eventId"] in first_acks]
        again, _ = self.daemon.send(acked)
        self.assertEqual({a["status"] for a in again}, {"ACK_STATUS_DUPLICATE"})
        self.assertEqual({a["eventId"]: int(a["sequence"]) for a in again}, first_acks)

        log = json_lines(self.daemon.ctl("events", check=True).stdout)
        ids = [e["eventId"] for e in log]
        self.assertEqual(len(ids), len(set(ids)), "an event is stored twice")
        self.assertEqual(set(ids), {e["eventId"] for e in events})
        status = self.daemon.status()
        self.assertEqual(status["events"], N)
        self.assertEqual(status["lastSequence"], N)
        # Each event sits at the sequence number its ack gave.
        for event_id, sequence in first_acks.items():
            self.assertEqual(ids[sequence - 1], event_id)
