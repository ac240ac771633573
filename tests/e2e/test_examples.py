"""DOMAIN.md's worked examples (tests/examples) through the real daemon: each
case's events sent with commissionctl, then the REJECTED acks, the events
stored and `commissionctl show all --as-of` compared with expected.json."""
import json
import random
import unittest

import examples
from harness import fresh_daemon


def run_case(test, name, shuffle_seed=None):
    events, as_of, expected = examples.load(name)
    if shuffle_seed is not None:
        # Any arrival order gives the same figures, except that of copies
        # of one (source, event id) the first to arrive stands: keep those
        # copies in their order (examples/README.md).
        rng = random.Random(shuffle_seed)
        keys = sorted({(e["source"], e["event_id"]) for e in events})
        rng.shuffle(keys)
        rank = {k: i for i, k in enumerate(keys)}
        events = sorted(events, key=lambda e: rank[(e["source"], e["event_id"])])
    with fresh_daemon(test, prefix="cd-ex-") as daemon:
        envelopes = [examples.to_envelope(e) for e in events]
        acks, proc = daemon.send(envelopes)
        test.assertEqual(len(acks), len(events), proc.stderr)
        rejected = []
        for event, ack in zip(events, acks):
            if ack["status"] == "ACK_STATUS_REJECTED":
                field = "kind" if ack.get("field") == "event" else ack.get("field")
                rejected.append({"source": event["source"], "event_id": event["event_id"],
                                 "kind": event["kind"], "field": field})
        actual = json.loads(daemon.ctl("show", "all", "--as-of", str(as_of), check=True).stdout)
        actual["rejected"] = rejected
        actual["events_accepted"] = daemon.status()["events"]
        problems = examples.differences(expected, actual)
        if problems:
            test.fail(f"{name}: the figures differ from expected.json:\n  " + "\n  ".join(problems))


class WorkedExamples(unittest.TestCase):
    pass


def _make(name, seed):
    def test(self):
        run_case(self, name, seed)
    return test


for _name in examples.names():
    setattr(WorkedExamples, f"test_{_name.replace('-', '_')}_in_file_order", _make(_name, None))
    setattr(WorkedExamples, f"test_{_name.replace('-', '_')}_in_a_shuffled_order", _make(_name, 7))
