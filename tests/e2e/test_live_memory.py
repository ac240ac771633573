"""The daemon's live figures when memory runs out (fail_history.c under
LD_PRELOAD: the next history unpacked into a picture finds no memory).

Running out of memory is no fault of the stored data: the live picture of
the small kinds must not go on without the thing it could not take in, as
if the history did not decode; it is worked out again from the store."""
import json
import os
import unittest

from harness import DaemonTestCase, capacity, http_get, preload_env


def capacity_at(organisation, n):
    event = capacity(n)
    event["capacityReported"]["organisation"] = organisation
    event["eventId"] = f"C{organisation}{n}"
    return event


def lines_of(daemon):
    status, body = http_get(daemon, "/api/v1/capacity/lines")
    if status != 200:
        raise AssertionError(f"/api/v1/capacity/lines: {status} {body}")
    return sorted(line["organisation"] for line in json.loads(body)["items"])


class OutOfMemoryFollowingAHistory(DaemonTestCase):
    """A history the picture could not take in for want of memory, as a
    batch applies it, was logged as "does not decode" and left out: the
    daemon's figures lacked that thing until it restarted."""

    def daemon_env(self):
        self.trigger = os.path.join(self.workdir, "fail-history")
        return preload_env(self.workdir, "fail_history", FAIL_HISTORY_FILE=self.trigger)

    def test_the_picture_is_worked_out_again_from_the_store(self):
        acks, proc = self.daemon.send([capacity_at("RXC01", 1)])
        self.assertEqual([a["status"] for a in acks], ["ACK_STATUS_ACCEPTED"], proc.stderr)
        open(self.trigger, "w").close()
        acks, proc = self.daemon.send([capacity_at("RXC02", 2)])
        self.assertFalse(os.path.exists(self.trigger), "no history was unpacked")
        self.assertEqual([a["status"] for a in acks], ["ACK_STATUS_ACCEPTED"], proc.stderr)
        log = self.daemon.log_text()
        self.assertNotIn("does not decode", log)
        self.assertIn("live: out of memory", log)
        self.assertEqual(lines_of(self.daemon), ["RXC01", "RXC02"], log)

    def test_a_picture_read_again_short_of_memory_is_not_taken(self):
        """Reading the picture again from the store, a history it could not
        take for want of memory was skipped as not decoding: the picture
        then lacked it for good."""
        acks, proc = self.daemon.send([capacity_at("RXC01", 1)])
        self.assertEqual([a["status"] for a in acks], ["ACK_STATUS_ACCEPTED"], proc.stderr)
        open(self.trigger, "w").close()
        acks, proc = self.daemon.send([capacity_at("RXC02", 2)])
        self.assertEqual([a["status"] for a in acks], ["ACK_STATUS_ACCEPTED"], proc.stderr)
        # The picture is read again at the next request: RXC01's history,
        # the first, finds no memory.
        open(self.trigger, "w").close()
        status, body = http_get(self.daemon, "/api/v1/capacity/lines")
        self.assertFalse(os.path.exists(self.trigger), "no history was unpacked")
        self.assertNotEqual(status, 200, body)
        log = self.daemon.log_text()
        self.assertNotIn("does not decode", log)
        self.assertIn("live: out of memory loading the reference data", log)
        self.assertEqual(lines_of(self.daemon), ["RXC01", "RXC02"], log)


if __name__ == "__main__":
    unittest.main()
