"""kill -9 over and over, on one store, while four senders each keep a window
of events in flight and a subscriber listens. After every restart:

- every event acked ACCEPTED is in the log exactly once, at the sequence
  its ack gave, and a resend of it is DUPLICATE with that sequence;
- the log's sequences are gap-free and no event is stored twice;
- the projections' state equals a rebuild from the log (rebuild --check);
- the stored updates are gap-free, each event has exactly one
  event_accepted update, and every update the subscriber received live is
  the stored one.

The senders then resend what was not answered, as an adapter would. At the
end everything sent is stored once, and a replay from 0 gives every update
exactly once.

    COMMISSIOND_CRASH_LOOPS=5     kills (make test; the default)
    COMMISSIOND_CRASH_LOOPS=500   the long run (2-4 s a kill; progress every 50)
    COMMISSIOND_CRASH_PATIENTS=20 tools/sample-day patients a loop (~3 events each)
    COMMISSIOND_CRASH_SEED=N      rerun a failure (the seed is printed)
    COMMISSIOND_BUILD=build/release   against the optimised binaries
"""
import datetime
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import unittest

from harness import (Daemon, Subscriber, WindowSender, assert_gap_free_once, event_key,
                     json_lines, replay_updates, sample_day)

LOOPS = int(os.environ.get("COMMISSIOND_CRASH_LOOPS", "5"))
SEED = int(os.environ.get("COMMISSIOND_CRASH_SEED", str(random.randrange(1 << 32))))
SENDERS = 4
WINDOW = 32
# About 60 events a loop from tools/sample-day: the store stays small enough
# for a restart and a rebuild --check to take a second after 500 kills.
PATIENTS_PER_LOOP = int(os.environ.get("COMMISSIOND_CRASH_PATIENTS", "20"))
RESEND_ACKED_PER_LOOP = 20


class CrashLoop(unittest.TestCase):

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cd-loop-")
        self.daemon = Daemon(self.workdir)
        self.daemon.start()
        self.subscriber = Subscriber(self.daemon.settings["publish.endpoint"]).start()
        self.lock = threading.Lock()
        self.acked = {}  # key -> sequence an ACCEPTED or DUPLICATE ack gave
        self.stored = {}  # key -> sequence, from the event log
        self.checked_events = 0  # the log is verified up to here
        self.checked_updates = 0
        self.answered_this_loop = 0
        self.ack_faults = []

    def tearDown(self):
        try:
            self.subscriber.stop()
            if self.daemon.proc is not None:
                self.assertEqual(self.daemon.stop(), 0, self.daemon.log_text())
            self.assertIsNone(self.daemon.sanitizer_report(), self.daemon.log_text())
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def on_ack(self, key, ack):
        with self.lock:
            status, sequence = ack["status"], ack["sequence"]
            if status not in ("ACCEPTED", "DUPLICATE"):
                self.ack_faults.append((key, ack))
                return
            self.answered_this_loop += 1
            if status == "ACCEPTED":
                if key in self.acked:
                    self.ack_faults.append((key, "ACCEPTED twice", ack))
            elif key in self.acked and self.acked[key] != sequence:
                self.ack_faults.append((key, f"DUPLICATE under {sequence}, acked {self.acked[key]}"))
            self.acked[key] = sequence

    def run_senders(self, events, kill_after_acks, jitter=True):
        """Send events over SENDERS windows; kill -9 once kill_after_acks
        acks have come (or all are answered), after a random pause of up to
        10 ms with jitter. Returns the events left unanswered."""
        shares = [events[i::SENDERS] for i in range(SENDERS)]
        senders = [WindowSender(self.daemon.settings["ingest.endpoint"], share, WINDOW,
                                on_ack=self.on_ack).start() for share in shares]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.answered_this_loop >= kill_after_acks or all(s.done() for s in senders):
                break
            time.sleep(0.001)
        else:
            raise AssertionError(f"senders stalled:\n{self.daemon.log_text()[-2000:]}")
        if jitter:
            time.sleep(self.rng.uniform(0, 0.01))
        self.daemon.kill9()
        left = []
        for s in senders:
            s.stop()
            left += s.unanswered()
        return left

    def check_store(self, loop):
        """The invariants, on the store of a daemon just restarted."""
        status = self.daemon.status()
        last = status["lastSequence"]
        first_new = self.checked_events + 1
        self.assertEqual(status["events"], last)
        new = json_lines(self.daemon.ctl("events", "--from", str(self.checked_events + 1),
                                         check=True).stdout)
        self.assertEqual(len(new), last - self.checked_events,
                         f"loop {loop}: the log is not gap-free")
        for offset, event in enumerate(new):
            key = event_key(event)
            self.assertNotIn(key, self.stored, f"loop {loop}: {key} stored twice")
            self.stored[key] = self.checked_events + 1 + offset
        self.checked_events = last
        with self.lock:
            self.assertEqual(self.ack_faults, [], f"loop {loop}: unexpected acks")
            for key, sequence in self.acked.items():
                self.assertEqual(self.stored.get(key), sequence,
                                 f"loop {loop}: {key} acked with {sequence} is not there")
        rebuild = self.daemon.ctl("rebuild", "--check")
        self.assertEqual(rebuild.returncode, 0,
                         f"loop {loop}: state differs from a rebuild:\n{rebuild.stdout}{rebuild.stderr}")

        updates, reply = replay_updates(self.daemon.settings["replay.endpoint"],
                                        self.checked_updates + 1)
        last_update = reply.get(4, [0])[0]
        self.assertEqual(last_update, status["lastUpdateSequence"])
        assert_gap_free_once(updates, self.checked_updates + 1, last_update)
        accepted_for = [u["eventSequence"] for u in updates if u["eventAccepted"]]
        # Updates are stored in their event's transaction: each new event
        # has exactly one event_accepted update, in log order.
        self.assertEqual(accepted_for, list(range(first_new, last + 1)),
                         f"loop {loop}: event_accepted updates do not match the log")
        self.event_accepted_updates += accepted_for
        for u in updates:
            live = self.subscriber.received.get(u["sequence"])
            if live is not None:
                self.assertEqual(live, u["raw"], f"loop {loop}: update {u['sequence']} "
                                 "received live differs from the stored one")
        self.assertEqual(self.subscriber.repeats, [])
        self.checked_updates = last_update

    def test_kill9_again_and_again_keeps_every_accepted_event_once_and_the_state_rebuildable(self):
        print(f"\ncrash loop: {LOOPS} kills, seed {SEED} "
              f"(rerun: COMMISSIOND_CRASH_SEED={SEED})", file=sys.stderr)
        self.rng = random.Random(SEED)
        self.event_accepted_updates = []
        started = time.monotonic()
        everything = {}
        carried = []
        mid_stream = unanswered = 0
        day = datetime.date(2026, 1, 1)
        for loop in range(LOOPS):
            fresh = sample_day((day + datetime.timedelta(days=loop)).isoformat(),
                               PATIENTS_PER_LOOP, seed=SEED % 1000 + loop)
            everything.update((event_key(e), e) for e in fresh)
            # As an adapter: the unanswered first, then new; plus some that
            # were acked, which must come back DUPLICATE with their sequence.
            with self.lock:
                acked_keys = sorted(self.acked)
            again = [everything[k] for k in self.rng.sample(acked_keys,
                                                             min(RESEND_ACKED_PER_LOOP, len(acked_keys)))]
            batch = carried + again + fresh
            self.answered_this_loop = 0
            if loop == 0:
                # One kill surely mid-stream: at the 8th ack, no pause. (A
                # random moment on a fast daemon mostly falls after the
                # last ack of a loop's hundred events.)
                carried = self.run_senders(batch, 8, jitter=False)
            else:
                carried = self.run_senders(batch, self.rng.randrange(len(batch) + 1))
            mid_stream += bool(carried)
            unanswered += len(carried)
            self.daemon.start()
            self.check_store(loop)
            if (loop + 1) % 50 == 0:
                print(f"crash loop: {loop + 1} kills, {len(self.stored)} events, "
                      f"{time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)

        # The last resend: nothing is left unanswered, everything is stored once.
        sender = WindowSender(self.daemon.settings["ingest.endpoint"], carried, WINDOW,
                              on_ack=self.on_ack).start()
        deadline = time.monotonic() + 60
        while not sender.done() and time.monotonic() < deadline:
            time.sleep(0.01)
        sender.stop()
        self.assertTrue(sender.done(), "the last resend was not answered")
        self.check_store(LOOPS)
        self.assertEqual(set(self.stored), set(everything))
        self.assertEqual(set(self.acked), set(everything))

        # Each event has exactly one event_accepted update, in log order.
        self.assertEqual(self.event_accepted_updates, list(range(1, len(everything) + 1)))
        # A subscriber replaying from 0 gets every update once, gap-free.
        updates, reply = replay_updates(self.daemon.settings["replay.endpoint"], 0)
        assert_gap_free_once(updates, 1, reply.get(4, [0])[0])
        print(f"crash loop: {LOOPS} kills ({mid_stream} with events in flight, "
              f"{unanswered} unanswered events resent), {len(everything)} events, "
              f"{len(updates)} updates, {time.monotonic() - started:.0f} s, seed {SEED}",
              file=sys.stderr)
        self.assertGreater(mid_stream, 0, "no kill came while events were in flight")


if __name__ == "__main__":
    unittest.main()
