"""commissionctl's tail, send and listings as an operator uses them on a bad
night: a replay socket that fails, output that cannot be written, input
that cannot be read. A fake daemon (bare ZeroMQ sockets on the endpoints of
a config) says exactly what tail is answered."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import zmq

from harness import CTL, Daemon, DaemonTestCase, event_mix, pb_field, pb_fields


def update(seq, topic="t.x"):
    return pb_field(1, seq) + pb_field(2, topic) + pb_field(3, 1000) + pb_field(4, seq)


def replay_reply(seqs, next_sequence, end, last, error=""):
    body = b"".join(pb_field(1, update(s)) for s in seqs)
    body += pb_field(2, next_sequence) + pb_field(3, int(end)) + pb_field(4, last)
    if error:
        body += pb_field(5, error)
    return body + pb_field(6, 1) + pb_field(7, 1)


class FakeDaemon(unittest.TestCase):
    """commissionctl against bare sockets: an XPUB (to see the subscription
    arrive before publishing) and a ROUTER on the replay endpoint."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cd-")
        self.config = Daemon(self.workdir)  # its settings and config file; not started
        self.ctx = zmq.Context()
        self.pub = self.ctx.socket(zmq.XPUB)
        self.pub.bind(self.config.settings["publish.endpoint"])
        self.replay = self.ctx.socket(zmq.ROUTER)
        self.replay.bind(self.config.settings["replay.endpoint"])
        self.replay.RCVTIMEO = 20000
        self.pub.RCVTIMEO = 20000

    def tearDown(self):
        self.ctx.destroy(linger=0)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def request(self):
        """The next replay request: (peer, its fields)."""
        peer, body = self.replay.recv_multipart()
        return peer, pb_fields(body)

    def finish(self, proc):
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        return out, err

    def test_tail_does_not_skip_a_gap_the_replay_failed_to_fill(self):
        proc = self.config.ctl_popen("tail", "--from", "1", "--count", "3")
        peer, asked = self.request()
        self.assertEqual(asked.get(1), [1])
        self.replay.send_multipart([peer, replay_reply([], 1, True, 0)])
        self.assertEqual(self.pub.recv(), b"\x01")  # subscribed to everything
        # Update 3 arrives live; 1 and 2 are missing. The replay fails.
        self.pub.send_multipart([b"t.x", update(3)])
        peer, asked = self.request()
        self.assertEqual(asked.get(1), [1])
        self.replay.send_multipart([peer, replay_reply([], 1, True, 3, error="disk on fire")])
        # tail asks again (a quiet second): now the replay answers.
        peer, asked = self.request()
        self.assertEqual(asked.get(1), [1], "update 3 was taken for the next to print")
        self.replay.send_multipart([peer, replay_reply([1, 2, 3], 4, True, 3)])
        out, err = self.finish(proc)
        self.assertEqual(proc.returncode, 0, err)
        self.assertIn("replay: disk on fire", err)
        printed = [line for line in out.splitlines() if line.strip()]
        self.assertEqual([int(pb) for pb in
                          (line.split('"sequence":"')[1].split('"')[0] for line in printed)],
                         [1, 2, 3])

    def test_tail_does_not_start_from_the_oldest_update_when_finding_the_end_fails(self):
        proc = self.config.ctl_popen("tail", "--count", "1")
        peer, asked = self.request()
        self.replay.send_multipart([peer, replay_reply([], 1, True, 0, error="disk on fire")])
        # Asked again for the end (not from the oldest), it answers: the
        # newest is 41.
        peer, asked = self.request()
        self.assertGreater(asked.get(1, [0])[0], 41)
        self.replay.send_multipart([peer, replay_reply([], asked[1][0], True, 41)])
        self.assertEqual(self.pub.recv(), b"\x01")
        self.pub.send_multipart([b"t.x", update(42)])
        out, err = self.finish(proc)
        self.assertEqual(proc.returncode, 0, err)
        self.assertIn('"sequence":"42"', out)

    def test_send_says_when_its_input_cannot_be_read(self):
        proc = self.config.ctl("send", self.workdir)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn(f"send: {self.workdir}: cannot read past line 0: Is a directory",
                      proc.stderr)


class FullDisk(DaemonTestCase):
    """What a command prints is its product: output that cannot be written
    (here /dev/full) is an error, not a success with nothing in the file."""

    def ctl_to(self, path, *args, input=None):
        with open(path, "w") as out:
            return subprocess.run([CTL, "--config", self.daemon.config, *args], stdout=out,
                                  stderr=subprocess.PIPE, text=True, input=input, timeout=120)

    def test_listings_tail_and_send_fail_when_their_output_cannot_be_written(self):
        self.daemon.send(event_mix(50))
        self.daemon.send([{"source": "capacity", "eventId": "broken"}])  # a dead letter
        for args in (("status",), ("events",), ("deadletters",),
                     ("tail", "--from", "1", "--count", "5")):
            proc = self.ctl_to("/dev/full", *args)
            self.assertEqual(proc.returncode, 1, (args, proc.stderr))
            self.assertIn(f"{args[0]}: cannot write ", proc.stderr)
            self.assertIn("No space left on device", proc.stderr)
        self.assertIn("cannot write update 1: No space left on device (resume with --from 1)",
                      self.ctl_to("/dev/full", "tail", "--from", "1", "--count", "5").stderr)
        proc = self.ctl_to("/dev/full", "send", input="".join(
            json.dumps(e) + "\n" for e in event_mix(3)))
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("send: cannot write the acks: No space left on device", proc.stderr)
        # The same, written where there is room, is a success.
        for args in (("status",), ("events",), ("deadletters",),
                     ("tail", "--from", "1", "--count", "5")):
            self.assertEqual(self.ctl_to(os.devnull, *args).returncode, 0, args)

    def test_reports_fail_when_they_cannot_be_written(self):
        self.daemon.send(event_mix(20))
        for args in (("show", "all"), ("digest",), ("verify",)):
            proc = self.ctl_to("/dev/full", *args)
            self.assertEqual(proc.returncode, 1, (args, proc.stderr))
            self.assertIn(f"{args[0]}: cannot write the output: No space left on device",
                          proc.stderr)
            self.assertEqual(self.ctl_to(os.devnull, *args).returncode, 0, args)


class LongLines(DaemonTestCase):
    """Input with no newline for a long way (a binary file by mistake,
    /dev/zero) is one line too long, read past in bounded memory: send does
    not grow with it, and the lines after it go."""

    # A child's peak RSS, read in a process of its own so that no other
    # child of the test runner counts.
    PEAK = ("import resource, subprocess, sys\n"
            "p = subprocess.run(sys.argv[1:], stdin=sys.stdin, capture_output=True)\n"
            "sys.stdout.write(p.stdout.decode()); sys.stderr.write(p.stderr.decode())\n"
            "print('peak', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "
            "file=sys.stderr)\n"
            "sys.exit(p.returncode)\n")

    def test_a_line_of_150_mib_is_refused_in_bounded_memory_and_the_next_is_sent(self):
        event = event_mix(1)[0]
        path = os.path.join(self.workdir, "long.jsonl")
        with open(path, "wb") as f:
            chunk = b"a" * (1 << 20)
            for _ in range(150):
                f.write(chunk)
            f.write(b"\n" + json.dumps(event).encode() + b"\n")
        with open(path, "rb") as f:
            proc = subprocess.run(["/usr/bin/python3", "-c", self.PEAK, CTL, "--config",
                                   self.daemon.config, "send"], stdin=f, capture_output=True,
                                  timeout=300)
        os.unlink(path)
        out, err = proc.stdout, proc.stderr.decode()
        self.assertEqual(proc.returncode, 1, err)
        self.assertIn("line 1: longer than 16777216 bytes", err)
        self.assertIn("sent 1: 1 accepted", err)
        self.assertEqual(json.loads(out)["status"], "ACK_STATUS_ACCEPTED")
        peak_kib = int(err.split("peak ")[1].split()[0])
        # getline held the whole line: 150 MiB and more.
        self.assertLess(peak_kib, 100 * 1024, err)


class NulInALine(DaemonTestCase):
    """A NUL byte inside a line (a damaged file, two lines run together)
    does not end the line there: the line is refused, not cut short with
    its rest dropped unsaid."""

    def test_a_line_with_a_nul_is_refused_whole(self):
        first, second = event_mix(2)
        text = (json.dumps(first) + "\0" + json.dumps(second) + "\n").encode()
        proc = subprocess.run([CTL, "--config", self.daemon.config, "send"], input=text,
                              capture_output=True, timeout=60)
        err = proc.stderr.decode()
        self.assertEqual(proc.returncode, 1, err)
        self.assertIn("line 1: not JSON", err)
        self.assertIn("sent 0:", err)
        self.assertEqual(self.daemon.status()["events"], 0)


if __name__ == "__main__":
    unittest.main()
