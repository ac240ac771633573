"""The store as an operator looks after it: retention while ingesting,
archive and load, backup, restore and verify, format migrations, and the
LMDB reader table. Raw LMDB (python3-lmdb) is used only to forge what the
tools must detect: an old or new format, a damaged store, a dead reader."""
import datetime
import os
import shutil
import signal
import statistics
import subprocess
import threading
import time
import unittest
import urllib.request

import lmdb
import zmq

from harness import (CTL, DAEMON, Daemon, DaemonTestCase, admission, decode_ack, event_mix,
                     fresh_daemon, json_lines, start_refused, wait_for)
from test_metrics import parse_metrics


def raw_env(daemon, readonly=False):
    return lmdb.open(daemon.settings["store.path"], max_dbs=16, map_size=1 << 30,
                     readonly=readonly, lock=not readonly)


def raw_events(daemon):
    """{sequence: stored bytes} of the event log, straight from LMDB."""
    env = raw_env(daemon, readonly=True)
    try:
        with env.begin() as txn:
            return {int.from_bytes(k, "big"): bytes(v)
                    for k, v in txn.cursor(env.open_db(b"events", txn=txn))}
    finally:
        env.close()


def metrics(daemon):
    with urllib.request.urlopen(f"http://{daemon.settings['http.listen']}/metrics",
                                timeout=30) as answer:
        return parse_metrics(answer.read().decode())


def sample(families, family, **labels):
    for _, got, value in families[family]["samples"]:
        if got == labels:
            return value
    raise AssertionError(f"no {family} {labels}")


def utc_text(seconds):
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


class Retention(DaemonTestCase):
    settings = {"store.dead_letter_max_count": "100", "store.prune_batch_limit": "50",
                "store.housekeeping_ms": "100"}

    def test_dead_letters_are_pruned_in_small_transactions_while_ingest_flows(self):
        context = zmq.Context()
        garbage = context.socket(zmq.DEALER)
        garbage.setsockopt(zmq.LINGER, 0)
        garbage.connect(self.daemon.settings["ingest.endpoint"])
        stop = threading.Event()
        rejected = []

        def flood():
            while not stop.is_set():
                for i in range(200):
                    garbage.send(b"junk %d" % i)
                for _ in range(200):
                    if garbage.poll(30000):
                        rejected.append(decode_ack(garbage.recv())["status"])
        thread = threading.Thread(target=flood, daemon=True)
        thread.start()
        # Good events meanwhile, one at a time: the largest wait between
        # acks shows whether pruning ever held ingest up.
        try:
            wait_for(lambda: len(rejected) > 3000, timeout=120, what="a flood of dead letters")
            gaps, last = [], time.monotonic()
            for n in range(300):
                acks, _ = self.daemon.send([admission(100 + n)])
                now = time.monotonic()
                gaps.append(now - last)
                last = now
                self.assertEqual(acks[0]["status"], "ACK_STATUS_ACCEPTED")
                if n > 20 and sample(metrics(self.daemon),
                                     "commissiond_prune_transactions_total") > 10:
                    break
        finally:
            stop.set()
            thread.join(timeout=60)
            garbage.close()
            context.term()
        self.assertEqual(set(rejected), {"REJECTED"})
        # Each pass removes at most 50: many transactions, and at the end
        # no more than 100 dead letters are kept.
        def settled():
            s = self.daemon.status()
            return s["deadLetters"] - s["firstDeadLetter"] + 1 <= 100
        wait_for(settled, timeout=60, what="retention to catch up")
        families = metrics(self.daemon)
        transactions = sample(families, "commissiond_prune_transactions_total")
        pruned = sample(families, "commissiond_pruned_total", table="dead_letters")
        status = self.daemon.status()
        self.assertEqual(pruned, status["firstDeadLetter"] - 1)
        self.assertGreaterEqual(transactions, pruned / 50)
        self.assertGreater(transactions, 10)
        self.assertLessEqual(sample(families, "commissiond_dead_letters"), 100)
        # A behaviour check, not a benchmark: no ack waited for pruning
        # (all of it in one transaction would hold one send far beyond the
        # others; a slow machine slows them all alike).
        self.assertLess(max(gaps), max(5.0, 20 * statistics.median(gaps)), gaps)


class RetentionAsBatchesCommit(DaemonTestCase):
    """Each batch drops the oldest updates past update_retention as it
    commits; commissiond_pruned_total{table="updates"} counts them (it
    counted only the housekeeping timer's, here kept from running)."""
    settings = {"store.update_retention": "10", "store.housekeeping_ms": "3600000"}

    def test_what_the_batches_drop_is_counted(self):
        for n in range(0, 60, 20):
            self.daemon.send(event_mix(n + 20)[n:])
        status = self.daemon.status()
        dropped = status["firstUpdateSequence"] - 1
        self.assertGreater(dropped, 0, status)
        families = metrics(self.daemon)
        self.assertEqual(sample(families, "commissiond_pruned_total", table="updates"), dropped)
        self.assertEqual(sample(families, "commissiond_prune_transactions_total"), 0)


class Archive(DaemonTestCase):

    def test_archive_prune_and_load_give_back_the_same_log_and_dedupe_holds(self):
        self.daemon.send(event_mix(300))
        time.sleep(1.1)
        cut = int(time.time()) + 1
        while time.time() < cut + 0.1:
            time.sleep(0.05)
        self.daemon.send([admission(1000 + i) for i in range(200)])
        original = raw_events(self.daemon)
        self.assertEqual(sorted(original), list(range(1, 501)))
        archive = os.path.join(self.workdir, "before.arc")
        proc = self.daemon.ctl("archive", "--before", utc_text(cut), "--out", archive, "--prune")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        report = json_lines(proc.stdout)[0]
        self.assertEqual((report["first"], report["last"], report["events"], report["removed"]),
                         (1, 300, 300, 300))
        self.assertEqual(sorted(raw_events(self.daemon)), list(range(301, 501)))
        status = self.daemon.status()
        self.assertEqual((status["firstSequence"], status["events"]), (301, 500))
        # events: every one ever accepted; eventsInLog: those left, verify's events.
        self.assertEqual(status["eventsInLog"], 200)
        # The archived events are still known: a resend is a duplicate.
        acks, _ = self.daemon.send(event_mix(300))
        self.assertEqual({a["status"] for a in acks}, {"ACK_STATUS_DUPLICATE"})
        # The replay needs the archive, and says so; with it, it is clean.
        proc = self.daemon.ctl("rebuild", "--check")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("the log begins at sequence 301", proc.stderr)
        proc = self.daemon.ctl("rebuild", "--check", "--archive", archive)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertTrue(json_lines(proc.stdout)[0]["clean"])
        proc = self.daemon.ctl("verify")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("skipped", json_lines(proc.stdout)[0]["replay"])
        self.assertEqual(json_lines(proc.stdout)[0]["events"], status["eventsInLog"])
        # An archive for nothing writes nothing.
        proc = self.daemon.ctl("archive", "--before", "2001-01-01", "--out", archive + "2")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertFalse(os.path.exists(archive + "2"))
        # load writes the log: refused while the daemon holds the store.
        proc = self.daemon.ctl("load", archive)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("in use by commissiond", proc.stderr)
        self.assertEqual(self.daemon.stop(), 0)
        proc = self.daemon.ctl("load", archive)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(raw_events(self.daemon), original)
        proc = self.daemon.ctl("verify")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertTrue(json_lines(proc.stdout)[0]["replay"]["clean"])
        self.assertEqual(self.daemon.status()["eventsInLog"], 500)
        # Twice is refused, saying why: the events are back in the log.
        proc = self.daemon.ctl("load", archive)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("events 1 to 300 are already in the log (it holds 1 to 500): nothing "
                      "loaded", proc.stderr)
        self.assertNotIn("ends at 0", proc.stderr)
        self.daemon.start()

    def test_a_damaged_archive_is_refused(self):
        self.daemon.send(event_mix(50))
        archive = os.path.join(self.workdir, "all.arc")
        proc = self.daemon.ctl("archive", "--before", utc_text(time.time() + 3600), "--out", archive)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(archive, "r+b") as f:
            f.seek(os.path.getsize(archive) // 2)
            byte = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([byte[0] ^ 0x40]))
        proc = self.daemon.ctl("rebuild", "--check", "--archive", archive)
        self.assertEqual(proc.returncode, 1)
        self.assertRegex(proc.stderr, r"checksum does not match|damaged|cut short")
        # An existing file is never overwritten.
        proc = self.daemon.ctl("archive", "--before", utc_text(time.time() + 3600), "--out", archive)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("already exists", proc.stderr)

    def own_and_anothers_archive(self):
        """This store's first 100 events archived and pruned, and an
        archive of 100 events of another store, with the same sequences."""
        self.daemon.send(event_mix(100))
        own = os.path.join(self.workdir, "own.arc")
        proc = self.daemon.ctl("archive", "--before", "2099-01-01", "--out", own, "--prune")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        other = os.path.join(self.workdir, "other.arc")
        with fresh_daemon(self) as elsewhere:
            elsewhere.send([admission(5000 + i) for i in range(100)])
            proc = elsewhere.ctl("archive", "--before", "2099-01-01", "--out", other)
            self.assertEqual(proc.returncode, 0, proc.stderr)
        return own, other

    def test_an_archive_of_another_store_with_the_same_sequences_is_refused(self):
        own, other = self.own_and_anothers_archive()
        self.assertEqual(self.daemon.stop(), 0)
        before = raw_events(self.daemon)
        proc = self.daemon.ctl("load", other)
        self.assertNotEqual(proc.returncode, 0)
        self.assertRegex(proc.stderr, r"load: event 1 of the archive \(hl7:RXC/[^)]*\) was never "
                                      r"accepted by this store: an archive loads only into the "
                                      r"store it came from")
        self.assertEqual(raw_events(self.daemon), before)
        proc = self.daemon.ctl("load", own)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        proc = self.daemon.ctl("verify")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.daemon.start()

    def test_rebuild_refuses_an_archive_of_another_store_with_the_same_sequences(self):
        own, other = self.own_and_anothers_archive()
        digest = self.daemon.ctl("digest", check=True).stdout
        # The same words as load's (store_batch_check_archived_event).
        words = (rf"{other}: event 1 of the archive \(hl7:RXC/[^)]*\) was never accepted by "
                 r"this store: an archive loads only into the store it came from")
        for args in (("rebuild", "--check"), ("verify",), ("rebuild",)):
            proc = self.daemon.ctl(*args, "--archive", other)
            self.assertEqual(proc.returncode, 1, (args, proc.stderr))
            self.assertRegex(proc.stderr, words)
        self.assertEqual(self.daemon.ctl("digest", check=True).stdout, digest)
        proc = self.daemon.ctl("rebuild", "--check", "--archive", own)
        self.assertEqual(proc.returncode, 0, proc.stderr)

    def test_a_part_file_left_by_an_interrupted_archive_is_named_as_such(self):
        self.daemon.send(event_mix(20))
        archive = os.path.join(self.workdir, "night.arc")
        with open(archive + ".part", "wb") as f:
            f.write(b"commissiond-archive 1\nE")
        proc = self.daemon.ctl("archive", "--before", "2099-01-01", "--out", archive)
        self.assertEqual(proc.returncode, 4)
        self.assertIn(f"{archive}.part already exists: an archive to {archive} is being "
                      "written, or one was interrupted (it is not a whole archive): remove it "
                      "if none is running", proc.stderr)
        self.assertTrue(os.path.exists(archive + ".part"), "another's file was removed")
        os.unlink(archive + ".part")
        proc = self.daemon.ctl("archive", "--before", "2099-01-01", "--out", archive)
        self.assertEqual(proc.returncode, 0, proc.stderr)


class RestoreAndVerify(DaemonTestCase):

    def test_a_backup_taken_during_ingest_restores_to_a_store_that_verifies(self):
        self.daemon.send(event_mix(500))
        proc = subprocess.Popen([CTL, "--config", self.daemon.config, "send"], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
        writer = threading.Thread(target=self.feed, args=(proc,), daemon=True)
        writer.start()
        wait_for(lambda: self.daemon.status()["events"] > 1000, timeout=60, what="ingest")
        backup = os.path.join(self.workdir, "backup")
        copy = self.daemon.ctl("backup", backup)
        self.assertEqual(copy.returncode, 0, copy.stderr)
        writer.join(timeout=120)
        proc.wait(timeout=120)
        in_backup = subprocess.run([CTL, "--set", f"store.path={backup}", "status"],
                                   capture_output=True, text=True, check=True)
        backed_up = json_lines(in_backup.stdout)[0]["events"]
        self.assertGreater(backed_up, 1000)
        # Not while the daemon holds the store.
        refused = self.daemon.ctl("restore", backup)
        self.assertEqual(refused.returncode, 1)
        self.assertIn("in use by commissiond", refused.stderr)
        self.assertEqual(self.daemon.stop(), 0)
        restored = self.daemon.ctl("restore", backup)
        self.assertEqual(restored.returncode, 0, restored.stderr)
        self.assertTrue(os.path.exists(f"{self.workdir}/store/data.mdb.before-restore"))
        self.assertEqual(self.daemon.status()["events"], backed_up)
        verify = self.daemon.ctl("verify")
        self.assertEqual(verify.returncode, 0, verify.stderr)
        report = json_lines(verify.stdout)[0]
        self.assertTrue(report["clean"])
        self.assertEqual(report["events"], backed_up)
        self.daemon.start()
        acks, _ = self.daemon.send([admission(10000 + i) for i in range(5000)])
        # What came after the backup is accepted again, with no gap.
        self.assertEqual(self.daemon.status()["events"], 5500)

    def test_a_second_restore_keeps_what_the_first_replaced(self):
        wrong, right = (os.path.join(self.workdir, name) for name in ("wrong", "right"))
        self.daemon.send(event_mix(50))
        self.assertEqual(self.daemon.ctl("backup", wrong).returncode, 0)
        self.daemon.send(event_mix(100)[50:])
        self.assertEqual(self.daemon.ctl("backup", right).returncode, 0)
        self.daemon.send([admission(20000 + i) for i in range(20)])
        self.assertEqual(self.daemon.stop(), 0)
        store = self.daemon.settings["store.path"]
        # Onto itself: refused, nothing moved.
        itself = self.daemon.ctl("restore", store)
        self.assertEqual(itself.returncode, 1)
        self.assertIn("is the configured store itself", itself.stderr)
        # The wrong backup first, then the right one: the store of 120
        # events the first restore replaced is still there.
        first = self.daemon.ctl("restore", wrong)
        self.assertEqual(first.returncode, 0, first.stderr)
        self.assertEqual(json_lines(first.stdout)[0]["kept"], f"{store}/data.mdb.before-restore")
        second = self.daemon.ctl("restore", right)
        self.assertEqual(second.returncode, 0, second.stderr)
        self.assertEqual(json_lines(second.stdout)[0]["kept"],
                         f"{store}/data.mdb.before-restore.2")
        self.assertEqual(self.daemon.status()["events"], 100)
        original = os.path.join(self.workdir, "original")
        os.mkdir(original)
        os.rename(f"{store}/data.mdb.before-restore", f"{original}/data.mdb")
        kept = subprocess.run([CTL, "--set", f"store.path={original}", "status"],
                              capture_output=True, text=True)
        self.assertEqual(json_lines(kept.stdout)[0]["events"], 120, kept.stderr)

    @staticmethod
    def feed(proc):
        import json
        try:
            for i in range(5000):
                proc.stdin.write(json.dumps(admission(10000 + i)) + "\n")
            proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass

    def test_a_second_daemon_on_the_same_store_is_refused(self):
        other = Daemon(self.workdir, **{"store.path": self.daemon.settings["store.path"]})
        other.config = os.path.join(self.workdir, "other.conf")
        other.log = os.path.join(self.workdir, "other.log")
        other.write_config()
        proc = subprocess.run([DAEMON, "--config", other.config], capture_output=True, text=True,
                              timeout=30)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("the store is in use by commissiond (pid", proc.stderr)

    def damage_and_verify(self, damage):
        self.daemon.send(event_mix(100))
        self.assertEqual(self.daemon.stop(), 0)
        env = raw_env(self.daemon)
        with env.begin(write=True) as txn:
            damage(txn, env.open_db(b"events", txn=txn))
        env.close()
        return self.daemon.ctl("verify")

    def test_verify_finds_a_missing_event(self):
        proc = self.damage_and_verify(lambda txn, db: txn.delete((42).to_bytes(8, "big"), db=db))
        self.assertEqual(proc.returncode, 1)
        self.assertIn("events: 43 follows 41 (a gap)", proc.stderr)
        self.assertFalse(json_lines(proc.stdout)[0]["clean"])
        self.daemon.start()

    def test_verify_finds_an_event_whose_bytes_changed(self):
        def flip(txn, db):
            key = (7).to_bytes(8, "big")
            value = bytearray(txn.get(key, db=db))
            value[-3] ^= 0x01
            txn.put(key, bytes(value), db=db)
        proc = self.damage_and_verify(flip)
        self.assertEqual(proc.returncode, 1)
        self.assertRegex(proc.stderr, r"event 7 (\(.*\): its content does not match|does not decode)")
        self.daemon.start()


class Migration(DaemonTestCase):

    def set_format(self, version, drop_received=False):
        self.assertEqual(self.daemon.stop(), 0)
        env = raw_env(self.daemon)
        with env.begin(write=True) as txn:
            meta = env.open_db(b"meta", txn=txn)
            txn.put(b"format_version", version.to_bytes(8, "big"), db=meta)
            if drop_received:
                txn.drop(env.open_db(b"received", txn=txn), delete=True)
        env.close()

    def test_a_format_1_store_is_migrated_on_start_and_archives_by_its_recovered_times(self):
        self.daemon.send(event_mix(100))
        self.set_format(1, drop_received=True)
        # commissionctl reads it as it is, and says what is missing.
        self.assertEqual(self.daemon.status()["formatVersion"], 1)
        proc = self.daemon.ctl("archive", "--before", utc_text(time.time() + 60), "--out",
                               os.path.join(self.workdir, "x.arc"))
        self.assertEqual(proc.returncode, 4)
        self.assertIn("start commissiond once", proc.stderr)
        self.daemon.start()
        self.assertIn("migrated from format 1 to 2", self.daemon.log_text())
        # Every update is kept: every event's commit time comes back (the
        # log said "events 1 to 0 have none").
        self.assertRegex(self.daemon.log_text(), r"commit times of \d+ run\(s\) of events "
                                                 r"recovered from the updates, every event's\n")
        self.assertEqual(self.daemon.status()["formatVersion"], 2)
        proc = self.daemon.ctl("verify")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        # The commit times came back from the updates: a date before the
        # events takes none of them, a date after takes all.
        proc = self.daemon.ctl("archive", "--before", "2020-01-01", "--out",
                               os.path.join(self.workdir, "none.arc"))
        self.assertIn("nothing written", proc.stderr)
        proc = self.daemon.ctl("archive", "--before", utc_text(time.time() + 60), "--out",
                               os.path.join(self.workdir, "all.arc"))
        self.assertEqual(json_lines(proc.stdout)[0]["events"], 100)

    def test_a_store_whose_format_key_is_missing_is_refused_as_damage(self):
        self.daemon.send(event_mix(40))
        self.assertEqual(self.daemon.stop(), 0)
        env = raw_env(self.daemon)
        with env.begin(write=True) as txn:
            txn.delete(b"format_version", db=env.open_db(b"meta", txn=txn))
        env.close()
        store = self.daemon.settings["store.path"]
        words = (f"{store}: the store is damaged: its format key (format_version, in the meta "
                 "table) is missing, yet it holds 40 event(s)")
        proc = self.daemon.ctl("status")
        self.assertEqual(proc.returncode, 4)
        self.assertIn(words, proc.stderr)
        rc, err = start_refused(self, self.daemon, "on a store without its format key")
        self.assertEqual(rc, 1)
        self.assertIn(words, err)
        self.assertIn("restore a backup", err)
        # Nothing was stamped: the key is still missing.
        env = raw_env(self.daemon, readonly=True)
        with env.begin() as txn:
            self.assertIsNone(txn.get(b"format_version", db=env.open_db(b"meta", txn=txn)))
        env.close()
        env = raw_env(self.daemon)
        with env.begin(write=True) as txn:
            txn.put(b"format_version", (2).to_bytes(8, "big"), db=env.open_db(b"meta", txn=txn))
        env.close()
        self.daemon.start()

    def test_a_newer_or_unknown_older_format_is_refused_with_what_to_do(self):
        for version, words in ((99, "written by a newer commissiond"),
                               (0, "older than any this commissiond can migrate")):
            self.set_format(version)
            proc = subprocess.run([DAEMON, "--config", self.daemon.config], capture_output=True,
                                  text=True, timeout=30)
            self.assertEqual(proc.returncode, 1)
            self.assertIn(words, proc.stderr)
            self.assertRegex(proc.stderr, r"restore a backup")
            env = raw_env(self.daemon)
            with env.begin(write=True) as txn:
                txn.put(b"format_version", (2).to_bytes(8, "big"), db=env.open_db(b"meta", txn=txn))
            env.close()
            self.daemon.start()


class ReadOnlyBackup(DaemonTestCase):
    """A backup in a directory its reader cannot write (read-only media,
    another user's 0500 directory) is read without LMDB's lock file."""

    def as_nobody(self, store, *args):
        return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                               CTL, "--set", f"store.path={store}", *args],
                              capture_output=True, text=True, timeout=300)

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("setpriv"),
                         "needs root to read as another account")
    def test_the_read_only_commands_work_on_a_directory_they_cannot_write(self):
        self.daemon.send(event_mix(100))
        backup = os.path.join(self.workdir, "backup")
        self.assertEqual(self.daemon.ctl("backup", backup).returncode, 0)
        os.chmod(self.workdir, 0o755)
        os.chown(backup, 65534, 65534)
        os.chown(f"{backup}/data.mdb", 65534, 65534)
        os.chmod(f"{backup}/data.mdb", 0o400)
        os.chmod(backup, 0o500)
        for args in (("status",), ("verify",), ("events", "--limit", "3"), ("show", "all"),
                     ("digest",), ("deadletters",)):
            proc = self.as_nobody(backup, *args)
            self.assertEqual(proc.returncode, 0, (args, proc.stderr))
        status = json_lines(self.as_nobody(backup, "status").stdout)[0]
        self.assertEqual(status["events"], 100)
        self.assertTrue(json_lines(self.as_nobody(backup, "verify").stdout)[0]["clean"])
        self.assertEqual(os.listdir(backup), ["data.mdb"])
        # One made by root is given to the directory's owner, who reads on.
        self.assertEqual(subprocess.run([CTL, "--set", f"store.path={backup}", "status"],
                                        capture_output=True).returncode, 0)
        self.assertEqual(os.stat(f"{backup}/lock.mdb").st_uid, 65534)
        self.assertEqual(self.as_nobody(backup, "status").returncode, 0)
        # A lock.mdb it cannot write (another user's): a writer may be at
        # work; refused, saying so.
        os.chown(f"{backup}/lock.mdb", 0, 0)
        proc = self.as_nobody(backup, "status")
        self.assertEqual(proc.returncode, 4)
        self.assertIn(f"this user cannot write {backup}/lock.mdb, LMDB's reader table",
                      proc.stderr)
        self.assertIn("copy data.mdb into a directory of your own", proc.stderr)


class Readers(DaemonTestCase):
    settings = {"store.housekeeping_ms": "200"}

    def test_a_reader_that_died_in_a_transaction_is_cleared_and_counted(self):
        # A process that dies holding a read transaction leaves its slot.
        code = ("import lmdb, os, signal, sys\n"
                "env = lmdb.open(sys.argv[1], max_dbs=16, readonly=True)\n"
                "txn = env.begin()\n"
                "os.kill(os.getpid(), signal.SIGKILL)\n")
        proc = subprocess.run(["/usr/bin/python3", "-c", code, self.daemon.settings["store.path"]])
        self.assertEqual(proc.returncode, -signal.SIGKILL)
        wait_for(lambda: "cleared 1 stale reader slot(s)" in self.daemon.log_text(), timeout=30,
                 what="the reader check")
        self.assertEqual(sample(metrics(self.daemon), "commissiond_stale_readers_cleared_total"), 1)


class ArchiveOfAMigratedStore(DaemonTestCase):
    """Events of a format 1 store whose commit times were past retention
    when it was migrated are archived at time 0, the epoch."""
    settings = {"store.update_retention": "10"}
    set_format = Migration.set_format

    def test_events_archived_at_the_epoch_load_back_with_their_commit_time(self):
        self.daemon.send(event_mix(100))
        self.set_format(1, drop_received=True)
        self.daemon.start()
        self.assertIn("events 1 to 95 have none (taken as 0)", self.daemon.log_text())
        archive = os.path.join(self.workdir, "epoch.arc")
        proc = self.daemon.ctl("archive", "--before", "2001-01-01", "--out", archive, "--prune")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(json_lines(proc.stdout)[0]["removed"], 95)
        self.assertEqual(self.daemon.stop(), 0)
        proc = self.daemon.ctl("load", archive)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        proc = self.daemon.ctl("verify")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertTrue(json_lines(proc.stdout)[0]["clean"])
        self.daemon.start()
        # They are the oldest run again, committed at 0: any date takes them.
        proc = self.daemon.ctl("archive", "--before", "2001-01-01", "--out", archive + "2")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual((json_lines(proc.stdout)[0]["first"], json_lines(proc.stdout)[0]["last"]),
                         (1, 95))


def file_size_limit(limit_bytes):
    """A preexec_fn: writes past limit_bytes fail (EFBIG), as on a full disk."""
    def limit():
        import resource
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return limit


class ReplayScratch(DaemonTestCase):
    """rebuild --check and verify replay into a scratch copy of the store."""

    def ctl_limited(self, *args, env=None, limit_bytes=None):
        return subprocess.run([CTL, "--config", self.daemon.config, *args], capture_output=True,
                              text=True, timeout=300, env=env,
                              preexec_fn=file_size_limit(limit_bytes) if limit_bytes else None)

    def test_a_scratch_copy_that_cannot_be_made_is_said_and_is_no_verdict(self):
        self.daemon.send(event_mix(2000))
        proc = self.ctl_limited("rebuild", "--check", limit_bytes=200000)
        self.assertEqual(proc.returncode, 4, proc.stderr)
        self.assertRegex(proc.stderr, r"rebuild --check: cannot copy the store into the scratch "
                                      r"directory \S+commissiond-rebuild-\w+: copying the store: ")
        proc = self.ctl_limited("verify", limit_bytes=200000)
        self.assertEqual(proc.returncode, 4, proc.stderr)
        self.assertIn("verify: the replay could not be made: cannot copy the "
                      "store into the scratch directory", proc.stderr)
        self.assertNotIn("does not match", proc.stderr)
        self.assertFalse(json_lines(proc.stdout)[0]["clean"])
        self.assertIn("cannot copy the store", json_lines(proc.stdout)[0]["replay"]["reason"])

    def test_the_scratch_copy_is_made_under_tmpdir(self):
        self.daemon.send(event_mix(2000))
        scratch = os.path.join(self.workdir, "scratch")
        os.mkdir(scratch)
        env = dict(os.environ, TMPDIR=scratch)
        proc = self.ctl_limited("rebuild", "--check", env=env)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(os.listdir(scratch), [])
        proc = self.ctl_limited("rebuild", "--check", env=env, limit_bytes=200000)
        self.assertEqual(proc.returncode, 4, proc.stderr)
        self.assertIn(f"scratch directory {scratch}/commissiond-rebuild-", proc.stderr)
        self.assertIn("TMPDIR says where to make it", proc.stderr)
        proc = self.ctl_limited("verify", env=dict(os.environ, TMPDIR=scratch + "/none"))
        self.assertEqual(proc.returncode, 4, proc.stderr)
        self.assertIn(f"cannot make a scratch directory {scratch}/none/commissiond-rebuild-",
                      proc.stderr)

    def test_an_interrupted_replay_leaves_no_copy_of_the_store_behind(self):
        self.daemon.send(event_mix(20000))
        scratch = os.path.join(self.workdir, "scratch")
        os.mkdir(scratch)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            proc = subprocess.Popen([CTL, "--config", self.daemon.config, "rebuild", "--check"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    env=dict(os.environ, TMPDIR=scratch))
            # While the copy is made or replayed into: its directory is there.
            wait_for(lambda: os.listdir(scratch) or proc.poll() is not None, interval=0.001,
                     what="the scratch directory")
            proc.send_signal(sig)
            proc.communicate(timeout=60)
            self.assertEqual(proc.returncode, -sig, "the replay ended before the signal")
            self.assertEqual(os.listdir(scratch), [], sig)


class InterruptedPrune(DaemonTestCase):
    """archive --prune removes in small transactions: one that fails (EIO,
    made so by fail_commit.c under LD_PRELOAD) leaves the archive whole and
    part of the events in the log."""
    settings = {"store.prune_batch_limit": "50"}

    def test_the_error_says_how_far_it_got_and_how_to_finish(self):
        self.daemon.send(event_mix(300))
        shim = os.path.join(self.workdir, "fail_commit.so")
        subprocess.run(["cc", "-shared", "-fPIC", "-o", shim,
                        os.path.join(os.path.dirname(__file__), "fail_commit.c"), "-ldl"],
                       check=True, capture_output=True)
        trigger = os.path.join(self.workdir, "fail-commit")
        with open(trigger, "w") as f:
            f.write("4\n")  # two opens of the store, one prune transaction, then EIO
        first = os.path.join(self.workdir, "first.arc")
        proc = subprocess.run(
            [CTL, "--config", self.daemon.config, "archive", "--before", "2099-01-01", "--out",
             first, "--prune"], capture_output=True, text=True, timeout=300,
            env=dict(os.environ, LD_PRELOAD=shim, FAIL_COMMIT_FILE=trigger,
                     ASAN_OPTIONS=":".join(filter(None, [os.environ.get("ASAN_OPTIONS"),
                                                         "verify_asan_link_order=0"]))))
        self.assertEqual(proc.returncode, 4, proc.stderr)
        self.assertIn("removing archived events: committing: Input/output error; 50 of 300 "
                      f"removed. {first} is whole and holds them all: keep it.", proc.stderr)
        self.assertIn("run archive --prune again with the same --before and another --out",
                      proc.stderr)
        self.assertEqual(self.daemon.status()["firstSequence"], 51)
        # As it says: another --out finishes, and the first file is all
        # the replay needs.
        proc = self.daemon.ctl("archive", "--before", "2099-01-01", "--out",
                               os.path.join(self.workdir, "rest.arc"), "--prune")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(self.daemon.status()["firstSequence"], 301)
        proc = self.daemon.ctl("verify", "--archive", first)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertTrue(json_lines(proc.stdout)[0]["replay"]["clean"])
