"""kill -9 of an adapter at random moments, often while commissiond is
stopped (SIGSTOP) so that what the adapter answered for sits undelivered in
its outbox. An AA (HL7) or a file in done/ (spool) is a promise: after the
adapter restarts, every message answered AA and every row of a file in
done/ reaches the daemon exactly once.

    COMMISSIOND_ADAPTER_CRASH_LOOPS=3   kills per adapter (make test; default)
    COMMISSIOND_CRASH_SEED=N            rerun a failure (the seed is printed)
"""
import os
import random
import shutil
import socket
import sys
import tempfile
import threading
import time
import unittest

from harness import (HL7, SPOOL, Adapter, Daemon, MllpClient, ack_fields, adapter_settings, adt,
                     discharge_ready_csv, drop_spool_file, json_lines, kill9, nhs_number, pause,
                     resume, run_senders, stop_cleanly, wait_for)

LOOPS = int(os.environ.get("COMMISSIOND_ADAPTER_CRASH_LOOPS", "3"))
SEED = int(os.environ.get("COMMISSIOND_CRASH_SEED", str(random.randrange(1 << 32))))


class AdapterCrashCase(unittest.TestCase):
    program = None

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cd-acrash-")
        self.daemon = Daemon(self.workdir, **adapter_settings(self.workdir),
                             **{"hl7.provider": "RXC_PAS=RXC"})
        self.daemon.start()
        self.adapter = Adapter(self.daemon, self.program).start()
        self.rng = random.Random(SEED)
        print(f"\n{os.path.basename(self.program)} crash: {LOOPS} kills, seed {SEED} "
              f"(rerun: COMMISSIOND_CRASH_SEED={SEED})", file=sys.stderr)

    def tearDown(self):
        try:
            if self.daemon.proc is not None:
                resume(self.daemon)  # harmless when it runs
            stop_cleanly(self, self.adapter, self.daemon)
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def stored_events(self):
        return json_lines(self.daemon.ctl("events", check=True).stdout)

    def assert_each_stored_once(self, expected_keys, what):
        """Wait for the daemon to hold exactly expected_keys, none twice."""
        wait_for(lambda: self.daemon.status()["events"] >= len(expected_keys), timeout=60,
                 what=f"{len(expected_keys)} events ({what})")
        keys = [(e["source"], e["eventId"]) for e in self.stored_events()]
        self.assertEqual(len(keys), len(set(keys)), f"an event is stored twice ({what})")
        self.assertEqual(set(keys), set(expected_keys), what)


class Hl7AdapterCrash(AdapterCrashCase):
    program = HL7

    def send_until_killed(self, messages, kill_after):
        """Send messages one by one; after kill_after AAs send the next one
        and kill -9 the adapter a moment later, while it works on it.
        Returns (answered AA, not answered)."""
        client = MllpClient(self.daemon.settings["hl7.listen"])
        answered = []
        for i, (control_id, message) in enumerate(messages):
            client.send(message)
            if len(answered) == kill_after:
                time.sleep(self.rng.uniform(0, 0.005))
                kill9(self.adapter)
                # An AA the adapter wrote before it died still counts.
                try:
                    client.sock.settimeout(2)
                    if ack_fields(client.ack())["MSA"][1] == "AA":
                        answered.append(control_id)
                except (AssertionError, OSError, socket.timeout):
                    pass
                client.close()
                return answered, [m for m in messages[len(answered):]]
            ack = ack_fields(client.ack())
            self.assertEqual(ack["MSA"][1], "AA", ack)
            answered.append(control_id)
        client.close()
        kill9(self.adapter)
        return answered, []

    def test_every_message_answered_aa_reaches_the_daemon_once_across_adapter_kills(self):
        promised = set()
        for loop in range(LOOPS):
            daemon_stopped = loop % 2 == 0
            messages = [(f"K{loop}-{k}", adt("A01", f"K{loop}-{k}", nhs_number(1000 * loop + k),
                                           f"VK{loop}-{k}"))
                        for k in range(self.rng.randint(20, 60))]
            if daemon_stopped:
                pause(self.daemon)
            answered, unanswered = self.send_until_killed(
                messages, self.rng.randrange(1, len(messages)))
            promised.update(("hl7:RXC_PAS", c) for c in answered)
            if daemon_stopped:
                resume(self.daemon)
            self.adapter.start()
            # The source resends what got no answer, as an MLLP sender does.
            client = MllpClient(self.daemon.settings["hl7.listen"])
            for control_id, message in unanswered:
                client.send(message)
                self.assertEqual(ack_fields(client.ack())["MSA"][1], "AA")
                promised.add(("hl7:RXC_PAS", control_id))
            client.close()
            self.assert_each_stored_once(promised, f"loop {loop}, daemon stopped: {daemon_stopped}")


class Hl7GroupCommitCrash(AdapterCrashCase):
    """kill -9 while eight connections keep messages in flight, so that the
    adapter dies with one group committing and the next filling."""
    program = HL7
    connections, per_connection, window = 8, 100, 8

    def send_all(self, messages, answered, out_of_order, lock, kill_after):
        """Send messages keeping self.window in flight; every AA's control id
        goes into answered, until the adapter dies: the sender whose AA makes
        kill_after kills it at once. Returns how many were answered (in
        order, first to last)."""
        try:
            client = MllpClient(self.daemon.settings["hl7.listen"])
        except OSError:
            return 0
        client.sock.settimeout(30)
        sent = acked = 0
        try:
            while acked < len(messages):
                while sent < len(messages) and sent - acked < self.window:
                    client.send(messages[sent][1])
                    sent += 1
                msa = ack_fields(client.ack())["MSA"]
                with lock:
                    if msa[2] != messages[acked][0]:
                        out_of_order.append((msa[2], messages[acked][0]))
                    elif msa[1] == "AA":
                        answered.add(messages[acked][0])
                        if len(answered) == kill_after:
                            kill9(self.adapter)
                acked += 1
        except (AssertionError, OSError, socket.timeout):
            pass  # the adapter was killed
        finally:
            client.close()
        return acked

    def run_senders(self, per_sender, kill_after=None):
        """One thread per connection; with kill_after, kill -9 the adapter
        once that many AAs have arrived. Returns (answered, acked counts)."""
        answered, out_of_order, lock, acked = set(), [], threading.Lock(), {}

        def run(k):
            acked[k] = self.send_all(per_sender[k], answered, out_of_order, lock, kill_after)

        run_senders(run, len(per_sender), timeout=120)
        if kill_after is not None:
            self.assertIsNone(self.adapter.proc, f"never {kill_after} AAs")
        self.assertEqual(out_of_order, [], "an ACK answered another message than the next one")
        return answered, acked

    def test_every_aa_reaches_the_daemon_once_when_killed_with_connections_in_flight(self):
        promised = set()
        for loop in range(2):
            daemon_stopped = loop == 0
            per_sender = [[(f"G{loop}-{k}-{i}",
                            adt("A01", f"G{loop}-{k}-{i}",
                                nhs_number(100000 + 10000 * loop + 1000 * k + i),
                                f"VG{loop}-{k}-{i}"))
                           for i in range(self.per_connection)]
                          for k in range(self.connections)]
            if daemon_stopped:
                pause(self.daemon)
            kill_after = self.rng.randint(20, self.connections * self.per_connection // 2)
            answered, acked = self.run_senders(per_sender, kill_after)
            promised |= {("hl7:RXC_PAS", c) for c in answered}
            if daemon_stopped:
                resume(self.daemon)
            self.adapter.start()
            # The senders send again what got no answer, as MLLP senders do.
            rest = [msgs[acked.get(k, 0):] for k, msgs in enumerate(per_sender)]
            print(f"loop {loop}: killed with {len(answered)} AAs; "
                  f"{sum(map(len, rest))} sent again", file=sys.stderr)
            again, _ = self.run_senders(rest)
            self.assertEqual(again, {c for msgs in rest for c, _ in msgs})
            promised |= {("hl7:RXC_PAS", c) for c in again}
            self.assert_each_stored_once(promised, f"loop {loop}, daemon stopped: {daemon_stopped}")


class SpoolAdapterCrash(AdapterCrashCase):
    program = SPOOL

    def test_every_row_of_a_file_in_done_reaches_the_daemon_once_across_adapter_kills(self):
        spool = self.daemon.settings["spool.directory"]
        done = os.path.join(spool, "done")
        rows = 0
        for loop in range(LOOPS):
            daemon_stopped = loop % 2 == 0
            if daemon_stopped:
                pause(self.daemon)
            files = 6
            names = [f"discharge_{loop}_{f}.csv" for f in range(files)]
            numbers = [nhs_number(10000 + 1000 * loop + 100 * f + r)
                       for f in range(files) for r in range(40)]
            self.assertEqual(len(set(numbers)), len(numbers))
            for f, name in enumerate(names):
                drop_spool_file(spool, name, discharge_ready_csv(numbers[40 * f:40 * (f + 1)]))
            rows += len(numbers)
            # Kill once some files are in done/ (their rows promised durable).
            kill_after = self.rng.randint(1, files)
            wait_for(lambda: sum(n in os.listdir(done) for n in names) >= kill_after,
                     what=f"{kill_after} files in done/")
            time.sleep(self.rng.uniform(0, 0.05))
            kill9(self.adapter)
            in_done = sum(n in os.listdir(done) for n in names)
            if daemon_stopped:
                # Nothing was delivered: the rows of the files in done/ are
                # only in the outbox of the adapter that was killed.
                self.assertEqual(self.daemon.status()["events"], rows - len(numbers))
                resume(self.daemon)
            self.adapter.start()
            wait_for(lambda: all(n in os.listdir(done) for n in names), what="every file in done/")
            wait_for(lambda: self.daemon.status()["events"] >= rows, timeout=60,
                     what=f"{rows} rows ({in_done} files were in done/ at the kill)")
            events = self.stored_events()
            keys = [(e["source"], e["eventId"]) for e in events]
            self.assertEqual(len(keys), len(set(keys)))
            self.assertEqual(len(keys), rows, f"loop {loop}: rows lost or doubled")
            self.assertEqual(sorted(os.listdir(done)),
                             sorted(f"discharge_{l}_{f}.csv" for l in range(loop + 1)
                                    for f in range(files)),
                             "a file was taken twice or left behind")


if __name__ == "__main__":
    unittest.main()
