"""commissionctl as an ICS integration team finds it on a bad day: arguments
out of bounds, a damaged store, a store restored under a running tail."""
import os
import shutil
import struct
import tempfile
import unittest

from harness import Daemon, DaemonTestCase, event_mix


class Arguments(unittest.TestCase):
    """Usage errors are said, naming the argument, before anything runs."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cd-")
        self.config = Daemon(self.workdir)  # its config file; not started

    def tearDown(self):
        shutil.rmtree(self.workdir, ignore_errors=True)

    def test_tail_refuses_a_topic_prefix_too_long_for_a_replay_request(self):
        proc = self.config.ctl("tail", "--from", "1", "--count", "1", "a" * 5000, timeout=30)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn("tail: TOPIC-PREFIX of 5000 bytes: must be at most 1024", proc.stderr)
        self.assertNotIn("AddressSanitizer", proc.stderr)


if __name__ == "__main__":
    unittest.main()
