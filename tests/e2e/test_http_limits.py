"""The HTTP server's limit on connections: past [http] max_connections a
request gets 503 and its connection is closed; a place frees when a
connection closes."""
import http.client
import json
import shutil
import tempfile
import time
import unittest

from harness import Daemon, free_port, wait_for


class ConnectionLimit(unittest.TestCase):

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cd-lim-")
        self.port = free_port()
        self.daemon = Daemon(self.workdir, **{"http.listen": f"127.0.0.1:{self.port}",
                                              "http.max_connections": "2"})
        self.daemon.start()

    def tearDown(self):
        try:
            self.assertEqual(self.daemon.stop(), 0, self.daemon.log_text())
            self.assertIsNone(self.daemon.sanitizer_report(), self.daemon.log_text())
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

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
        status, body = self.get(third)
        self.assertEqual(status, 503)
        self.assertIn("max_connections", json.loads(body)["error"]["message"])
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
