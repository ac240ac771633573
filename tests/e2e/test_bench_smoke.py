"""The benchmark programs of bench/ (make bench), run small against the
sanitized build so that they never rot: each counts what it claims to
count, and bench-load writes the store the daemon writes."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

from harness import BUILD, HL7, Adapter, Daemon, adapter_settings, wait_for

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
BENCH_BIN = os.path.join(BUILD, "bench", "bin")
sys.path.insert(0, os.path.join(ROOT, "bench"))
import corpus  # noqa: E402  (bench/corpus.py)


def bench(program, *args):
    proc = subprocess.run([os.path.join(BENCH_BIN, "bench-" + program), *map(str, args)],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise AssertionError(f"{program} {args}: exit {proc.returncode}\n{proc.stderr}")
    return json.loads(proc.stdout)


def figures(text, label):
    """The medians of the rows of results.md whose label starts with label."""
    out = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 3 and cells[1].startswith(label):
            out.append(float(re.match(r"[0-9,.]+", cells[2]).group(0).replace(",", "")))
    return out


def figure(text, label):
    values = figures(text, label)
    if len(values) != 1:
        raise AssertionError(f"{len(values)} rows {label!r} in:\n{text}")
    return values[0]


def lmdb_entries(path):
    """Entries of the main table of the LMDB environment at path (mdb_stat)."""
    out = subprocess.run(["mdb_stat", path], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"Entries: (\d+)", out).group(1))


class BenchSmoke(unittest.TestCase):

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cd-bench-")
        self.events = os.path.join(self.workdir, "events.jsonl")
        corpus.write(self.events, 600)
        self.daemons = []

    def tearDown(self):
        try:
            for d in self.daemons:
                rc = d.stop()
                self.assertIsNone(d.sanitizer_report(), d.log_text())
                self.assertEqual(rc, 0, d.log_text())
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def daemon(self, name, **settings):
        os.makedirs(os.path.join(self.workdir, name))
        d = Daemon(os.path.join(self.workdir, name), **settings)
        self.daemons.append(d)
        return d

    def test_floors_move_and_store_every_message(self):
        z = bench("floor_zmq", "--endpoint", f"ipc://{self.workdir}/floor", "--corpus",
                  self.events, "--count", 2000)
        self.assertEqual(z["messages"], 2000)
        self.assertGreater(z["messages_per_second"], 0)
        # The floor's values are the mix's typical (median) envelope.
        packed = bench("pack", "--out", os.path.join(self.workdir, "p"), self.events)
        self.assertEqual(z["bytes"], packed["median_bytes"])
        self.assertEqual(packed["envelopes"], 600)
        m = bench("floor_lmdb", "--dir", os.path.join(self.workdir, "lmdb"), "--size", 100,
                  "--count", 1050, "--batch", 100)
        self.assertEqual((m["values"], m["commits"]), (1050, 11))
        self.assertNotIn("random", m)

    def test_random_key_floor_counts_its_puts_and_what_they_write(self):
        m = bench("floor_lmdb", "--dir", os.path.join(self.workdir, "lmdb"), "--size", 100,
                  "--count", 100, "--batch", 256, "--random-keys", 3000, "--random-puts", 1000)
        r = m["random"]
        self.assertEqual((r["keys_before"], r["puts"], r["commits"]), (3000, 1000, 4))
        self.assertEqual((r["key_bytes"], r["value_bytes"]), (40, 24))
        self.assertGreater(r["puts_per_second"], 0)
        # Every fsynced commit rewrote at least a leaf and the meta page,
        # each a whole 4 KiB page in write_bytes.
        self.assertGreaterEqual(r["usage"]["write_bytes"], 4 * 2 * 4096)
        self.assertAlmostEqual(r["write_bytes_per_put"], r["usage"]["write_bytes"] / 1000)
        # The kernel splits CPU time between user and system by sampled
        # ticks: over a short run one of them may be 0, never their sum.
        self.assertGreater(r["user_us_per_put"] + r["system_us_per_put"], 0)
        # Every key of the table is there: the ones put first and the timed.
        self.assertEqual(lmdb_entries(os.path.join(self.workdir, "lmdb", "random")), 4000)

    def test_ingest_counts_accepted_acks_and_latencies_to_ack_and_update(self):
        d = self.daemon("a").start()
        packed = os.path.join(self.workdir, "events.packed")
        bench("pack", "--out", packed, self.events)
        out = bench("ingest", "--endpoint", d.settings["ingest.endpoint"], "--corpus", packed,
                    "--senders", 3, "--window", 16, "--count", 400, "--daemon-pid", d.proc.pid)
        self.assertEqual(out["acks"]["accepted"], 400, out)
        self.assertEqual((out["out_of_order"], out["silent"]), (0, False))
        self.assertEqual(d.status()["events"], 400)
        # The daemon's usage over the timed part: it wrote its store.
        self.assertGreater(out["daemon"]["write_bytes"], 0, out)
        self.assertGreater(out["daemon"]["seconds"], 0, out)
        self.assertGreaterEqual(min(out["daemon"]["user_seconds"],
                                    out["daemon"]["system_seconds"]), 0, out)

        d2 = self.daemon("b").start()
        out = bench("ingest", "--endpoint", d2.settings["ingest.endpoint"], "--corpus", packed,
                    "--rate", 400, "--seconds", 0.5, "--subscribe",
                    d2.settings["publish.endpoint"], "--drain-seconds", 30,
                    "--daemon-pid", d2.proc.pid)
        self.assertEqual((out["sent"], out["acks"]["accepted"], out["updates"]), (200, 200, 200))
        self.assertLessEqual(out["ack_p50_ms"], out["ack_p99_ms"])
        self.assertLessEqual(out["ack_p99_ms"], out["ack_p999_ms"])
        self.assertGreater(out["e2e_p50_ms"], 0)
        self.assertEqual(d2.status()["events"], 200)
        self.assertGreater(out["daemon"]["write_bytes"], 0, out)

    def test_load_writes_what_the_daemon_writes_and_replay_reads_it_all(self):
        fed = self.daemon("fed").start()
        out = bench("ingest", "--endpoint", fed.settings["ingest.endpoint"], "--corpus",
                    self.events, "--window", 50)
        self.assertEqual(out["acks"]["accepted"], 600)
        loaded = self.daemon("loaded")
        with open(self.events) as f:
            proc = subprocess.run([os.path.join(BENCH_BIN, "bench-load"), "--store",
                                   loaded.settings["store.path"], "--batch", "64"], stdin=f,
                                  capture_output=True, text=True, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(json.loads(proc.stdout)["events"], 600)
        loaded.start()
        # The same histories, counts and updates: only the figures differ.
        digest = lambda d: json.loads(d.ctl("digest", check=True).stdout)
        self.assertEqual(digest(fed), digest(loaded))
        count = lambda d: {k: v for k, v in d.status().items() if k in (
            "events", "lastSequence", "lastUpdateSequence", "firstUpdateSequence")}
        self.assertEqual(count(fed), count(loaded))
        n = fed.status()["lastUpdateSequence"]

        def updates(d):
            text = d.ctl("tail", "--from", "1", "--count", str(n), check=True).stdout
            rows = [json.loads(line) for line in text.splitlines()]
            for u in rows:
                u.pop("commitTime")
                u.get("stateChanged", {}).pop("figures", None)
            return rows
        self.assertEqual(updates(fed), updates(loaded))
        for credit in (4, 0):  # a stream, and one request at a time
            out = bench("replay", "--endpoint", loaded.settings["replay.endpoint"], "--max", 100,
                        "--credit", credit)
            self.assertEqual((out["updates"], out["gaps"], out["credit"]), (n, 0, credit))

    def test_hl7_counts_aa_for_messages_that_reach_the_daemon(self):
        d = self.daemon("h", **adapter_settings(os.path.join(self.workdir, "h"))).start()
        adapter = Adapter(d, HL7).start()
        try:
            out = bench("hl7", "--address", d.settings["hl7.listen"], "--connections", 2,
                        "--window", 4, "--count", 40)
            self.assertEqual((out["aa"], out["ae"], out["ar"], out["out_of_order"]),
                             (40, 0, 0, 0), out)
            wait_for(lambda: d.status()["events"] == 40, what="40 events in commissiond")
        finally:
            rc = adapter.stop()
            self.assertIsNone(adapter.sanitizer_report(), adapter.log_text())
            self.assertEqual(rc, 0, adapter.log_text())

    def test_hl7_at_a_rate_times_every_aa(self):
        d = self.daemon("r", **adapter_settings(os.path.join(self.workdir, "r"))).start()
        adapter = Adapter(d, HL7).start()
        try:
            # 400 a second for 0.25 s over 2 connections: about 100
            # messages, sent on time whatever the ACKs, each AA timed.
            out = bench("hl7", "--address", d.settings["hl7.listen"], "--connections", 2,
                        "--window", 16, "--rate", 400, "--seconds", 0.25)
            self.assertEqual((out["ae"], out["ar"], out["out_of_order"], out["saturated"]),
                             (0, 0, 0, False), out)
            self.assertEqual(out["aa"], out["sent"], out)
            # At most the 100 due in 0.25 s (a stalled sender sends fewer).
            self.assertTrue(50 <= out["sent"] <= 101, out)
            self.assertEqual(out["offered_per_second"], 400, out)
            # Paced: message j is not sent before j / 400 s, so the last
            # AA comes no sooner than that.
            self.assertGreaterEqual(out["seconds"], (out["sent"] - 1) / 400, out)
            self.assertTrue(0 < out["ack_p50_ms"] <= out["ack_p99_ms"] <= out["ack_p999_ms"],
                            out)
            wait_for(lambda: d.status()["events"] == out["aa"], what="every AA in commissiond")
            # Without --rate there are no latencies to report.
            plain = bench("hl7", "--address", d.settings["hl7.listen"], "--count", 4)
            self.assertNotIn("ack_p99_ms", plain)
        finally:
            rc = adapter.stop()
            self.assertIsNone(adapter.sanitizer_report(), adapter.log_text())
            self.assertEqual(rc, 0, adapter.log_text())

    def driver(self, only):
        """Run bench/run quick, once, on the benchmarks named in only
        (BENCH_ONLY); the text of the results.md it writes."""
        results = os.path.join(self.workdir, "results.md")
        env = dict(os.environ, BENCH_QUICK="1", BENCH_ONLY=only, BENCH_RUNS="1",
                   BENCH_BUILD=os.path.relpath(BUILD, ROOT), BENCH_RESULTS=results,
                   BENCH_CACHE=os.path.join(self.workdir, "cache"),
                   BENCH_TMP=os.path.join(self.workdir, "tmp"))
        proc = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "bench", "run")], env=env,
                              capture_output=True, text=True, timeout=300)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        with open(results) as f:
            return f.read()

    def test_driver_quick_floor_ingest_latency_writes_a_report(self):
        text = self.driver("floor,ingest,latency")
        self.assertIn("Floor: ZeroMQ PUSH/PULL over ipc://", text)
        self.assertIn("Floor: LMDB appends", text)
        self.assertIn("BENCH_QUICK=1", text)
        # The random-key floor, and the daemon's I/O and CPU in each run of
        # ingest (1 and 4 senders) and of latency (3 rates), all positive.
        for label in ("Floor: LMDB random-key puts into a table of 5,000 keys",
                      "Floor: LMDB random-key puts, bytes written a put"):
            self.assertGreater(figure(text, label), 0, text)
        self.assertGreater(figure(text, "Floor: LMDB random-key puts, user CPU a put")
                           + figure(text, "Floor: LMDB random-key puts, system CPU a put"), 0)
        for label in ("(store bytes written an event", "(daemon on CPU, share of the wall time"):
            self.assertEqual(len(figures(text, label)), 5, text)
            self.assertTrue(all(v > 0 for v in figures(text, label)), text)
        user = figures(text, "(daemon user CPU an event")
        system = figures(text, "(daemon system CPU an event")
        self.assertEqual((len(user), len(system)), (5, 5), text)
        self.assertTrue(all(u + s > 0 for u, s in zip(user, system)), text)
        # The daemon's commits in each of those runs, from its /metrics:
        # at least one event a commit, some time in each, and one thread
        # that cannot commit for longer than the run.
        batch = figures(text, "(events a commit, mean")
        commit_ms = figures(text, "(time a commit, mean")
        share = figures(text, "(daemon committing, share of the wall time")
        self.assertEqual((len(batch), len(commit_ms), len(share)), (5, 5, 5), text)
        self.assertTrue(all(b >= 1 for b in batch), text)
        self.assertTrue(all(ms > 0 for ms in commit_ms), text)
        self.assertTrue(all(0 < s <= 100 for s in share), text)
        self.assertRegex(text, r"Durable ingest, 4 sender\(s\).*% of the LMDB floor; "
                         r"[0-9.]+% of the random-key floor")

    def test_driver_quick_hl7_reports_rates_and_the_aa_latency(self):
        text = self.driver("hl7")
        for label in ("HL7 ADT through commissiond-hl7, 1 connection(s), each waiting",
                      "HL7 ADT through commissiond-hl7, 8 connection(s), 32 in flight"):
            self.assertGreater(figure(text, label), 0, text)
        p50, p99, p999 = (figure(text, f"HL7 AA latency {q}, 8 connections, at 500 msgs/s")
                          for q in ("p50", "p99", "p99.9"))
        self.assertTrue(0 < p50 <= p99 <= p999, text)
        self.assertRegex(text, r"\| HL7 AA latency at 500/s \| [0-9]+ MB \|")
        # What else used the CPU meanwhile: a share of the machine's.
        self.assertRegex(text, r"\| CPU used by anything but the benchmarks while they ran \| "
                         r"[0-9]+\.[0-9]% of the machine's \|")


if __name__ == "__main__":
    unittest.main()
