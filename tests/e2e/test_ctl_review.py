"""commissionctl as an ICS integration team finds it on a bad day: arguments
out of bounds, a damaged store, a store restored under a running tail."""
import json
import os
import shutil
import struct
import subprocess
import tempfile
import unittest

import lmdb

from harness import CTL, Daemon, DaemonTestCase, event_mix, preload_env, wait_for


def damage_record(store_path, table, key, value=b"\xff\xff\xff\xff"):
    """Write value (no valid protobuf) under key of table, as a disk error
    or a bad copy leaves a record: LMDB's pages stay sound."""
    env = lmdb.open(store_path, max_dbs=16, subdir=True)
    try:
        with env.begin(write=True, db=env.open_db(table)) as txn:
            txn.put(key, value)
    finally:
        env.close()


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

    def test_verify_and_rebuild_say_how_many_archives_they_take(self):
        many = [arg for i in range(65) for arg in ("--archive", f"a{i}.arc")]
        for command in ("verify", "rebuild"):
            proc = self.config.ctl(command, *many, timeout=30)
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertIn(f"{command}: --archive a64.arc: at most 64 archives", proc.stderr)

    def test_a_usage_error_names_the_argument_too_many_or_the_one_missing(self):
        cases = [(("status", "now"), "status: unexpected argument: now"),
                 (("digest", "all"), "digest: unexpected argument: all"),
                 (("backup",), "backup: missing DIR"),
                 (("backup", "a", "b"), "backup: unexpected argument: b"),
                 (("restore", "a", "b"), "restore: unexpected argument: b"),
                 (("load",), "load: missing FILE"),
                 (("load", "a", "b"), "load: unexpected argument: b"),
                 (("verify", "--archive", "a", "b"), "verify: unexpected argument: b"),
                 (("rebuild", "check"), "rebuild: unexpected argument: check"),
                 (("show",), "show: missing AREA"),
                 (("show", "flow", "QNX"), "show: unexpected argument: QNX")]
        for args, said in cases:
            proc = self.config.ctl(*args, timeout=30)
            self.assertEqual(proc.returncode, 2, (args, proc.stderr))
            self.assertIn(f"commissionctl: {said}\n", proc.stderr)
            self.assertIn("usage: ", proc.stderr)


class DamagedStore(DaemonTestCase):
    """A store with a record that does not decode (the daemon stopped)."""

    def setUp(self):
        super().setUp()
        acks, _ = self.daemon.send(event_mix(30))
        self.assertEqual(len(acks), 30)
        self.assertEqual(self.daemon.stop(), 0)
        self.store = self.daemon.settings["store.path"]

    def test_rebuild_does_not_commit_a_state_without_an_event_that_does_not_decode(self):
        before = self.daemon.ctl("digest", check=True).stdout
        damage_record(self.store, b"events", struct.pack(">Q", 5))
        proc = self.daemon.ctl("rebuild")
        self.assertEqual(proc.returncode, 4, proc.stderr)
        self.assertIn("rebuild: event 5 does not decode", proc.stderr)
        self.assertIn("nothing was changed", proc.stderr)
        # The state still holds what event 5 made.
        self.assertEqual(self.daemon.ctl("digest", check=True).stdout, before)

    def first_history_key(self):
        env = lmdb.open(self.store, max_dbs=16, readonly=True, lock=False)
        try:
            with env.begin(db=env.open_db(b"histories", create=False)) as txn:
                return next(iter(txn.cursor()))[0]
        finally:
            env.close()

    def test_show_fails_when_a_history_is_left_out_of_the_figures(self):
        damage_record(self.store, b"histories", self.first_history_key())
        proc = self.daemon.ctl("show", "all")
        self.assertEqual(proc.returncode, 4, proc.stderr)
        self.assertIn("show: a stored spell history does not decode; left out of the figures",
                      proc.stderr)
        self.assertIn("1 stored histories do not decode", proc.stderr)
        self.assertIn('"flow"', proc.stdout)  # printed all the same


class UnreadableStore(DaemonTestCase):
    """Every read transaction fails (fail_read_txn.c: a reader table
    filled by other processes), the daemon stopped."""

    def test_rebuild_says_the_store_cannot_be_read_not_a_made_up_log_start(self):
        self.daemon.send(event_mix(10))
        self.assertEqual(self.daemon.stop(), 0)
        trigger = os.path.join(self.workdir, "fail-reads")
        open(trigger, "w").close()
        env = dict(os.environ, **preload_env(self.workdir, "fail_read_txn",
                                             FAIL_READ_TXN_FILE=trigger))
        proc = subprocess.run([CTL, "--config", self.daemon.config, "rebuild"], env=env,
                              capture_output=True, text=True, timeout=120)
        self.assertEqual(proc.returncode, 4, proc.stderr)
        self.assertIn("MDB_READERS_FULL", proc.stderr)
        self.assertIn("nothing was changed", proc.stderr)
        self.assertNotIn("archived", proc.stderr)

    def test_archive_refuses_an_existing_out_before_reading_the_store(self):
        self.daemon.send(event_mix(10))
        self.assertEqual(self.daemon.stop(), 0)
        out = os.path.join(self.workdir, "taken.arc")
        open(out, "w").close()
        trigger = os.path.join(self.workdir, "fail-reads")
        open(trigger, "w").close()
        env = dict(os.environ, **preload_env(self.workdir, "fail_read_txn",
                                             FAIL_READ_TXN_FILE=trigger))
        proc = subprocess.run([CTL, "--config", self.daemon.config, "archive", "--before",
                               "2099-01-01", "--out", out], env=env,
                              capture_output=True, text=True, timeout=120)
        self.assertEqual(proc.returncode, 4, proc.stderr)
        self.assertIn(f"archive: {out}: already exists: choose another name (nothing was read",
                      proc.stderr)
        self.assertNotIn("interrupted", proc.stderr)
        self.assertEqual(os.path.getsize(out), 0)
        # With --prune, it may be the file of a prune interrupted: what to do.
        proc = subprocess.run([CTL, "--config", self.daemon.config, "archive", "--before",
                               "2099-01-01", "--out", out, "--prune"], env=env,
                              capture_output=True, text=True, timeout=120)
        self.assertEqual(proc.returncode, 4, proc.stderr)
        self.assertIn("(nothing was read or written). If an archive --prune to it was "
                      "interrupted, keep it: the same command with another --out finishes "
                      "the prune", proc.stderr)


class ArchiveReadBack(DaemonTestCase):
    """archive reads its file back before anything leaves the log; a file
    that holds other events then (replaced meanwhile: hold.c holds the
    command as it closes the store, between the two) is said, naming both
    ranges. The message printed a buffer never written."""

    def test_an_archive_replaced_before_its_read_back_is_named_with_both_ranges(self):
        events = event_mix(10)
        self.daemon.send(events[:5])
        first = os.path.join(self.workdir, "first.arc")
        proc = self.daemon.ctl("archive", "--before", "2099-01-01", "--out", first)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.daemon.send(events[5:])
        out = os.path.join(self.workdir, "all.arc")
        hold, entered = os.path.join(self.workdir, "hold"), os.path.join(self.workdir, "entered")
        open(hold, "w").close()
        env = dict(os.environ, **preload_env(self.workdir, "hold", HOLD_CALL="mdb_env_close",
                                             HOLD_FILE=hold, HOLD_ENTERED=entered))
        archive = subprocess.Popen([CTL, "--config", self.daemon.config, "archive", "--before",
                                    "2099-01-01", "--out", out, "--prune"], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: os.path.exists(entered), timeout=60, what="the store closed")
            self.assertTrue(os.path.exists(out))
            shutil.copyfile(first, out + ".new")
            os.replace(out + ".new", out)
        finally:
            os.unlink(hold)
            stdout, stderr = archive.communicate(timeout=120)
        self.assertEqual(archive.returncode, 4, stderr)
        self.assertIn(f"archive: reading it back: {out} holds events 1 to 5, not the 1 to 10 "
                      "written (was it replaced meanwhile?); nothing was removed from the log",
                      stderr)
        self.assertEqual(self.daemon.status()["events"], 10)


class PathsNotInUtf8(DaemonTestCase):
    """A directory named in Latin-1 (a backup disk from an older system):
    the reports that name it are still written, the work not taken back."""

    def ctl_bytes(self, *args):
        proc = subprocess.run([CTL.encode(), b"--config", self.daemon.config.encode(), *args],
                              capture_output=True, timeout=120)
        return proc.returncode, proc.stdout.decode(), proc.stderr.decode(errors="replace")

    def test_status_restore_and_archive_report_a_latin1_path(self):
        self.daemon.send(event_mix(10))
        backup = self.workdir.encode() + b"/backup-\xe9"
        self.assertEqual(self.ctl_bytes(b"backup", backup)[0], 0)
        rc, out, err = self.ctl_bytes(b"--set", b"store.path=" + backup, b"status")
        self.assertEqual(rc, 0, err)
        self.assertTrue(json.loads(out)["store"].endswith("/backup-\\xE9"), out)
        archive = self.workdir.encode() + b"/night-\xe9.arc"
        rc, out, err = self.ctl_bytes(b"archive", b"--before", b"2099-01-01", b"--out", archive)
        self.assertEqual(rc, 0, err)
        self.assertTrue(json.loads(out)["archive"].endswith("/night-\\xE9.arc"), out)
        self.assertEqual(self.daemon.stop(), 0)
        rc, out, err = self.ctl_bytes(b"restore", backup)
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["events"], 10)


class TailOverARestore(DaemonTestCase):
    """tail follows a daemon whose store is restored from an older backup:
    the sequences start again below those printed."""

    def test_tail_says_the_store_went_back_instead_of_printing_nothing(self):
        self.daemon.send(event_mix(10))
        backup = os.path.join(self.workdir, "backup")
        self.daemon.ctl("backup", backup, check=True)
        self.daemon.send(event_mix(30)[10:])
        newest = self.daemon.status()["lastUpdateSequence"]
        tail = self.daemon.ctl_popen("tail", "--from", str(newest + 1))
        self.addCleanup(lambda: tail.poll() is None and tail.kill())
        self.daemon.send([dict(event_mix(31)[30], eventId="before-restore")])
        self.assertIn('"sequence"', tail.stdout.readline())
        self.assertEqual(self.daemon.stop(), 0)
        self.daemon.ctl("restore", backup, check=True)
        self.daemon.start()
        # Other events than those printed, under sequences tail has seen.
        self.daemon.send([dict(e, eventId=e["eventId"] + "-after") for e in event_mix(60)])
        try:
            out, err = tail.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            tail.kill()
            out, err = tail.communicate()
        self.assertEqual(tail.returncode, 1, err)
        self.assertIn("tail: the daemon's store was restored or replaced", err)
        self.assertGreater(newest, 0)


if __name__ == "__main__":
    unittest.main()
