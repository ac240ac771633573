"""commissiond as a system service: what SIGHUP changes live and what it
leaves for a restart, what systemd is told (a fake NOTIFY_SOCKET), a log
that a flood of garbage cannot flood, and SIGTERM in the middle of load."""
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import zmq

from harness import CTL, Daemon, DaemonTestCase, admission, event_mix, json_lines, wait_for, decode_ack


def http_status(daemon, path, token=None):
    request = urllib.request.Request(f"http://{daemon.settings['http.listen']}{path}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status
    except urllib.error.HTTPError as e:
        return e.code


def hup_and_wait(daemon, words):
    before = daemon.log_text().count(words)
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: daemon.log_text().count(words) > before, timeout=20, what=words)


LINE = re.compile(r"^<[3467]>commissiond: \S")


class Reload(DaemonTestCase):
    settings = {"http.token": "first-secret-token"}

    def test_a_new_http_token_applies_at_once_and_is_never_logged(self):
        self.assertEqual(http_status(self.daemon, "/readyz", "first-secret-token"), 200)
        self.daemon.settings["http.token"] = "second-secret-token"
        self.daemon.write_config()
        hup_and_wait(self.daemon, "reload: http.token changed")
        self.assertEqual(http_status(self.daemon, "/readyz", "first-secret-token"), 401)
        self.assertEqual(http_status(self.daemon, "/readyz", "second-secret-token"), 200)
        self.assertNotIn("secret-token", self.daemon.log_text())

    def test_live_limits_change_and_restart_only_settings_keep_their_value(self):
        self.daemon.settings.update({"ingest.batch_limit": "4096", "store.sync": "nometa",
                                     "http.max_connections": "128"})
        self.daemon.write_config()
        hup_and_wait(self.daemon, 'reload: store.sync changed to "nometa", but it needs a '
                                  'restart; keeping "full"')
        log = self.daemon.log_text()
        self.assertIn('reload: ingest.batch_limit changed from "1024" to "4096"', log)
        self.assertIn('reload: http.max_connections changed from "64" to "128"', log)
        # The bigger batch is taken in hand at once: a burst larger than
        # the old limit is accepted whole.
        acks, proc = self.daemon.send(event_mix(3000))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual({a["status"] for a in acks}, {"ACK_STATUS_ACCEPTED"})
        # The file back as running: said so, nothing logged as changed.
        self.daemon.settings["store.sync"] = "full"
        self.daemon.write_config()
        hup_and_wait(self.daemon, "reload: the configuration is unchanged")

    def test_a_restart_only_endpoint_keeps_its_value(self):
        # Removing the token is live; the ingest endpoint is not.
        self.daemon.settings["ingest.endpoint"] = f"ipc://{self.workdir}/elsewhere"
        self.daemon.write_config()
        hup_and_wait(self.daemon, "reload: ingest.endpoint changed to")
        self.assertIn("needs a restart", self.daemon.log_text())
        self.assertTrue(os.path.exists(f"{self.workdir}/ingest"))


class Notify(DaemonTestCase):
    """A fake systemd: a datagram socket as NOTIFY_SOCKET, read all the
    time as systemd does (a full socket would block the daemon's
    sd_notify), into a queue the test takes from."""

    def setUp(self):
        import queue
        import tempfile
        import threading
        self.workdir = tempfile.mkdtemp(prefix="cd-")
        self.daemon = Daemon(self.workdir)
        self.path = os.path.join(self.workdir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages = []
        self.received = queue.Queue()
        self.reading = True
        self.reader = threading.Thread(target=self.read_notify, daemon=True)
        self.reader.start()

    def read_notify(self):
        while self.reading:
            try:
                self.received.put(self.sock.recv(4096).decode())
            except socket.timeout:
                continue
            except OSError:
                return

    def tearDown(self):
        self.reading = False
        self.reader.join(timeout=5)
        self.sock.close()
        super().tearDown()

    def receive_until(self, predicate, what):
        import queue
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                data = self.received.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.messages.append(data)
            if predicate(data):
                return data
        raise AssertionError(f"no {what} from commissiond; got {self.messages}")

    def test_ready_after_the_sockets_accept_then_status_watchdog_and_stopping(self):
        self.daemon.start(env={"NOTIFY_SOCKET": self.path, "WATCHDOG_USEC": "1000000"})
        host, port = self.daemon.settings["http.listen"].split(":")
        ready = self.receive_until(lambda m: "READY=1" in m, "READY=1")
        # At READY=1 the HTTP port accepts, the ZeroMQ endpoints are bound
        # and the store is open.
        socket.create_connection((host, int(port)), timeout=5).close()
        self.assertTrue(os.path.exists(f"{self.workdir}/ingest"))
        self.assertTrue(os.path.exists(f"{self.workdir}/store/data.mdb"))
        self.assertIn("STATUS=ready: 0 events, serving", ready)
        before = "".join(self.messages[:-1])
        self.assertIn("STATUS=starting", before)
        self.assertIn(f"STATUS=opening store {self.workdir}/store", before)
        _, proc = self.daemon.send(event_mix(20))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.receive_until(lambda m: "WATCHDOG=1" in m, "WATCHDOG=1")
        # Every 5 s: the first may have gone before the send was stored.
        status = self.receive_until(lambda m: "STATUS=ingesting:" in m and "20 events" in m,
                                    "a periodic STATUS after the send")
        self.assertRegex(status, r"STATUS=ingesting: [0-9.]+ events/s, 20 events stored, "
                                 r"0 stream client\(s\)")
        self.daemon.proc.send_signal(signal.SIGTERM)
        self.receive_until(lambda m: "STOPPING=1" in m, "STOPPING=1")
        self.assertEqual(self.daemon.proc.wait(timeout=30), 0)
        self.daemon.proc = None


class Logging(DaemonTestCase):

    def test_a_flood_of_garbage_is_logged_in_bounded_lines_with_a_suppressed_count(self):
        context = zmq.Context()
        dealer = context.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.connect(self.daemon.settings["ingest.endpoint"])
        acks = 0
        try:
            for start in range(0, 10000, 500):
                for i in range(start, start + 500):
                    dealer.send(b"not an envelope %d" % i)
                for _ in range(500):
                    if dealer.poll(30000) == 0:
                        raise AssertionError("no ack")
                    self.assertEqual(decode_ack(dealer.recv())["status"], "REJECTED")
                    acks += 1
        finally:
            dealer.close()
            context.term()
        self.assertEqual(acks, 10000)
        self.assertEqual(self.daemon.status()["rejected"], 10000)
        self.assertEqual(self.daemon.stop(), 0)
        lines = self.daemon.log_text().splitlines()
        self.assertLess(len(lines), 200, "the flood reached the log")
        suppressed = [l for l in lines if "log: suppressed" in l]
        self.assertTrue(suppressed, "\n".join(lines))
        counted = sum(int(re.search(r"suppressed (\d+) similar", l).group(1)) for l in suppressed
                      if "ingest: rejected" in l)
        shown = sum(1 for l in lines if "ingest: rejected" in l and "suppressed" not in l)
        self.assertEqual(counted + shown, 10000)
        # Every line carries its sd-daemon priority prefix.
        for line in lines:
            self.assertRegex(line, LINE)


class StopUnderLoad(DaemonTestCase):

    def test_sigterm_mid_stream_loses_no_accepted_event_and_exits_0(self):
        senders, outputs, threads = [], [], []
        for k in range(4):
            events = [admission(k * 1000000 + i) for i in range(20000)]
            proc = subprocess.Popen([CTL, "--config", self.daemon.config, "send", "--timeout", "3000"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, text=True)
            out = []
            # One thread feeds each sender and one reads its acks, so that
            # neither pipe ever holds it up.
            threads += [threading.Thread(target=self.feed, args=(proc, events), daemon=True),
                        threading.Thread(target=lambda p=proc, o=out: o.extend(p.stdout),
                                         daemon=True)]
            senders.append(proc)
            outputs.append(out)
        for t in threads:
            t.start()
        wait_for(lambda: self.daemon.status()["events"] > 5000, timeout=60,
                 what="ingest under way")
        stopped_at = time.monotonic()
        self.daemon.proc.send_signal(signal.SIGTERM)
        rc = self.daemon.proc.wait(timeout=30)
        self.assertLess(time.monotonic() - stopped_at, 10, "slow to stop")
        self.assertEqual(rc, 0, self.daemon.log_text())
        self.daemon.proc = None
        for proc in senders:
            proc.wait(timeout=60)
        for t in threads:
            t.join(timeout=60)
        accepted = {}
        for out in outputs:
            for ack in json_lines("".join(out)):
                if ack["status"] == "ACK_STATUS_ACCEPTED":
                    accepted[ack["eventId"]] = int(ack["sequence"])
        self.assertGreater(len(accepted), 5000)
        stored = {}
        for env in json_lines(self.daemon.ctl("events", check=True).stdout):
            stored[env["eventId"]] = len(stored) + 1
        # Every event acknowledged ACCEPTED is stored, under the sequence
        # its ack gave; the log is gap-free from 1.
        for event_id, seq in accepted.items():
            self.assertEqual(stored.get(event_id), seq, event_id)
        self.assertEqual(self.daemon.status()["events"], len(stored))
        self.assertLess(len(stored), 80000, "the stop came after everything was sent")
        self.assertIn("stopped cleanly", self.daemon.log_text())

    @staticmethod
    def feed(proc, events):
        try:
            for e in events:
                proc.stdin.write(json.dumps(e) + "\n")
            proc.stdin.close()
        except (BrokenPipeError, ValueError, OSError):
            pass
