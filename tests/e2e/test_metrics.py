"""GET /metrics: the Prometheus text exposition (format 0.0.4) after known
traffic (accepted, duplicate and rejected events, HTTP requests, a replay),
checked with promtool (Debian package prometheus) and for every figure an
operator needs, named as Prometheus conventions say."""
import json
import os
import re
import shutil
import subprocess
import unittest

from harness import DaemonTestCase, event_mix, http_get, json_lines, preload_env, pseudonym
from test_http_api import SharedDaemon, sample_day

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$')
LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')


def parse_metrics(text):
    """{family: {"type", "help", "samples": [(name, {label: value}, float)]}}"""
    families = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            _, what, name, rest = (line.split(" ", 3) + [""])[:4]
            family = families.setdefault(name, {"type": None, "help": None, "samples": []})
            family["help" if what == "HELP" else "type"] = rest
            continue
        if line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            raise AssertionError(f"not a sample line: {line!r}")
        name, labels_text, value = m.groups()
        labels = {}
        if labels_text:
            pos = 0
            while pos < len(labels_text):
                lm = LABEL.match(labels_text, pos)
                if not lm:
                    raise AssertionError(f"bad labels: {line!r}")
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
        family = name
        for suffix in ("_bucket", "_sum", "_count"):
            base = name[:-len(suffix)]
            if name.endswith(suffix) and families.get(base, {}).get("type") in ("histogram",
                                                                                 "summary"):
                family = base
        families.setdefault(family, {"type": None, "help": None, "samples": []})[
            "samples"].append((name, labels, float(value)))
    return families


def rejected_event(n):
    # A patient admitted with no provider: REJECTED, kept as a dead letter.
    return {"source": "hl7:RXC", "eventId": f"BAD{n}", "occurredAt": "1778371200000",
            "patientAdmitted": {"patientPseudonym": pseudonym(n), "spellPseudonym": pseudonym(n, "s"),
                                "site": "RXC01", "ward": "W1",
                                "patientClass": "PATIENT_CLASS_INPATIENT"}}


class Metrics(SharedDaemon):

    HEALTHZ = 3
    PROVIDERS = 2

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.traffic()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def traffic(cls):
        day = sample_day(100, seed="metrics")
        acks, _ = cls.daemon.send(day)
        again, _ = cls.daemon.send(day[:25])
        bad, _ = cls.daemon.send([rejected_event(n) for n in range(4)])
        cls.statuses = [a["status"] for a in acks + again + bad]
        for _ in range(cls.HEALTHZ):
            cls.api.get("/healthz")
        for _ in range(cls.PROVIDERS):
            cls.api.get("/api/v1/flow/providers", {"icb": "QNX"})
        cls.api.get("/api/v1/beds")
        cls.api.get("/api/v1/flow", {"as_of": "x"})
        # A replay: commissionctl tail asks the replay socket for stored updates.
        cls.tail = json_lines(cls.daemon.ctl("tail", "--from", "1", "--count", "5").stdout)
        cls.status = cls.daemon.status()
        cls.answer = cls.api.get("/metrics")
        cls.text = cls.answer.text
        cls.families = parse_metrics(cls.text)

    def family(self, pattern, type_=None, labels=None):
        """The one family whose name matches pattern (and type, label names)."""
        found = [n for n, f in self.families.items() if re.search(pattern, n) and
                 (type_ is None or f["type"] == type_) and
                 (labels is None or any(set(labels) <= set(s[1]) for s in f["samples"]))]
        self.assertEqual(len(found), 1, f"families matching {pattern} ({type_}, {labels}): "
                                        f"{found} of {sorted(self.families)}")
        return found[0], self.families[found[0]]

    def value(self, family, **labels):
        return sum(v for name, l, v in family["samples"]
                   if all(l.get(k) == want for k, want in labels.items()))

    # ----

    def test_the_exposition_is_text_format_0_0_4_and_promtool_accepts_it(self):
        self.assertEqual(self.answer.status, 200)
        content_type = self.answer.headers["Content-Type"].replace(" ", "")
        self.assertTrue(content_type.startswith("text/plain;version=0.0.4"), content_type)
        promtool = shutil.which("promtool")
        self.assertIsNotNone(promtool, "promtool is needed (Debian package prometheus: make deps)")
        proc = subprocess.run([promtool, "check", "metrics"], input=self.text,
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, f"promtool check metrics:\n{proc.stdout}{proc.stderr}")

    def test_every_family_has_help_and_type_and_a_conventional_name(self):
        for name, family in self.families.items():
            with self.subTest(name):
                self.assertTrue(name.startswith("commissiond_"))
                self.assertTrue(family["help"], "HELP")
                self.assertIn(family["type"], ("counter", "gauge", "histogram"))
                self.assertTrue(family["samples"], "a family with no samples")
                if family["type"] == "counter":
                    self.assertTrue(name.endswith("_total"), "a counter ends in _total")
                else:
                    self.assertFalse(name.endswith("_total"), "only counters end in _total")
                if any(unit in name for unit in ("second", "duration", "latency")):
                    self.assertTrue(name.endswith("_seconds"), "times are in seconds")
                if "byte" in name:
                    self.assertTrue(name.endswith("_bytes"), "sizes are in bytes")

    def test_events_are_counted_by_source_kind_and_status(self):
        name, family = self.family(r"events_total$", "counter", ("source", "kind", "status"))
        by_status = {}
        for _, labels, value in family["samples"]:
            key = labels["status"].lower()
            by_status[key] = by_status.get(key, 0) + value
        status_of = lambda word: sum(v for k, v in by_status.items() if word in k)
        self.assertEqual(status_of("accepted"), self.statuses.count("ACK_STATUS_ACCEPTED"))
        self.assertEqual(status_of("duplicate"), self.statuses.count("ACK_STATUS_DUPLICATE"))
        self.assertEqual(status_of("rejected"), self.statuses.count("ACK_STATUS_REJECTED"))
        self.assertEqual(self.statuses.count("ACK_STATUS_DUPLICATE"), 25)
        self.assertEqual(self.statuses.count("ACK_STATUS_REJECTED"), 4)
        sources = {l["source"] for _, l, _ in family["samples"]}
        self.assertLessEqual({"ods", "capacity", "hl7:RXC"}, sources)
        kinds = {l["kind"].lower() for _, l, _ in family["samples"] if l["source"] == "hl7:RXC"}
        self.assertTrue(any("admit" in k for k in kinds), kinds)
        rejected_admissions = sum(v for _, l, v in family["samples"]
                                  if l["source"] == "hl7:RXC" and "admit" in l["kind"].lower()
                                  and "rejected" in l["status"].lower())
        self.assertEqual(rejected_admissions, 4)

    def check_histogram(self, family):
        buckets = [(l["le"], v) for n, l, v in family["samples"] if n.endswith("_bucket")]
        count = [v for n, _, v in family["samples"] if n.endswith("_count")]
        total = [v for n, _, v in family["samples"] if n.endswith("_sum")]
        self.assertEqual(len(count), 1)
        self.assertEqual(len(total), 1)
        self.assertEqual(buckets[-1][0], "+Inf")
        bounds = [float(le) for le, _ in buckets]
        self.assertEqual(bounds, sorted(bounds))
        values = [v for _, v in buckets]
        self.assertEqual(values, sorted(values), "buckets are cumulative")
        self.assertEqual(values[-1], count[0])
        self.assertGreater(count[0], 0)
        return count[0], total[0]

    def test_batch_size_commit_and_sync_durations_and_ack_latency_are_histograms(self):
        _, batch = self.family(r"batch", "histogram")
        batches, envelopes = self.check_histogram(batch)
        self.assertGreaterEqual(envelopes, self.statuses.count("ACK_STATUS_ACCEPTED"))
        name, commit = self.family(r"commit.*_seconds$", "histogram")
        commits, seconds = self.check_histogram(commit)
        self.assertEqual(commits, batches, "one commit a batch")
        self.assertGreater(seconds, 0)
        # The disk's part of each batch, within the batch's time.
        _, sync = self.family(r"store_sync_seconds$", "histogram")
        syncs, synced = self.check_histogram(sync)
        self.assertEqual(syncs, batches, "one store commit a batch")
        self.assertGreater(synced, 0)
        self.assertLessEqual(synced, seconds)
        _, ack = self.family(r"ack.*_seconds$", "histogram")
        acks, _ = self.check_histogram(ack)
        self.assertGreaterEqual(acks, batches)

    def test_the_last_sequence_store_size_and_map_are_gauges_as_status_says(self):
        _, last = self.family(r"_last_sequence$", "gauge")
        self.assertEqual(self.value(last), self.status["lastSequence"])
        sizes = {n: f for n, f in self.families.items()
                 if "store" in n and n.endswith("_bytes") and f["type"] == "gauge"}
        self.assertGreaterEqual(len(sizes), 2, f"store size and map size: {sorted(sizes)}")
        _, map_size = self.family(r"store.*map.*_bytes$", "gauge")
        self.assertEqual(self.value(map_size), self.status["mapBytes"])
        _, used = self.family(r"store.*used.*_bytes$", "gauge")
        self.assertGreater(self.value(used), 0)
        self.assertLessEqual(self.value(used), self.value(map_size))
        self.assertEqual(self.value(used), self.status["storeBytes"])

    def test_dead_letters_and_replay_requests_are_counted(self):
        _, dead = self.family(r"dead_letter", "gauge")
        self.assertEqual(self.value(dead), self.status["deadLetters"])
        self.assertEqual(self.value(dead), 4)
        self.assertEqual(len(self.tail), 5)
        _, replay = self.family(r"replay.*_total$", "counter")
        self.assertGreaterEqual(self.value(replay), 1)

    def test_http_requests_are_counted_by_route_and_status(self):
        _, requests = self.family(r"http_requests_total$", "counter", ("route", "status"))
        self.assertEqual(self.value(requests, route="/healthz", status="200"), self.HEALTHZ)
        self.assertEqual(self.value(requests, route="/api/v1/flow/providers", status="200"),
                         self.PROVIDERS)
        self.assertEqual(self.value(requests, route="/api/v1/flow", status="400"), 1)
        self.assertEqual(self.value(requests, status="404"), 1)
        self.assertGreaterEqual(self.value(requests, route="/metrics", status="200"), 1)
        # Routes are templates, not paths with their parameters or codes.
        for _, labels, _ in requests["samples"]:
            self.assertNotIn("?", labels["route"])


class StoreUnreadable(DaemonTestCase):
    """A store that cannot be read (fail_read_txn.c under LD_PRELOAD: the
    reader table full) fails the scrape with 503 naming it, rather than
    giving counters of 0, which Prometheus would take for a reset."""

    def daemon_env(self):
        self.trigger = os.path.join(self.workdir, "fail-read-txn")
        return preload_env(self.workdir, "fail_read_txn", FAIL_READ_TXN_FILE=self.trigger)

    def test_a_scrape_of_an_unreadable_store_fails_naming_it(self):
        acks, proc = self.daemon.send(event_mix(3))
        self.assertEqual({a["status"] for a in acks}, {"ACK_STATUS_ACCEPTED"}, proc.stderr)
        open(self.trigger, "w").close()
        status, body = http_get(self.daemon, "/metrics")
        self.assertEqual(status, 503, body)
        self.assertIn("MDB_READERS_FULL", json.loads(body)["error"]["message"])
        os.unlink(self.trigger)
        status, body = http_get(self.daemon, "/metrics")
        self.assertEqual(status, 200, body)
        self.assertIn("commissiond_last_sequence 3\n", body)


class AlertRules(unittest.TestCase):
    """The example alert rules of docs/OPERATIONS.md load in Prometheus."""

    def test_promtool_accepts_the_example_alert_rules(self):
        rules = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "prometheus",
                             "commissiond-alerts.yml")
        proc = subprocess.run(["promtool", "check", "rules", rules], capture_output=True, text=True)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn("SUCCESS", proc.stdout + proc.stderr)

    def test_the_alert_rules_fire_as_their_unit_tests_say(self):
        # commissiond-alerts.test.yml: series in, alerts out (a feed that
        # stops, one whose series ends with a restart, one that goes on).
        tests = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "prometheus",
                             "commissiond-alerts.test.yml")
        proc = subprocess.run(["promtool", "test", "rules", tests], capture_output=True,
                              text=True, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn("SUCCESS", proc.stdout + proc.stderr)
