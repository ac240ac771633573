"""The same events in any arrival order give byte-identical state (DOMAIN.md,
Order and repetition): a generated day, sent in several random orders, each
through its own real daemon, gives one digest of the state tables and one
picture; and rebuilding the state from the log gives it again."""
import json
import os
import random
import shutil
import subprocess
import tempfile
import unittest

from harness import Daemon, json_lines

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
ORDERS = 4
AS_OF = "1778540400000"  # 2026-05-11T23:00:00Z, the evening of the generated day


def sample_day():
    out = subprocess.run([os.path.join(ROOT, "tools", "sample-day"), "--date", "2026-05-11",
                          "--patients", "150", "--seed", "permutations"],
                         capture_output=True, text=True, check=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def run_order(events):
    workdir = tempfile.mkdtemp(prefix="cd-perm-")
    daemon = Daemon(workdir)
    try:
        daemon.start()
        acks, proc = daemon.send(events)
        accepted = sum(a["status"] == "ACK_STATUS_ACCEPTED" for a in acks)
        digest = json.loads(daemon.ctl("digest", check=True).stdout)
        picture = json.loads(daemon.ctl("show", "all", "--as-of", AS_OF, check=True).stdout)
        check = daemon.ctl("rebuild", "--check")
        rc = daemon.stop()
        return accepted, digest, picture, check, rc, daemon.sanitizer_report(), daemon.log_text()
    finally:
        if daemon.proc is not None:
            daemon.kill9()
        shutil.rmtree(workdir, ignore_errors=True)


class Permutations(unittest.TestCase):

    def test_any_arrival_order_gives_byte_identical_state_and_the_same_picture(self):
        events = sample_day()
        rng = random.Random(2026)
        results = []
        for n in range(ORDERS):
            order = list(events)
            if n > 0:
                rng.shuffle(order)
            accepted, digest, picture, check, rc, report, log = run_order(order)
            self.assertEqual(accepted, len(events), log)
            self.assertEqual(check.returncode, 0, f"rebuild --check: {check.stdout}{check.stderr}")
            self.assertTrue(json.loads(check.stdout)["clean"])
            self.assertEqual(rc, 0, log)
            self.assertIsNone(report, log)
            results.append((digest, picture))
        first_digest, first_picture = results[0]
        self.assertGreater(first_digest["histories"], 100)
        for digest, picture in results[1:]:
            self.assertEqual(digest, first_digest)
            self.assertEqual(picture, first_picture)
