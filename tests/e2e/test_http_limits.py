"""The HTTP server's limit on connections: past [http] max_connections a
request gets 503 and its connection is closed; a place frees when a
connection closes."""
import http.client
import json
import os
import resource
import socket
import subprocess
import tempfile
import time

from harness import DAEMON, Daemon, DaemonTestCase, free_port, wait_for


class HttpLimitCase(DaemonTestCase):
    """A daemon on a loopback port of its own, with settings."""

    settings = {}

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cd-http-limit-")
        self.port = free_port()
        self.daemon = Daemon(self.workdir, **{"http.listen": f"127.0.0.1:{self.port}",
                                              **self.settings})
        self.daemon.start()


class ConnectionLimit(HttpLimitCase):

    settings = {"http.max_connections": "2"}

    def get(self, conn, path="/api/v1/flow"):
        conn.request("GET", path)
        answer = conn.getresponse()
        return answer.status, answer.read()

    def test_a_connection_past_the_limit_gets_503_and_a_place_frees_when_one_closes(self):
        first = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        second = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        self.assertEqual(self.get(first)[0], 200)
        self.assertEqual(self.get(second)[0], 200)
        # Both stay open (keep-alive) and still count: a third is refused.
        third = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        third.request("GET", "/api/v1/flow")
        refused = third.getresponse()
        self.assertEqual(refused.status, 503)
        self.assertIn("max_connections", json.loads(refused.read())["error"]["message"])
        # As every 503 (docs/HTTP.md, Errors).
        self.assertEqual(refused.getheader("Retry-After"), "1")
        third.close()
        # The ones admitted go on being served.
        self.assertEqual(self.get(first)[0], 200)
        first.close()

        def admitted():
            probe = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                return self.get(probe)[0] == 200
            finally:
                probe.close()
        wait_for(admitted, timeout=10, what="a place after a connection closed")
        second.close()


def trickle_until_closed(sock, data, seconds, every=0.1):
    """Send data a byte every `every` s; the time at which the server closed
    the connection, or None if it was still open after `seconds`."""
    start = time.monotonic()
    i = 0
    while time.monotonic() - start < seconds:
        try:
            sock.sendall(data[i % len(data):i % len(data) + 1])
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - start
        i += 1
        time.sleep(every)
        sock.setblocking(False)
        try:
            got = sock.recv(4096)
            if got == b"":
                return time.monotonic() - start
        except BlockingIOError:
            pass
        except ConnectionResetError:
            return time.monotonic() - start
        finally:
            sock.setblocking(True)
    return None


class SlowRequest(HttpLimitCase):
    """[http] timeout_ms bounds a request's whole arrival, not each read:
    libevent restarts its own time-out on every byte."""

    settings = {"http.timeout_ms": "1000"}

    def test_a_request_sent_a_byte_at_a_time_is_cut_off_at_timeout_ms(self):
        request = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n" + b"X-Pad: a\r\n" * 100
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        try:
            closed = trickle_until_closed(sock, request, seconds=6)
        finally:
            sock.close()
        self.assertIsNotNone(closed, "a trickled request held its connection for 6 s")
        self.assertGreaterEqual(closed, 0.9)
        self.assertLess(closed, 2.5)

    def test_the_next_request_on_a_kept_connection_is_bounded_too(self):
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        try:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            answer = http.client.HTTPResponse(sock)
            answer.begin()
            self.assertEqual(answer.status, 200)
            self.assertEqual(json.loads(answer.read()), {"status": "ok"})
            closed = trickle_until_closed(sock, b"GET /healthz HTTP/1.1\r\n" + b"X: y\r\n" * 100,
                                          seconds=6)
        finally:
            sock.close()
        self.assertIsNotNone(closed, "a trickled second request held its connection for 6 s")
        self.assertLess(closed, 2.5)

    def test_a_request_that_arrives_in_time_is_answered_and_so_is_the_next(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            for _ in range(3):
                conn.request("GET", "/healthz")
                answer = conn.getresponse()
                self.assertEqual(answer.status, 200)
                answer.read()
                time.sleep(0.5)  # within timeout_ms of the last answer
        finally:
            conn.close()


class LongestTimeout(HttpLimitCase):
    """The longest timeout_ms the configuration takes (a day) keeps a
    connection open; one past what a deadline can hold once wrapped
    (undefined behaviour, a sanitizer abort) into a deadline already past,
    closing every connection at once, and is now refused at start."""

    def test_the_longest_timeout_keeps_connections_open(self):
        self.daemon.stop()
        self.daemon.settings["http.timeout_ms"] = "86400000"
        self.daemon.write_config()
        self.daemon.start()
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        try:
            time.sleep(0.5)  # sweeps pass: the connection is not closed
            for _ in range(2):
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
                answer = http.client.HTTPResponse(sock)
                answer.begin()
                self.assertEqual(answer.status, 200)
                answer.read()
                time.sleep(0.5)
        finally:
            sock.close()
        self.assertIsNone(self.daemon.sanitizer_report(), self.daemon.log_text())

    def test_a_timeout_past_a_day_is_refused_at_start(self):
        for timeout_ms in ("9223372036854775807", "18446744073709551615"):
            with self.subTest(timeout_ms=timeout_ms):
                proc = subprocess.run([DAEMON, "--config", self.daemon.config, "--set",
                                       f"http.timeout_ms={timeout_ms}", "--print-config"],
                                      capture_output=True, text=True, timeout=30)
                self.assertNotEqual(proc.returncode, 0)
                self.assertIn(f"[http] timeout_ms: {timeout_ms} is more than 86400000",
                              proc.stderr)


class OutOfDescriptors(HttpLimitCase):
    """When accept() fails for want of descriptors the daemon pauses
    accepting, and neither spins nor floods its log."""

    settings = {"http.timeout_ms": "8000"}

    def setUp(self):
        super().setUp()
        self.socks = []

    def tearDown(self):
        for s in self.socks:
            s.close()
        super().tearDown()

    def cpu_seconds(self):
        with open(f"/proc/{self.daemon.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def test_running_out_of_descriptors_pauses_accepting_without_spinning(self):
        pid = self.daemon.proc.pid
        in_use = len(os.listdir(f"/proc/{pid}/fd"))
        limit = in_use + 10
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, limit))
        # More connections than descriptors: the kernel completes them, and
        # accept() fails with EMFILE for those past the limit.
        for _ in range(30):
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            s.sendall(b"G")
            self.socks.append(s)
        time.sleep(0.5)
        log_before, cpu_before = os.path.getsize(self.daemon.log), self.cpu_seconds()
        time.sleep(2)
        cpu = self.cpu_seconds() - cpu_before
        logged = os.path.getsize(self.daemon.log) - log_before
        self.assertLess(logged, 20000, f"{logged} bytes logged in 2 s")
        self.assertLess(cpu, 0.5, f"{cpu:.2f} s of CPU in 2 s while out of descriptors")
        self.assertIn("cannot accept a connection", self.daemon.log_text())
        # Once descriptors free, accepting resumes.
        for s in self.socks:
            s.close()
        self.socks = []

        def healthy():
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            try:
                conn.request("GET", "/healthz")
                return conn.getresponse().status == 200
            except OSError:
                return False
            finally:
                conn.close()
        wait_for(healthy, timeout=15, what="/healthz once descriptors are free")
