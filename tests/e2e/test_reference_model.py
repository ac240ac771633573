"""The reference model (reference_model.py) against DOMAIN.md's worked
examples (tests/examples): for every case, the model's figures for the
accepted events give every figure of expected.json. This proves the model
before test_sample_day uses it to check the daemon. No daemon needed."""
import json
import unittest

import examples
import reference_model


def accepted_events(events, rejected):
    """The events a daemon stores: copies of one (source, event_id) in arrival
    order, less the rejected ones. A copy rejected for a field of its own
    (not 'event_id') is taken to be among the first copies of its id (a
    rejected copy takes no id, so a later one is judged afresh); the next
    copy is stored, and any later copy is a repeat (harmless, or REJECTED as
    'event_id': the stored one stands)."""
    invalid = {}
    for r in rejected:
        if r.get("field") != "event_id":
            key = (r["source"], r["event_id"])
            invalid[key] = invalid.get(key, 0) + 1
    stored, seen = [], set()
    for e in events:
        key = (e["source"], e["event_id"])
        if invalid.get(key, 0) > 0:
            invalid[key] -= 1
            continue
        if key not in seen:
            seen.add(key)
            stored.append(e)
    return stored


def check(test, name):
    events, as_of, expected = examples.load(name)
    stored = accepted_events(events, expected.get("rejected", []))
    model = reference_model.figures(stored, as_of)
    expected = {k: v for k, v in expected.items() if k != "rejected"}  # the model does not validate
    problems = examples.differences(expected, model)
    if problems:
        test.fail(f"{name}: the model's figures differ from expected.json:\n  " + "\n  ".join(problems))
    # The same set of events in another arrival order gives the same figures
    # (copies of one id keep their order: the first to arrive stands).
    again = reference_model.figures(list(reversed(stored)), as_of)
    test.assertEqual(model_sorted(again), model_sorted(model), f"{name}: another arrival order")


def model_sorted(figures):
    """The figures with every list sorted, to compare two arrival orders."""
    if isinstance(figures, dict):
        return {k: model_sorted(v) for k, v in figures.items()}
    if isinstance(figures, list):
        return sorted((model_sorted(v) for v in figures), key=lambda v: json.dumps(v, sort_keys=True))
    return figures


class ReferenceModelReproducesTheExamples(unittest.TestCase):
    pass


def _make(name):
    def test(self):
        check(self, name)
    return test


for _name in examples.names():
    setattr(ReferenceModelReproducesTheExamples, f"test_{_name.replace('-', '_')}", _make(_name))


class ReferenceModelUnits(unittest.TestCase):

    def test_rounding_halves_away_from_zero(self):
        r = reference_model.round_half_away
        self.assertEqual([r(1, 2), r(-1, 2), r(3, 2), r(-3, 2), r(1, 3), r(2, 3)], [1, -1, 2, -2, 0, 1])
        self.assertEqual(r(36783 * 31, 365), 3124)
        self.assertEqual(r(36783, 366), 101)

    def test_london_dates_around_the_clock_changes(self):
        d = lambda ms: reference_model.london_date(ms).isoformat()
        self.assertEqual(d(1774745999999), "2026-03-29")
        self.assertEqual(d(1774825200000), "2026-03-30")
        self.assertEqual(d(1792882799999), "2026-10-24")
        self.assertEqual(d(1792882800000), "2026-10-25")

    def test_envelope_back_to_the_notation(self):
        for name in examples.names():
            events, _, expected = examples.load(name)
            for e in events:
                if e["kind"] not in examples.KINDS:
                    continue
                back = reference_model.envelope_to_event(examples.to_envelope(e))
                want = {k: v for k, v in e.items()
                        if k in examples.KNOWN_FIELDS | {"kind", "source", "event_id", "occurred_at"}
                        and v not in (None, "")}
                if e["kind"] == "patient_admitted" and want.get("patient_class") not in examples.PATIENT_CLASS:
                    continue  # an invalid class has no enum name to come back from
                if any(isinstance(v, str) and k.endswith("pseudonym") and len(v) != 64
                       for k, v in want.items()) or any(
                        isinstance(v, str) and k.endswith("pseudonym") and v != v.lower()
                        for k, v in want.items()):
                    continue  # an invalid pseudonym is sent as the bytes of its text
                self.assertEqual(back, want, f"{name} {e['event_id']}")


if __name__ == "__main__":
    unittest.main()
