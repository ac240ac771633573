"""Faults from outside: a full disk, a subscriber that stops reading, a sender
that floods, a wall clock that jumps. In each the daemon (and the adapters)
must refuse clearly, keep its memory bounded, lose nothing it acknowledged
and carry on when the fault goes."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import harness
from harness import (HL7, SPOOL, Adapter, Daemon, DaemonTestCase, MllpClient, Subscriber, WindowSender,
                     ack_fields, adapter_settings, adt, assert_gap_free_once, event_key, event_mix,
                     http_get, json_lines, nhs_number, preload_env, process_rss_kib, replay_updates,
                     start_refused, stop_cleanly, wait_for)
from test_http_figures import FOLD_TABLES, Figures, check_at, spells_ahead


def mount_tmpfs(directory, size):
    """A small filesystem of its own; None when mounting is not permitted
    (not root, or a container without CAP_SYS_ADMIN), with the reason."""
    os.makedirs(directory, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", directory],
                          capture_output=True, text=True)
    return None if proc.returncode == 0 else (proc.stderr.strip() or f"mount: rc {proc.returncode}")


def remount_tmpfs(directory, size):
    subprocess.run(["mount", "-o", f"remount,size={size}", directory], check=True,
                   capture_output=True)


def umount(directory):
    subprocess.run(["umount", "-l", directory], capture_output=True)


def fill(directory, leave_bytes):
    """A filler file taking all but about leave_bytes of the filesystem."""
    st = os.statvfs(directory)
    size = st.f_bavail * st.f_frsize - leave_bytes
    path = os.path.join(directory, "filler")
    with open(path, "wb") as f:
        for _ in range(size // (1 << 16)):
            f.write(b"\0" * (1 << 16))
    return path


def stored_keys(daemon):
    return [event_key(e) for e in json_lines(daemon.ctl("events", check=True).stdout)]


def send_all(daemon, events, timeout=120):
    """Send events over one windowed sender until each has a final answer
    (RETRY_LATER is sent again); returns {key: ack}."""
    sender = WindowSender(daemon.settings["ingest.endpoint"], events, window=256).start()
    wait_for(sender.done, timeout=timeout, what=f"answers to {len(events)} events")
    sender.stop()
    return sender.acks


# ------------------------------------------------------------ a full disk

class BackupOntoAFullDisk(DaemonTestCase):
    """A backup the disk cannot hold fails saying so, leaves no partial
    copy (which would look like a store, and keep the retry out), and can be
    taken again once there is room."""

    def test_a_backup_that_fills_the_disk_leaves_nothing_and_is_taken_again(self):
        small = os.path.join(self.workdir, "small")
        reason = mount_tmpfs(small, "256k")
        if reason is not None:
            self.skipTest(f"cannot mount a small tmpfs to fill ({reason})")
        self.addCleanup(umount, small)
        acks, proc = self.daemon.send(event_mix(2000))
        self.assertEqual({a["status"] for a in acks}, {"ACK_STATUS_ACCEPTED"}, proc.stderr)
        target = os.path.join(small, "backup")
        full = self.daemon.ctl("backup", target)
        self.assertNotEqual(full.returncode, 0)
        self.assertIn("No space left on device", full.stderr)
        self.assertIn(f"the partial copy {target}/data.mdb was removed", full.stderr)
        self.assertFalse(os.path.exists(os.path.join(target, "data.mdb")))
        remount_tmpfs(small, "64m")
        again = self.daemon.ctl("backup", target)
        self.assertEqual(again.returncode, 0, again.stderr)
        copy = subprocess.run([harness.CTL, "--set", f"store.path={target}", "status"],
                              capture_output=True, text=True)
        self.assertEqual(copy.returncode, 0, copy.stderr)
        self.assertEqual(json.loads(copy.stdout)["events"], 2000)


class SpoolErrorsFileOntoAFullDisk(unittest.TestCase):
    """A file whose errors file the spool's filesystem cannot hold stays in
    the spool, and the log says why: the disk is full (a short write sets
    no errno; the reason must not be some earlier call's)."""

    def test_the_errors_file_that_does_not_fit_is_said_to_be_for_want_of_room(self):
        workdir = tempfile.mkdtemp(prefix="cd-spool-disk-")
        self.addCleanup(shutil.rmtree, workdir, True)
        spool = os.path.join(workdir, "spool")
        reason = mount_tmpfs(spool, "256k")
        if reason is not None:
            self.skipTest(f"cannot mount a small tmpfs to fill ({reason})")
        self.addCleanup(umount, spool)
        daemon = Daemon(workdir, **adapter_settings(workdir))
        daemon.start()
        adapter = Adapter(daemon, SPOOL).start()
        self.addCleanup(stop_cleanly, self, adapter, daemon)
        # 3,000 rows with a bad NHS number: about 90 kB of CSV whose errors
        # file, a reason a row, is about three times that.
        rows = "".join(f"12345678{i % 100:02d},RXC,2026-05-08,1,\n" for i in range(3000))
        part = os.path.join(spool, "bad.csv.part")
        with open(part, "w") as f:
            f.write("NHS Number,Provider Code,Discharge Ready Date,Pathway,LA Code\n" + rows)
        os.rename(part, os.path.join(spool, "bad.csv"))
        wait_for(lambda: "cannot write done/bad.csv.errors.csv" in adapter.log_text(),
                 timeout=30, what="the errors file refused")
        self.assertIn("cannot write done/bad.csv.errors.csv: No space left on device; the file "
                      "stays in the spool", adapter.log_text())
        self.assertTrue(os.path.exists(os.path.join(spool, "bad.csv")))


class FullDiskCase(unittest.TestCase):
    """The store on a filesystem that fills: RETRY_LATER, never a crash or a
    lost event; once there is room again, ingest resumes."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cd-disk-")
        self.small = os.path.join(self.workdir, "small")
        self.mounted = False
        reason = mount_tmpfs(self.small, "8m")
        if reason is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.skipTest(f"cannot mount a small tmpfs to fill ({reason}); "
                          "test_operations.FullStore covers a full map instead")
        self.mounted = True

    def tearDown(self):
        try:
            stop_cleanly(self, *getattr(self, "procs", []))
        finally:
            if self.mounted:
                umount(self.small)
            shutil.rmtree(self.workdir, ignore_errors=True)


class FullDisk(FullDiskCase):

    def test_a_full_disk_answers_retry_later_loses_nothing_and_ingest_resumes_when_freed(self):
        daemon = Daemon(self.workdir, **{"store.path": f"{self.small}/store"})
        self.procs = [daemon]
        daemon.start()
        events = event_mix(20000)
        acks, proc = daemon.send(events, "--timeout", "5000")
        statuses = [a["status"] for a in acks]
        self.assertIn("ACK_STATUS_RETRY_LATER", statuses, "the disk never filled")
        self.assertIsNone(daemon.proc.poll(), f"commissiond died:\n{daemon.log_text()}")
        retry = next(a for a in acks if a["status"] == "ACK_STATUS_RETRY_LATER")
        self.assertEqual(retry["field"], "store")
        # LMDB reports a write cut short by a full disk as EIO: the daemon
        # must still name the disk, not a failing write.
        self.assertEqual(retry["reason"], "store: the disk is full; send again later")
        accepted = {a["eventId"]: int(a["sequence"]) for a in acks
                    if a["status"] == "ACK_STATUS_ACCEPTED"}
        self.assertGreater(len(accepted), 0)
        # Every accepted event is in the log, at its sequence, once.
        keys = stored_keys(daemon)
        self.assertEqual(len(keys), len(accepted))
        for event_id, sequence in accepted.items():
            self.assertEqual(keys[sequence - 1][1], event_id)
        self.assertIn("committing: No space left on device", daemon.log_text())

        # Room again, the daemon still running: the refused are taken, the
        # accepted come back DUPLICATE under their sequence.
        remount_tmpfs(self.small, "256m")
        answers = send_all(daemon, events)
        for event in events:
            ack = answers[event_key(event)]
            if event["eventId"] in accepted:
                self.assertEqual((ack["status"], ack["sequence"]),
                                 ("DUPLICATE", accepted[event["eventId"]]))
            else:
                self.assertEqual(ack["status"], "ACCEPTED", ack)
        keys = stored_keys(daemon)
        self.assertEqual(len(keys), len(events))
        self.assertEqual(set(keys), {event_key(e) for e in events})
        check = daemon.ctl("rebuild", "--check")
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)

    def test_an_outbox_on_a_full_disk_answers_ar_not_aa_and_delivers_every_aa_once(self):
        settings = dict(adapter_settings(self.workdir), **{"hl7.provider": "RXC_PAS=RXC",
                                                           "hl7.outbox": f"{self.small}/outbox"})
        daemon = Daemon(self.workdir, **settings)
        self.procs = [daemon]
        daemon.start()
        hl7 = Adapter(daemon, HL7).start()
        self.procs.insert(0, hl7)
        self.assertEqual(daemon.stop(), 0)
        filler = fill(self.small, 256 * 1024)
        client = MllpClient(daemon.settings["hl7.listen"])
        codes, refused = [], None
        for i in range(20000):
            message = adt("A01", f"DISK-{i}", nhs_number(2000 + i), f"VD{i}")
            client.send(message)
            ack = ack_fields(client.ack())
            codes.append(ack["MSA"][1])
            if codes[-1] != "AA":
                refused = (i, message, ack)
                break
        self.assertIsNotNone(refused, "the outbox's disk never filled")
        i, message, ack = refused
        self.assertEqual(ack["MSA"][1], "AR", ack)
        self.assertIn("again later", "|".join(ack.get("ERR", [])) + "|".join(ack["MSA"]))
        self.assertIsNone(hl7.proc.poll(), f"commissiond-hl7 died:\n{hl7.log_text()}")
        self.assertIn("outbox: committing: No space left on device", hl7.log_text())
        accepted = codes.count("AA")
        self.assertGreater(accepted, 0)
        # Room again (the filler goes), the daemon returns, the outbox
        # drains; the source's resend of the refused message is taken.
        os.unlink(filler)
        daemon.start()
        wait_for(lambda: daemon.status()["events"] == accepted, timeout=120,
                 what=f"{accepted} events delivered")
        client.send(message)
        self.assertEqual(ack_fields(client.ack())["MSA"][1], "AA")
        client.close()
        wait_for(lambda: daemon.status()["events"] == accepted + 1, what="the resend")
        keys = stored_keys(daemon)
        self.assertEqual(sorted(k[1] for k in keys), sorted(f"DISK-{n}" for n in range(i + 1)))


# ------------------------------------------------------------ memory

ORGS = [("Y59", "ORG_ROLE_REGION", ""), ("QNX", "ORG_ROLE_ICB", "Y59"),
        ("RXC", "ORG_ROLE_TRUST", "QNX"), ("E10000011", "ORG_ROLE_LOCAL_AUTHORITY", "QNX")]


def organisations():
    return [{"source": "ods", "eventId": f"O-{code}", "occurredAt": "1767225600000",
             "organisationRegistered": dict({"code": code, "role": role},
                                            **({"parentCode": parent} if parent else {}))}
            for code, role, parent in ORGS]


def discharge_reports(tag, count, people=200):
    """Ready-for-discharge reports about the same people, day after day:
    each publishes the discharges figures (a couple of KiB) while the state
    grows by one small history entry."""
    from harness import MS_2026_05_10, pseudonym
    return [{"source": "sitrep", "eventId": f"{tag}-{n}",
             "occurredAt": str(MS_2026_05_10 + n * 60000),
             "readyForDischarge": {"patientPseudonym": pseudonym(n % people), "provider": "RXC",
                                   "readyDate": "2026-05-10", "pathway": str(n % 4),
                                   "council": "E10000011"}}
            for n in range(count)]


RELEASE_DAEMON = os.path.join(os.path.dirname(__file__), "..", "..", "build", "release", "bin",
                              "commissiond")


class StoreUnusable(DaemonTestCase):
    """A commit that fails writing LMDB's meta page (fail_meta_write.c under
    LD_PRELOAD: EIO there) leaves the environment unusable until it is
    opened again: MDB_PANIC for every transaction, whatever is freed. The
    daemon answers the batch RETRY_LATER, says why and exits non-zero, so
    that systemd starts it again; started again, it takes the event, and
    nothing accepted before is lost."""

    def daemon_env(self):
        self.trigger = os.path.join(self.workdir, "fail-meta-write")
        return preload_env(self.workdir, "fail_meta_write", FAIL_META_WRITE_FILE=self.trigger)

    def test_the_daemon_exits_to_be_restarted_and_loses_nothing(self):
        events = event_mix(4)
        acks, proc = self.daemon.send(events[:3])
        self.assertEqual([a["status"] for a in acks], ["ACK_STATUS_ACCEPTED"] * 3, proc.stderr)
        open(self.trigger, "w").close()
        acks, proc = self.daemon.send(events[3:], "--timeout", "5000")
        self.assertFalse(os.path.exists(self.trigger), "no meta page was written")
        self.assertEqual([a["status"] for a in acks], ["ACK_STATUS_RETRY_LATER"], proc.stderr)
        rc = self.daemon.proc.wait(timeout=30)
        self.daemon.proc = None
        log = self.daemon.log_text()
        self.assertEqual(rc, 1, log[-3000:])
        self.assertIn("store: the store is unusable after a failed write (MDB_PANIC); "
                      "exiting so that the service manager starts commissiond again", log)
        self.assertIsNone(self.daemon.sanitizer_report(), log)
        self.daemon.start()
        acks, proc = self.daemon.send(events)
        self.assertEqual([a["status"] for a in acks],
                         ["ACK_STATUS_DUPLICATE"] * 3 + ["ACK_STATUS_ACCEPTED"], proc.stderr)
        self.assertEqual([int(a["sequence"]) for a in acks], [1, 2, 3, 4])


class EventLoopFails(DaemonTestCase):
    """libevent's loop that fails (fail_loop.c under LD_PRELOAD: the main
    thread's epoll_wait fails with EBADF) ends commissiond, and an adapter,
    with status 1 and a line saying so, for the service manager
    (Restart=on-failure) to start it again. Both exited 0 as if stopped,
    the adapter saying "stopped cleanly", and stayed down."""

    start_in_setup = False

    def setUp(self):
        super().setUp()
        self.trigger = os.path.join(self.workdir, "fail-loop")
        self.env = preload_env(self.workdir, "fail_loop", FAIL_LOOP_FILE=self.trigger)
        self.failed = ("the event loop failed (Bad file descriptor); exiting so that the "
                       "service manager starts the program again")

    def fail_loop(self, owner, wake=lambda: None):
        """Make owner's next loop turn fail (wake() ends the turn it
        waits in); its exit status."""
        open(self.trigger, "w").close()
        wake()
        try:
            owner.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.fail(f"{owner.log_text()[-2000:]}\nit did not exit")
        rc, owner.proc = owner.proc.returncode, None
        self.assertFalse(os.path.exists(self.trigger))
        return rc

    def test_commissiond_exits_1_saying_why(self):
        self.daemon.start(env=self.env)

        def request():  # wakes the loop; the turn after it fails
            try:
                http_get(self.daemon, "/healthz", timeout=5)
            except OSError:
                pass
        self.assertEqual(self.fail_loop(self.daemon, request), 1,
                         self.daemon.log_text()[-2000:])
        self.assertIn(self.failed, self.daemon.log_text())
        self.assertIsNone(self.daemon.sanitizer_report())

    def test_an_adapter_exits_1_saying_why(self):
        self.daemon.settings.update(adapter_settings(self.workdir))
        self.daemon.write_config()
        self.daemon.start()
        spool = Adapter(self.daemon, SPOOL).start(env=self.env)
        try:
            # Its tick wakes the loop every 200 ms.
            self.assertEqual(self.fail_loop(spool), 1, spool.log_text()[-2000:])
        finally:
            stop_cleanly(self, spool)
        self.assertIn(self.failed, spool.log_text())
        self.assertNotIn("stopped cleanly", spool.log_text())
        self.assertIsNone(spool.sanitizer_report())


class OutOfMemoryDecoding(DaemonTestCase):
    """Memory running out while an envelope is decoded (fail_decode.c under
    LD_PRELOAD: the allocator behind the decoding budget fails) is no fault
    of the envelope: the batch is answered RETRY_LATER naming it, nothing is
    dead-lettered, and the envelope sent again is accepted. It was answered
    REJECTED as "not a commissioning.Envelope", and dead-lettered."""

    def daemon_env(self):
        self.trigger = os.path.join(self.workdir, "fail-decode")
        return preload_env(self.workdir, "fail_decode", FAIL_DECODE_FILE=self.trigger)

    def test_the_envelope_is_answered_retry_later_and_taken_when_sent_again(self):
        events = event_mix(2)
        acks, proc = self.daemon.send(events[:1])
        self.assertEqual([a["status"] for a in acks], ["ACK_STATUS_ACCEPTED"], proc.stderr)
        open(self.trigger, "w").close()
        acks, proc = self.daemon.send(events[1:], "--timeout", "5000")
        self.assertFalse(os.path.exists(self.trigger), "no envelope was decoded")
        self.assertEqual([(a["status"], a.get("reason")) for a in acks],
                         [("ACK_STATUS_RETRY_LATER", "envelope: out of memory decoding the "
                           "frame; send it again later")], proc.stderr)
        self.assertIn("ingest: 1 envelope(s) answered RETRY_LATER: envelope: out of memory "
                      "decoding the frame", self.daemon.log_text())
        acks, proc = self.daemon.send(events[1:])
        self.assertEqual([(a["status"], int(a["sequence"])) for a in acks],
                         [("ACK_STATUS_ACCEPTED", 2)], proc.stderr)
        self.assertEqual(self.daemon.status()["rejected"], 0)


class StoreOnANetworkFileSystem(DaemonTestCase):
    """LMDB corrupts a store on NFS (its locks and memory map are not kept
    coherent there): commissiond and commissionctl's writers refuse one at
    open, naming it (fake_nfs.c under LD_PRELOAD: statfs says NFS); a
    reader of a backup there is let be."""

    def test_a_writer_refuses_a_store_on_nfs_naming_it(self):
        self.daemon.send(event_mix(5))
        self.assertEqual(self.daemon.stop(), 0)
        self.daemon.proc = None
        store = self.daemon.settings["store.path"]
        env = preload_env(self.workdir, "fake_nfs", FAKE_NFS_DIR=store)
        why = (f"{store}: the store is on NFS, a network file system: LMDB needs a local one")
        _, stderr = start_refused(self, self.daemon, "on a store on NFS", env=env)
        self.assertIn(why, stderr)
        self.assertIn("set [store] path to a directory on a local disk", stderr)
        env = dict(os.environ, **env)
        rebuilt = subprocess.run([harness.CTL, "--config", self.daemon.config, "rebuild"],
                                 capture_output=True, text=True, timeout=60, env=env)
        self.assertEqual(rebuilt.returncode, 4, rebuilt.stderr)
        self.assertIn(why, rebuilt.stderr)
        status = subprocess.run([harness.CTL, "--config", self.daemon.config, "status"],
                                capture_output=True, text=True, timeout=60, env=env)
        self.assertEqual(status.returncode, 0, status.stderr)
        self.assertEqual(json_lines(status.stdout)[0]["events"], 5)
        self.daemon.start()


class ReleaseDaemon(Daemon):
    """commissiond from the optimised build (make test builds it) when there
    is one: memory is measured without ASan's allocator and quarantine,
    which hold freed memory and would drown what is measured."""

    def start(self, timeout=20):
        saved = harness.DAEMON
        self.optimised = os.path.exists(RELEASE_DAEMON)
        if self.optimised:
            harness.DAEMON = RELEASE_DAEMON
        try:
            return super().start(timeout)
        finally:
            harness.DAEMON = saved

    def measured(self):
        """What a memory figure was measured on, for a failure's message."""
        return "" if self.optimised else (
            f" (measured on the ASan daemon, whose quarantine holds freed memory: "
            f"{os.path.normpath(RELEASE_DAEMON)} is missing; `make test` or `make release` "
            f"builds it)")


class MemoryCase(DaemonTestCase):
    """Memory measured as RssAnon of the optimised daemon."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cd-mem-")
        self.daemon = ReleaseDaemon(self.workdir, **self.settings)
        self.daemon.start()
        acks, proc = self.daemon.send(organisations())
        self.assertEqual(proc.returncode, 0, proc.stderr)

    def rss(self):
        return process_rss_kib(self.daemon.proc.pid) * 1024

    def published_bytes(self, after_update):
        updates, _ = replay_updates(self.daemon.settings["replay.endpoint"], after_update + 1)
        return sum(len(u["raw"]) for u in updates)


N_REPORTS = 12000
PEOPLE = 1000


class StalledSubscriber(MemoryCase):
    settings = {"publish.high_water_mark": "100"}

    def test_a_subscriber_that_stops_reading_costs_bounded_memory_and_heals_its_gap_by_replay(self):
        # The same load twice: first with a subscriber that reads (the
        # state's own growth), then with one that reads nothing.
        self.daemon.send(discharge_reports("warm", N_REPORTS, PEOPLE))
        reader = Subscriber(self.daemon.settings["publish.endpoint"]).start()
        wait_for(lambda: self._subscribed(reader), what="the reader's subscription")
        before = self.rss()
        self.daemon.send(discharge_reports("control", N_REPORTS, PEOPLE))
        control_growth = self.rss() - before
        reader.stop()
        subscriber = Subscriber(self.daemon.settings["publish.endpoint"], receive_hwm=100)
        subscriber.paused = True
        subscriber.start()
        wait_for(lambda: self._subscribed(subscriber), what="the subscription")
        first_unread = self.daemon.status()["lastUpdateSequence"] + 1
        before = self.rss()
        acks, proc = self.daemon.send(discharge_reports("stalled", N_REPORTS, PEOPLE))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        stalled_growth = self.rss() - before
        published = self.published_bytes(first_unread - 1)
        # An unbounded queue would hold every byte published meanwhile.
        # (Measured: an unbounded queue grows by 1.4 times what is published,
        # a bounded one by nothing more than the reader's run.)
        self.assertGreater(published, 12 << 20, "too little published to tell")
        self.assertLess(stalled_growth - control_growth, published / 3,
                        f"memory grew {stalled_growth >> 20} MiB with a stalled subscriber, "
                        f"{control_growth >> 20} MiB without; {published >> 20} MiB published"
                        + self.daemon.measured())

        # It reads again what was queued for it, then falls quiet. PUB
        # dropped the rest past its high-water mark: the next update to
        # arrive shows the gap, and the replay socket fills it.
        subscriber.paused = False
        wait_for(lambda: self._quiet(subscriber), what="the queued updates read")
        acks, proc = self.daemon.send(discharge_reports("after", 1))
        last = self.daemon.status()["lastUpdateSequence"]
        wait_for(lambda: last in subscriber.received, what="the newest update, live")
        subscriber.stop()
        got = sorted(s for s in subscriber.received if s >= first_unread)
        gaps = [(a, b) for a, b in zip(got, got[1:]) if b != a + 1]
        self.assertTrue(gaps, "no update was dropped: the high-water mark did nothing")
        healed = dict(subscriber.received)
        for a, b in gaps:
            updates, _ = replay_updates(self.daemon.settings["replay.endpoint"], a + 1)
            for u in updates[:b - a - 1]:
                healed[u["sequence"]] = u["raw"]
        stored, _ = replay_updates(self.daemon.settings["replay.endpoint"], first_unread)
        assert_gap_free_once(stored, first_unread, last)
        self.assertEqual({s: healed[s] for s in range(first_unread, last + 1)},
                         {u["sequence"]: u["raw"] for u in stored})

    @staticmethod
    def _quiet(subscriber):
        count = len(subscriber.received)
        time.sleep(1)
        return len(subscriber.received) == count

    def _subscribed(self, subscriber):
        # A subscription takes effect asynchronously: publish until one arrives.
        paused = subscriber.paused
        self.daemon.send(discharge_reports(f"probe{time.monotonic_ns()}", 1))
        subscriber.paused = False
        time.sleep(0.05)
        seen = bool(subscriber.received)
        subscriber.paused = paused
        return seen


class ReplayOfAWholeStore(MemoryCase):
    settings = {}

    def test_a_replay_of_the_whole_store_leaves_the_rss_bounded(self):
        """A catch-up reads the updates table end to end through LMDB's map:
        those pages are the page cache's, and must not stay in the daemon's
        RSS (RssFile) with the size of what was read."""
        start_file = process_rss_kib(self.daemon.proc.pid, "RssFile") * 1024
        for part in range(3):
            acks, proc = self.daemon.send(discharge_reports(f"r{part}", N_REPORTS, PEOPLE))
            self.assertEqual(proc.returncode, 0, proc.stderr)
        updates, _ = replay_updates(self.daemon.settings["replay.endpoint"], 1, timeout=120)
        replayed = sum(len(u["raw"]) for u in updates)
        after_file = process_rss_kib(self.daemon.proc.pid, "RssFile") * 1024
        # Without the bound, every page read stays mapped: the RssFile grows
        # by about what was replayed.
        self.assertGreater(replayed, 48 << 20, "too little replayed to tell")
        self.assertLess(after_file - start_file, 24 << 20,
                        f"RssFile grew {(after_file - start_file) >> 20} MiB after a replay "
                        f"of {replayed >> 20} MiB" + self.daemon.measured())


class Flooder(MemoryCase):
    settings = {"ingest.high_water_mark": "1000"}

    def test_a_flooding_sender_does_not_starve_a_polite_one_and_its_resends_store_each_once(self):
        before = self.rss()
        # The flooder: thousands in flight, never waiting; what gets no ack
        # (ROUTER drops acks past its high-water mark) is sent again.
        flood = discharge_reports("flood", N_REPORTS // 2, PEOPLE)
        flooder = WindowSender(self.daemon.settings["ingest.endpoint"], flood,
                               window=len(flood), resend_after=15).start()
        wait_for(lambda: len(flooder.in_flight) > 2000 or flooder.acks, what="the flood")
        polite = [dict(e, source="polite") for e in discharge_reports("polite", 20, PEOPLE)]
        started = time.monotonic()
        answers = send_all(self.daemon, polite, timeout=60)
        polite_seconds = time.monotonic() - started
        self.assertEqual({a["status"] for a in answers.values()}, {"ACCEPTED"})
        self.assertLess(polite_seconds, 30, "a polite sender waited behind the flood")
        wait_for(flooder.done, timeout=300, what="every flooded event answered")
        flooder.stop()
        growth = self.rss() - before
        statuses = [a["status"] for a in flooder.acks.values()]
        self.assertEqual(set(statuses) - {"ACCEPTED", "DUPLICATE"}, set())
        keys = stored_keys(self.daemon)
        self.assertEqual(len(keys), len(set(keys)))
        self.assertTrue({event_key(e) for e in flood} <= set(keys))
        self.assertEqual(len(keys), len(organisations()) + len(flood) + len(polite))
        self.assertLess(growth, 128 << 20,
                        f"memory grew {growth >> 20} MiB under the flood" + self.daemon.measured())
        print(f"\nflood: {len(flood)} events at once, {flooder.resent} sent again for a lost "
              f"ack, polite sender answered in {polite_seconds:.1f} s, "
              f"memory +{growth >> 20} MiB", file=sys.stderr)


# ------------------------------------------------------------ the clock

FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"
AS_OF = 1778450400000  # 2026-05-10T22:00:00Z, after every event of event_mix(300)


class ClockCase(unittest.TestCase):
    """The optimised daemon under libfaketime (LD_PRELOAD; ASan wants to be
    first in that list): its wall clock is what the file self.clock says,
    read again at every call, and may be moved while it runs. The monotonic
    clock is left alone, as when an operator or NTP sets the time."""

    settings = {}

    def preload(self):
        """Further libraries for the daemon's LD_PRELOAD, and their
        environment."""
        return [], {}

    def setUp(self):
        if not os.path.exists(FAKETIME):
            self.skipTest(f"{FAKETIME} missing: make deps installs faketime")
        self.workdir = tempfile.mkdtemp(prefix="cd-clock-")
        self.clock = os.path.join(self.workdir, "faketime")
        self.set_clock("+0")
        self.daemon = ReleaseDaemon(self.workdir, **http_settings(**self.settings))
        libraries, environment = self.preload()
        saved = dict(os.environ)
        os.environ.update(environment)
        os.environ.update({"LD_PRELOAD": " ".join([FAKETIME] + libraries),
                           "FAKETIME_TIMESTAMP_FILE": self.clock,
                           "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1",
                           "FAKETIME_DONT_RESET": "1",
                           # Without a release build: ASan behind libfaketime.
                           "ASAN_OPTIONS": ":".join(filter(None, [
                               os.environ.get("ASAN_OPTIONS"), "verify_asan_link_order=0"]))})
        try:
            self.daemon.start()
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def tearDown(self):
        try:
            rc = self.daemon.stop()
            self.assertEqual(rc, 0, self.daemon.log_text())
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def set_clock(self, spec):
        """A libfaketime spec: "+0", "-10y", "+5y", "-1d", "@2031-01-01 00:00:00"."""
        with open(self.clock + ".new", "w") as f:
            f.write(spec + "\n")
        os.rename(self.clock + ".new", self.clock)

    def http_get(self, path, daemon=None):
        status, body = http_get(daemon or self.daemon, path)
        return status, json.loads(body)


def http_settings(**extra):
    from harness import free_port
    return dict({"http.listen": f"127.0.0.1:{free_port()}"}, **extra)


YEAR_MS = 365 * 86400 * 1000


class ClockJumps(ClockCase):

    def test_a_clock_years_off_and_jumping_loses_reorders_and_refigures_nothing(self):
        events = event_mix(300)
        batches = [("-10y", events[:100]), ("+5y", events[100:200]), ("-1d", events[200:])]
        commit_times = []
        for spec, batch in batches:
            self.set_clock(spec)
            wall = time.time() * 1000
            offset = {"-10y": -10 * YEAR_MS, "+5y": 5 * YEAR_MS, "-1d": -86400 * 1000}[spec]
            first = self.daemon.status()["lastUpdateSequence"] + 1
            acks, proc = self.daemon.send(batch)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertEqual({a["status"] for a in acks}, {"ACK_STATUS_ACCEPTED"})
            updates, _ = replay_updates(self.daemon.settings["replay.endpoint"], first)
            # Commit times are the daemon's clock, whatever it says.
            for u in updates:
                self.assertLess(abs(u["commitTime"] - (wall + offset)), 86400 * 1000,
                                f"{spec}: commit time {u['commitTime']}")
            commit_times.append(updates[0]["commitTime"])
        self.assertGreater(commit_times[1], commit_times[0])
        self.assertLess(commit_times[2], commit_times[1])  # the clock went back
        # Sequences follow arrival, not the clock: gap-free, in send order.
        log = json_lines(self.daemon.ctl("events", check=True).stdout)
        self.assertEqual([e["eventId"] for e in log], [e["eventId"] for e in events])
        updates, reply = replay_updates(self.daemon.settings["replay.endpoint"], 0)
        assert_gap_free_once(updates, 1, reply.get(4, [0])[0])
        check = self.daemon.ctl("rebuild", "--check")
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        # Figures as of a given time are those of a daemon with a true clock.
        honest_dir = tempfile.mkdtemp(prefix="cd-clock-true-")
        honest = ReleaseDaemon(honest_dir, **http_settings())
        try:
            honest.start()
            honest.send(events)
            for area in ("flow", "capacity"):
                path = f"/api/v1/{area}?as_of={AS_OF}"
                status, skewed = self.http_get(path)
                true_status, truth = self.http_get(path, honest)
                self.assertEqual((status, true_status), (200, 200))
                self.assertEqual(skewed["figures"], truth["figures"], area)
                self.assertEqual(skewed["as_of"], AS_OF)
        finally:
            honest.stop()
            shutil.rmtree(honest_dir, ignore_errors=True)


class ClockJumpsAfterARefusal(ClockCase):
    # A map that cannot grow: the store fills and refuses.
    settings = {"store.map_size": "262144", "store.map_max": "262144"}

    def test_readiness_comes_back_ten_seconds_after_a_refusal_whatever_the_clock_does(self):
        acks, proc = self.daemon.send(event_mix(3000))
        self.assertIn("ACK_STATUS_RETRY_LATER", [a["status"] for a in acks])
        refused_at = time.monotonic()
        status, body = self.http_get("/readyz")
        self.assertEqual((status, body["refusing_input"]), (503, True))
        # The clock is set back a day; ten seconds on, nothing refused since,
        # the daemon is ready again (DOCS: HTTP.md, /readyz).
        self.set_clock("-1d")
        time.sleep(max(0.0, refused_at + 11 - time.monotonic()))
        status, body = self.http_get("/readyz")
        self.assertEqual((status, body["refusing_input"]), (200, False),
                         "readiness follows the wall clock: a clock set back keeps it 503")


class ClockJumpsUnderAStream(ClockCase):

    def test_a_stream_is_still_pinged_when_the_clock_is_set_back(self):
        import socket
        host, port = self.daemon.settings["http.listen"].rsplit(":", 1)
        sock = socket.create_connection((host, int(port)), timeout=40)
        sock.sendall(f"GET /api/v1/stream HTTP/1.1\r\nHost: {host}\r\n"
                     "Accept: text/event-stream\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(4096)
        self.assertIn(b" 200 ", head.split(b"\r\n", 1)[0])
        self.set_clock("-1d")
        # A ping every 15 s keeps proxies from closing a quiet stream
        # (docs/HTTP.md); a day back on the wall clock must not stop them.
        received = head
        deadline = time.monotonic() + 40
        while b": ping" not in received and time.monotonic() < deadline:
            try:
                chunk = sock.recv(4096)
            except socket.timeout:
                break
            if not chunk:
                break
            received += chunk
        sock.close()
        self.assertIn(b": ping", received, "no ping in 40 s after the clock was set back")


class RunningTotalsCatchUp(ClockCase):
    """The running totals of flow and delayed discharges move on with the
    clock. After a long stop (here, the clock moved a year on while the
    daemon runs) the timers due are moved a committed step at a time, the
    loop running between steps, and ingest waits until they are done."""

    # The housekeeping timer stays out of it: ingest starts the catch-up.
    settings = {"store.housekeeping_ms": "600000", "log.level": "debug"}

    def test_a_year_on_the_totals_catch_up_in_steps_before_the_next_event(self):
        acks, proc = self.daemon.send(spells_ahead(12, 300, seed=40))
        self.assertEqual({a["status"] for a in acks}, {"ACK_STATUS_ACCEPTED"}, proc.stderr)
        fig = Figures(self.daemon)
        self.assertEqual(fig.metric("commissiond_running_totals_steps_total"), 0)
        self.set_clock("+1y")
        acks, proc = self.daemon.send(event_mix(1))
        self.assertEqual([a["status"] for a in acks], ["ACK_STATUS_ACCEPTED"], proc.stderr)
        # The batch did not move them all itself: the steps did, before it.
        steps = fig.metric("commissiond_running_totals_steps_total")
        self.assertGreaterEqual(steps, 3, self.daemon.log_text()[-3000:])
        log = self.daemon.log_text()
        self.assertRegex(log, r"live: the running totals are 87\d\d\.\d h behind the clock")
        self.assertIn(f"caught up with the clock in {steps} steps", log)
        self.assertEqual(fig.metric("commissiond_running_totals_catching_up"), 0)
        as_of_s = fig.metric("commissiond_running_totals_as_of_seconds")
        self.assertLess(abs(as_of_s - (time.time() + YEAR_MS / 1000)), 600)
        # The totals so moved are those a fold of every history gives, and
        # the derived state is what a rebuild would make.
        check_at(self, fig, int(time.time() * 1000) + YEAR_MS,
                 tables=[t for t in FOLD_TABLES if t.startswith("flow")])
        check = self.daemon.ctl("rebuild", "--check")
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)


class RunningTotalsStepFails(ClockCase):
    """A step of the catch-up whose commit fails (EIO, made so by
    fail_commit.c under LD_PRELOAD) is said once in the log and leaves
    nobody waiting: ingest lets go, and the batch moves the rest of the
    totals itself."""

    settings = {"store.housekeeping_ms": "600000"}

    def preload(self):
        shim = os.path.join(self.workdir, "fail_commit.so")
        subprocess.run(["cc", "-shared", "-fPIC", "-o", shim,
                        os.path.join(os.path.dirname(__file__), "fail_commit.c"), "-ldl"],
                       check=True, capture_output=True)
        self.trigger = os.path.join(self.workdir, "fail-commit")
        return [shim], {"FAIL_COMMIT_FILE": self.trigger}

    def test_a_failed_step_is_logged_once_and_the_batch_moves_the_rest(self):
        acks, proc = self.daemon.send(spells_ahead(12, 300, seed=41))
        self.assertEqual({a["status"] for a in acks}, {"ACK_STATUS_ACCEPTED"}, proc.stderr)
        sent = len(acks)
        fig = Figures(self.daemon)
        self.set_clock("+1y")
        # The next commits are the steps ingest asks for: the second fails.
        with open(self.trigger, "w") as f:
            f.write("2\n")
        acks, proc = self.daemon.send(event_mix(1))
        self.assertEqual([a["status"] for a in acks], ["ACK_STATUS_ACCEPTED"], proc.stderr)
        self.assertFalse(os.path.exists(self.trigger), "the daemon made no commit")
        log = self.daemon.log_text()
        self.assertRegex(log, r"live: the running totals are 87\d\d\.\d h behind the clock")
        self.assertEqual(log.count("live: the running totals could not move on with the clock: "
                                   "committing: Input/output error; the next batch moves them "
                                   "at once"), 1, log[-3000:])
        self.assertNotIn("caught up with the clock", log)
        # One step was committed, and the batch moved the rest at once.
        self.assertEqual(fig.metric("commissiond_running_totals_steps_total"), 1)
        self.assertEqual(fig.metric("commissiond_running_totals_catching_up"), 0)
        as_of_s = fig.metric("commissiond_running_totals_as_of_seconds")
        self.assertLess(abs(as_of_s - (time.time() + YEAR_MS / 1000)), 600)
        self.assertEqual(self.daemon.status()["lastSequence"], sent + 1)
        check_at(self, fig, int(time.time() * 1000) + YEAR_MS,
                 tables=[t for t in FOLD_TABLES if t.startswith("flow")])
        check = self.daemon.ctl("rebuild", "--check")
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)


class RunningTotalsKeepUp(ClockCase):
    settings = {"store.housekeeping_ms": "100"}

    def test_a_quiet_daemon_moves_its_totals_on_with_the_clock(self):
        acks, proc = self.daemon.send(spells_ahead(1, 60, seed=40))
        self.assertEqual({a["status"] for a in acks}, {"ACK_STATUS_ACCEPTED"}, proc.stderr)
        fig = Figures(self.daemon)
        self.set_clock("+30d")
        later = time.time() + 30 * 86400
        # No event comes; housekeeping moves the totals on.
        wait_for(lambda: fig.metric("commissiond_running_totals_as_of_seconds") >= later - 5,
                 timeout=30, what="the running totals' as-of to follow the clock")
        self.assertGreaterEqual(fig.metric("commissiond_running_totals_steps_total"), 1)
        self.assertEqual(self.daemon.status()["lastSequence"], len(acks))
        check_at(self, fig, int(later * 1000) + 60_000, tables=[])
        check = self.daemon.ctl("rebuild", "--check")
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)


if __name__ == "__main__":
    unittest.main()
