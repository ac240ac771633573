"""Shared pieces of the end-to-end tests: a real commissiond in a temporary
directory on ipc:// endpoints, commissionctl, event generators, and a small
protobuf wire reader for tests that talk to the sockets directly."""
import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

BUILD = os.environ.get("COMMISSIOND_BUILD",
                       os.path.join(os.path.dirname(__file__), "..", "..", "build"))
DAEMON = os.path.join(BUILD, "bin", "commissiond")
CTL = os.path.join(BUILD, "bin", "commissionctl")

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


class Daemon:
    """One commissiond with its own store and sockets under a temporary dir."""

    def __init__(self, workdir, **settings):
        self.dir = workdir
        self.config = os.path.join(workdir, "commissiond.conf")
        self.log = os.path.join(workdir, "commissiond.log")
        self.proc = None
        self.settings = {
            "ingest.endpoint": f"ipc://{workdir}/ingest",
            "publish.endpoint": f"ipc://{workdir}/publish",
            "replay.endpoint": f"ipc://{workdir}/replay",
            "store.path": f"{workdir}/store",
            # Tests are about behaviour; fsync stays on as in production.
        }
        self.settings.update(settings)
        self.write_config()

    def write_config(self):
        sections = {}
        for key, value in self.settings.items():
            section, name = key.split(".", 1)
            sections.setdefault(section, []).append(f"{name} = {value}")
        with open(self.config, "w") as f:
            for section, lines in sections.items():
                f.write(f"[{section}]\n" + "\n".join(lines) + "\n")

    def start(self, timeout=20):
        logf = open(self.log, "a")
        self.proc = subprocess.Popen([DAEMON, "--config", self.config],
                                     stdout=logf, stderr=logf)
        logf.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"commissiond exited at start:\n{self.log_text()}")
            # The ready line comes after every socket is bound.
            if self.log_text().count("ready:") > self.starts:
                self.starts += 1
                return self
            time.sleep(0.02)
        raise AssertionError("commissiond did not become ready")

    starts = 0

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self):
        """SIGTERM; the daemon must exit 0 with no sanitizer report."""
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=30)
        self.proc = None
        return rc

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None

    def sanitizer_report(self):
        text = self.log_text()
        return next((m for m in SANITIZER_MARKS if m in text), None)

    def ctl(self, *args, input=None, check=False, timeout=300):
        proc = subprocess.run([CTL, "--config", self.config, *args], input=input,
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"commissionctl {' '.join(args)}: rc={proc.returncode}\n"
                                 f"{proc.stderr}")
        return proc

    def ctl_popen(self, *args, stdout=subprocess.PIPE):
        return subprocess.Popen([CTL, "--config", self.config, *args], stdout=stdout,
                                stderr=subprocess.PIPE, text=True)

    def status(self):
        return json.loads(self.ctl("status", check=True).stdout)

    def send(self, events, *extra):
        """Send events (dicts) through commissionctl; return (acks, process)."""
        text = "".join(json.dumps(e) + "\n" for e in events)
        proc = self.ctl("send", *extra, input=text)
        return json_lines(proc.stdout), proc


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class DaemonTestCase(unittest.TestCase):
    """A test with a fresh daemon; checks it stops cleanly and quietly."""

    settings = {}

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cd-")
        self.daemon = Daemon(self.workdir, **self.settings)
        self.daemon.start()

    def tearDown(self):
        try:
            rc = self.daemon.stop()
            report = self.daemon.sanitizer_report()
            self.assertIsNone(report, f"sanitizer report in the daemon log:\n{self.daemon.log_text()}")
            self.assertEqual(rc, 0, f"commissiond exit status {rc}:\n{self.daemon.log_text()}")
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)


# ---------------------------------------------------------------- events

def pseudonym(n, salt="p"):
    """A stable 32-byte pseudonym, base64 as proto3 JSON writes bytes."""
    import hashlib
    return base64.b64encode(hashlib.blake2b(f"{salt}{n}".encode(), digest_size=32).digest()).decode()


MS_2026_05_10 = 1778371200000


def admission(n, source="hl7:RXC"):
    return {
        "source": source, "eventId": f"A{n:07d}", "occurredAt": str(MS_2026_05_10 + n * 1000),
        "patientAdmitted": {
            "patientPseudonym": pseudonym(n), "spellPseudonym": pseudonym(n, "s"),
            "provider": "RXC", "site": "RXC01", "ward": f"W{n % 12}",
            "patientClass": "PATIENT_CLASS_INPATIENT", "treatmentFunction": "300",
        },
    }


def capacity(n, source="capacity"):
    return {
        "source": source, "eventId": f"C{n:07d}", "occurredAt": str(MS_2026_05_10 + n),
        "capacityReported": {
            "organisation": "RXC01", "sector": "SECTOR_GENERAL_AND_ACUTE",
            "bedsAvailable": "400", "bedsOccupied": str(300 + n % 150),
            "asOf": str(MS_2026_05_10 + n),
        },
    }


def event_mix(count):
    """A realistic mix: mostly ADT, some capacity reports."""
    return [capacity(i) if i % 10 == 9 else admission(i) for i in range(count)]


# ---------------------------------------------------------------- protobuf

def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def pb_field(number, value):
    """Encode one field: int -> varint, str/bytes -> length-delimited."""
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    if isinstance(value, str):
        value = value.encode()
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def pb_fields(data):
    """Decode a message into {field number: [values]} (varints and bytes)."""
    fields, i = {}, 0
    while i < len(data):
        key, i = _read_varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _read_varint(data, i)
        elif wire == 2:
            size, i = _read_varint(data, i)
            value, i = data[i:i + size], i + size
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wire}")
        fields.setdefault(number, []).append(value)
    return fields


def _read_varint(data, i):
    shift = result = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, i


ACK_STATUS = {1: "ACCEPTED", 2: "DUPLICATE", 3: "REJECTED", 4: "RETRY_LATER"}


def decode_ack(data):
    f = pb_fields(data)
    text = lambda n: f[n][0].decode() if n in f else ""
    return {"eventId": text(1), "status": ACK_STATUS.get(f.get(2, [0])[0], "UNSPECIFIED"),
            "sequence": f.get(3, [0])[0], "reason": text(4), "field": text(5)}
