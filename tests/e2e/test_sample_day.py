"""A sample day (tools/sample-day --patients 300 --seed e2e) through the real
daemon, checked against the independent reference model (reference_model.py,
itself proved on the worked examples by test_reference_model.py): for
several as-of instants, every area of `commissionctl show all --as-of` must
give the model's figures (examples.differences with the model's output as
the expected figures)."""
import json
import os
import subprocess
import unittest

import examples
import reference_model
from harness import DaemonTestCase

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SAMPLE_DAY = os.path.join(ROOT, "tools", "sample-day")
AREAS = ("flow", "discharges", "capacity", "services", "finance", "governance",
         "pending", "unmapped", "organisations")
DAY_MS = 86400000


def sample_day():
    proc = subprocess.run(["/usr/bin/python3", SAMPLE_DAY, "--patients", "300", "--seed", "e2e"],
                          capture_output=True, text=True, check=True, timeout=120)
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


# Maps keyed by data (codes, dates, ids): examples.differences only checks
# that the expected keys are there, so the daemon's extra keys are looked
# for here ('*' is any key).
DATA_MAPS = [
    "flow.providers", "flow.providers.*.days", "flow.providers.*.sites",
    "flow.providers.*.sites.*.days", "flow.icbs", "flow.icbs.*.days",
    "discharges.icbs", "discharges.councils", "discharges.*.*.closed_by_date",
    "discharges.*.*.open.by_pathway",
    "capacity.icbs", "capacity.councils", "services", "finance.commissioners",
    "finance.commissioners.*", "finance.contracts", "governance.register", "organisations",
    "pending",
]


def nothing(value):
    """A value that says nothing: zeros, nulls, false, empty containers."""
    if isinstance(value, dict):
        return all(nothing(v) for v in value.values())
    if isinstance(value, list):
        return not value
    return value in (0, None, False)


def extra_entries(expected, actual, path=()):
    """Keys of the daemon's data maps that the model does not have (and that
    say something), as texts."""
    out = []
    if not isinstance(expected, dict) or not isinstance(actual, dict):
        return out
    here = ".".join(path)
    is_data_map = any(len(pattern.split(".")) == len(path) and all(
        p == "*" or p == k for p, k in zip(pattern.split("."), path)) for pattern in DATA_MAPS)
    for key, value in actual.items():
        if key in expected:
            out.extend(extra_entries(expected[key], value, path + (key,)))
        elif is_data_map and not nothing(value):
            out.append(f"$.{here}.{key}: not in the model: {json.dumps(value)[:200]}")
    return out


class SampleDayAgainstTheReferenceModel(DaemonTestCase):

    def test_every_area_gives_the_reference_models_figures(self):
        envelopes = sample_day()
        acks, proc = self.daemon.send(envelopes)
        self.assertEqual(len(acks), len(envelopes), proc.stderr)
        accepted = [env for env, ack in zip(envelopes, acks) if ack["status"] == "ACK_STATUS_ACCEPTED"]
        with self.subTest("acks"):
            refused = [(env["source"], env["eventId"], ack["status"], ack.get("field"), ack.get("reason"))
                       for env, ack in zip(envelopes, acks) if ack["status"] != "ACK_STATUS_ACCEPTED"]
            self.assertEqual(refused, [], "the sample day is valid: every event should be accepted")
        with self.subTest("events stored"):
            self.assertEqual(self.daemon.status()["events"], len(accepted))

        events = [reference_model.envelope_to_event(env) for env in accepted]
        adt = [e["occurred_at"] for e in events if e["kind"].startswith("patient_")]
        day_start = min(adt) // DAY_MS * DAY_MS  # the sample day's 00:00 UTC
        as_ofs = {
            "the evening before": day_start - 3600000,
            "mid-day": day_start + 12 * 3600000,
            "end of the day": day_start + DAY_MS,
            "three days on": day_start + 4 * DAY_MS - 1,
        }
        for label, as_of in as_ofs.items():
            shown = self.daemon.ctl("show", "all", "--as-of", str(as_of), check=True)
            actual = json.loads(shown.stdout)
            expected = reference_model.figures(events, as_of)
            for area in AREAS:
                with self.subTest(as_of=f"{label} ({as_of})", area=area):
                    if area not in actual:
                        self.fail(f"{area}: not in `commissionctl show all`")
                    got = actual[area]
                    if area == "pending" and isinstance(got, dict):
                        # a list not shown is empty
                        got = dict({k: [] for k in expected[area]}, **got)
                    problems = examples.differences(expected[area], got, f"$.{area}")
                    problems += extra_entries({area: expected[area]}, {area: got})
                    if problems:
                        self.fail(f"{len(problems)} differences from the reference model:\n  "
                                  + "\n  ".join(problems[:40])
                                  + ("\n  ..." if len(problems) > 40 else ""))


if __name__ == "__main__":
    unittest.main()
