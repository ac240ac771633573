"""Shared pieces of the end-to-end tests: a real commissiond in a temporary
directory on ipc:// endpoints, commissionctl, event generators, and a small
protobuf wire reader for tests that talk to the sockets directly."""
import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
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
            # A free loopback port: runs side by side must not collide.
            "http.listen": f"127.0.0.1:{free_port()}",
            # Tests are about behaviour; fsync stays on as in production.
        }
        if os.geteuid() == 0:
            # CI runs the tests as root: commissiond refuses root without
            # this explicit opt-in (docs/SECURITY.md); test_curve.py checks
            # the refusal and the switch to [daemon] user.
            self.settings["daemon.allow_root"] = "yes"
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

    def start(self, timeout=20, env=None):
        """Start and wait for the ready line; env: extra environment."""
        logf = open(self.log, "a")
        self.proc = subprocess.Popen([DAEMON, "--config", self.config],
                                     stdout=logf, stderr=logf,
                                     env=dict(os.environ, **env) if env else None)
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
    start_in_setup = True  # False: the test starts it itself

    def daemon_env(self):
        """The environment the daemon starts with in setUp, beside this
        one's (a fault shim's, from preload_env): None, none."""
        return None

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cd-")
        self.daemon = Daemon(self.workdir, **self.settings)
        if self.start_in_setup:
            self.daemon.start(env=self.daemon_env())

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
            "sequence": f.get(3, [0])[0], "reason": text(4), "field": text(5),
            "source": text(6)}


# ---------------------------------------------------------------- adapters

HL7 = os.path.join(BUILD, "bin", "commissiond-hl7")
SPOOL = os.path.join(BUILD, "bin", "commissiond-spool")


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def adapter_settings(workdir):
    """The adapters' part of the one config file, under workdir."""
    return {
        "pseudonym.key_file": f"{workdir}/pseudonym.key",
        "hl7.listen": f"127.0.0.1:{free_port()}",
        "hl7.outbox": f"{workdir}/hl7-outbox",
        "spool.directory": f"{workdir}/spool",
        "spool.outbox": f"{workdir}/spool-outbox",
        "spool.poll_ms": "100",
        "adapter.resend_ms": "500",
    }


class Adapter:
    """commissiond-hl7 or commissiond-spool on the daemon's config file."""

    def __init__(self, daemon, program):
        self.daemon = daemon
        self.program = program
        self.log = os.path.join(daemon.dir, os.path.basename(program) + ".log")
        self.proc = None
        self.starts = 0
        key = daemon.settings["pseudonym.key_file"]
        if not os.path.exists(key):
            subprocess.run([program, "keygen", key], check=True, capture_output=True)

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def start(self, timeout=20, env=None):
        """Start and wait for the ready line; env: extra environment."""
        logf = open(self.log, "a")
        self.proc = subprocess.Popen([self.program, "--config", self.daemon.config],
                                     stdout=logf, stderr=logf,
                                     env=dict(os.environ, **env) if env else None)
        logf.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.program} exited at start:\n{self.log_text()}")
            if self.log_text().count("ready:") > self.starts:
                self.starts += 1
                return self
            time.sleep(0.02)
        raise AssertionError(f"{self.program} did not become ready")

    def stop(self):
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=30)
        self.proc = None
        return rc

    def sanitizer_report(self):
        text = self.log_text()
        return next((m for m in SANITIZER_MARKS if m in text), None)


def run_senders(sender, n, timeout):
    """sender(k) for k in range(n), each on a thread of its own, all at
    once; waits up to timeout seconds for each (the caller checks what they
    left)."""
    threads = [threading.Thread(target=sender, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)


def wait_for(predicate, timeout=30, interval=0.05, what="a condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


# ---------------------------------------------------------------- HL7 v2

def nhs_number(n):
    """A valid NHS number (modulus 11) from a seed, in the 999 test range."""
    base = 999000000 + n * 7
    while True:
        digits = str(base).zfill(9)[-9:]
        total = sum(int(d) * w for d, w in zip(digits, range(10, 1, -1)))
        check = 11 - total % 11
        check = 0 if check == 11 else check
        if check != 10:
            return digits + str(check)
        base += 1


class MllpClient:
    """A minimal third-party MLLP sender: frames messages, reads ACKs."""

    def __init__(self, address):
        import socket
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.buffer = b""

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, message):
        self.sock.sendall(b"\x0b" + message.encode() + b"\x1c\x0d")

    def ack(self):
        while b"\x1c\x0d" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError("the adapter closed the connection")
            self.buffer += chunk
        frame, self.buffer = self.buffer.split(b"\x1c\x0d", 1)
        return frame.lstrip(b"\x0b").decode()

    def close(self):
        self.sock.close()


def mllp_answer(address, message):
    """Send one HL7 message on an MLLP connection of its own: its ACK's
    fields (ack_fields)."""
    client = MllpClient(address)
    try:
        client.send(message)
        return ack_fields(client.ack())
    finally:
        client.close()


def ack_fields(ack):
    """{'MSA': [...fields], 'ERR': [...]} of an ACK (segments split on CR)."""
    out = {}
    for segment in ack.replace("\n", "\r").split("\r"):
        if segment:
            fields = segment.split("|")
            out[fields[0]] = fields
    return out


def adt(trigger, control_id, nhs, visit, *, facility="RXC_PAS", when="20260510093000",
        patient_class="I", ward="W1", site="RXC01", event_time=None, extra_pv1=None):
    """An ADT message in the shape a typical PAS sends (v2.4, CR separators)."""
    pv1 = ["PV1", "1", patient_class, f"{ward}^^^{site}", "", "", "", "", "", "", "300",
           "", "", "", "", "", "", "", "", visit]
    pv1 += [""] * (46 - len(pv1))
    if trigger in ("A01", "A04"):
        pv1[44] = when
    if trigger == "A03":
        pv1[45] = when
    if extra_pv1:
        for index, value in extra_pv1.items():
            pv1[index] = value
    segments = [
        f"MSH|^~\\&|PAS|{facility}|COMMISSIOND|ICS|{when}||ADT^{trigger}^ADT_{trigger}|{control_id}|P|2.4",
        f"EVN|{trigger}|{event_time or when}",
        f"PID|1||{visit}^^^RXC^MR~{nhs}^^^NHS^NH||SURNAME^GIVEN||19450101|F",
        "|".join(pv1),
        "ZXT|custom|segment",
    ]
    return "\r".join(segments) + "\r"


MLLP_PEER = os.path.join(os.path.dirname(__file__), "mllp-peer")


def third_party_mllp_send(address, messages):
    """Send messages with Medplum's Hl7Client (npm), installed here on first
    use from the committed lockfile; returns [{"msa1", "msa2"}]."""
    if not os.path.isdir(os.path.join(MLLP_PEER, "node_modules", "@medplum", "hl7")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                       cwd=MLLP_PEER, check=True, capture_output=True, timeout=600)
    host, port = address.rsplit(":", 1)
    proc = subprocess.run(["node", "send.mjs", host, port], cwd=MLLP_PEER,
                          input=json.dumps(messages), capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise AssertionError(f"the npm MLLP client failed: {proc.stderr}")
    return json_lines(proc.stdout)


# ---------------------------------------------------------------- raw sockets
# For the crash and fault tests, which drive the sockets the way adapters and
# subscribers do: many senders each with a window in flight, a SUB that
# heals its gaps from the replay socket.

def ack_source(data):
    """The source an Ack echoes (field 6), to key acks by (source, event id)."""
    f = pb_fields(data)
    return f[6][0].decode() if 6 in f else ""


def event_key(event):
    return (event["source"], event["eventId"])


def decode_update(data):
    f = pb_fields(data)
    return {"sequence": f.get(1, [0])[0], "topic": f[2][0].decode() if 2 in f else "",
            "commitTime": f.get(3, [0])[0], "eventSequence": f.get(4, [0])[0],
            "eventAccepted": 10 in f, "raw": bytes(data)}


def replay_updates(endpoint, from_sequence=0, prefix="", timeout=30):
    """Every stored update from from_sequence on (asking until `end`), as
    decode_update dicts, and the last ReplayReply's fields."""
    import zmq
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    updates, nxt = [], from_sequence
    try:
        while True:
            request = pb_field(1, nxt) + (pb_field(2, prefix) if prefix else b"")
            sock.send(request)
            if not sock.poll(timeout * 1000):
                raise AssertionError(f"no ReplayReply from {endpoint} in {timeout} s")
            reply = pb_fields(sock.recv())
            if 5 in reply:
                raise AssertionError(f"replay error: {reply[5][0].decode()}")
            updates += [decode_update(u) for u in reply.get(1, [])]
            nxt = reply.get(2, [nxt])[0]
            if reply.get(3, [0])[0]:
                return updates, reply
    finally:
        sock.close()


def assert_gap_free_once(updates, first=None, last=None):
    """Updates' sequences run first..last, each exactly once, in order."""
    sequences = [u["sequence"] for u in updates]
    if not sequences:
        if first is not None and last is not None and last >= first:
            raise AssertionError(f"no updates, expected {first}..{last}")
        return
    first = sequences[0] if first is None else first
    last = sequences[-1] if last is None else last
    expected = list(range(first, last + 1))
    if sequences != expected:
        missing = sorted(set(expected) - set(sequences))[:10]
        extra = sorted(s for s in set(sequences) if sequences.count(s) > 1)[:10]
        raise AssertionError(f"update sequences {first}..{last} not gap-free once: "
                             f"missing {missing}, twice {extra}, got {len(sequences)}")


class WindowSender:
    """One sender as an adapter is one: a DEALER keeping up to `window`
    envelopes in flight, acks matched by (source, event id), RETRY_LATER
    sent again after a pause. Runs in a thread; `stop` ends it with what is
    still unanswered left in `unanswered`."""

    def __init__(self, endpoint, events, window=64, on_ack=None, resend_after=None):
        from protopack import pack_envelope
        self.endpoint = endpoint
        self.queue = list(events)
        self.packed = {event_key(e): pack_envelope(e) for e in self.queue}
        self.events = {event_key(e): e for e in self.queue}
        self.window = window
        self.on_ack = on_ack
        self.resend_after = resend_after  # seconds; None: never resend unanswered
        self.in_flight = {}  # key -> time sent
        self.acks = {}  # key -> last ack (decode_ack dict)
        self.retry_later = 0
        self.resent = 0  # sent again for want of an answer in resend_after
        self.stopping = False
        self.thread = None
        self.error = None

    def start(self):
        self.thread = threading.Thread(target=self._guarded, daemon=True)
        self.thread.start()
        return self

    def stop(self, timeout=30):
        self.stopping = True
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise AssertionError("a sender thread did not stop")
        if self.error:
            raise self.error

    def done(self):
        return not self.queue and not self.in_flight

    def unanswered(self):
        """Events not finally answered: in flight, or never sent."""
        keys = list(self.in_flight) + [event_key(e) for e in self.queue]
        return [self.events[k] for k in keys]

    def _guarded(self):
        try:
            self.run()
        except BaseException as e:  # handed to stop()
            self.error = e

    def run(self):
        import zmq
        sock = zmq.Context.instance().socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(self.endpoint)
        try:
            while not self.stopping and not self.done():
                now = time.monotonic()
                while self.queue and len(self.in_flight) < self.window:
                    event = self.queue.pop(0)
                    key = event_key(event)
                    sock.send(self.packed[key])
                    self.in_flight[key] = now
                if self.resend_after is not None:
                    for key, sent in list(self.in_flight.items()):
                        if now - sent > self.resend_after:
                            sock.send(self.packed[key])
                            self.in_flight[key] = now
                            self.resent += 1
                if not sock.poll(20):
                    continue
                while True:
                    try:
                        data = sock.recv(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    ack = decode_ack(data)
                    key = (ack_source(data), ack["eventId"])
                    if key not in self.in_flight:
                        continue  # a late answer to a resend already answered
                    if ack["status"] == "RETRY_LATER":
                        self.retry_later += 1
                        del self.in_flight[key]
                        self.queue.append(self.events[key])
                        time.sleep(0.01)
                        continue
                    del self.in_flight[key]
                    self.acks[key] = ack
                    if self.on_ack:
                        self.on_ack(key, ack)
        finally:
            sock.close()


class Subscriber:
    """A SUB on the publish socket in a thread, keeping every update it
    receives by sequence (across daemon restarts: ZeroMQ reconnects)."""

    def __init__(self, endpoint, receive_hwm=None):
        self.endpoint = endpoint
        self.receive_hwm = receive_hwm
        self.received = {}  # sequence -> raw bytes
        self.repeats = []  # sequences received twice with other bytes
        self.stopping = False
        self.paused = False
        self.thread = None

    def start(self):
        import zmq
        self.sock = zmq.Context.instance().socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        if self.receive_hwm is not None:
            self.sock.setsockopt(zmq.RCVHWM, self.receive_hwm)
        self.sock.setsockopt(zmq.SUBSCRIBE, b"")
        self.sock.connect(self.endpoint)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        return self

    def run(self):
        import zmq
        while not self.stopping:
            if self.paused or not self.sock.poll(20):
                time.sleep(0.005 if self.paused else 0)
                continue
            while not self.paused:
                try:
                    _topic, body = self.sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                update = decode_update(body)
                seen = self.received.get(update["sequence"])
                if seen is not None and seen != update["raw"]:
                    self.repeats.append(update["sequence"])
                self.received[update["sequence"]] = update["raw"]

    def stop(self):
        self.stopping = True
        self.thread.join(10)
        self.sock.close()


def sample_day(date, patients, seed=1):
    """tools/sample-day's events (dicts) for one day."""
    tool = os.path.join(os.path.dirname(__file__), "..", "..", "tools", "sample-day")
    out = subprocess.run([tool, "--date", date, "--patients", str(patients), "--seed", str(seed)],
                         capture_output=True, text=True, check=True).stdout
    return json_lines(out)


def process_rss_kib(pid, field="RssAnon"):
    """A process's resident memory in KiB, from /proc/PID/status: RssAnon
    by default, its own memory, leaving out the pages of the LMDB map
    (RssFile), which the kernel may drop at will."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def kill9(owner):
    """kill -9 a Daemon's or an Adapter's process and reap it."""
    owner.proc.send_signal(signal.SIGKILL)
    owner.proc.wait(timeout=10)
    owner.proc = None


def pause(owner):
    """SIGSTOP: the process holds its sockets but answers nothing."""
    owner.proc.send_signal(signal.SIGSTOP)


def resume(owner):
    owner.proc.send_signal(signal.SIGCONT)


def drop_spool_file(directory, name, text):
    """Put a file in the spool as a sender should: write it, then rename."""
    path = os.path.join(directory, name)
    with open(path + ".part", "w", newline="") as f:
        f.write(text)
    os.rename(path + ".part", path)


def discharge_ready_csv(numbers, ready_date="2026-05-08", report_date="2026-05-10"):
    """A discharge-ready list (docs/SPOOL.md), one row per NHS number."""
    rows = ["NHS Number,Provider Code,Discharge Ready Date,Pathway,LA Code,Report Date"]
    rows += [f"{n},RXC,{ready_date},{i % 4},E10000011,{report_date}"
             for i, n in enumerate(numbers)]
    return "\r\n".join(rows) + "\r\n"


# ---------------------------------------------------------------- HTTP tables

# route -> (area, path in the area's figures, shape, key columns)
# (daemon/http.c, http_tables)
TABLES = {
    "flow/providers": ("flow", ("flow", "providers"), "keyed", ("provider",)),
    "flow/icbs": ("flow", ("flow", "icbs"), "keyed", ("icb",)),
    "discharges/cases": ("discharges", ("discharges", "cases"), "list", ()),
    "discharges/icbs": ("discharges", ("discharges", "icbs"), "keyed", ("icb",)),
    "discharges/councils": ("discharges", ("discharges", "councils"), "keyed", ("council",)),
    "capacity/lines": ("capacity", ("capacity", "lines"), "list", ()),
    "capacity/icbs": ("capacity", ("capacity", "icbs"), "keyed", ("icb",)),
    "capacity/councils": ("capacity", ("capacity", "councils"), "keyed", ("council",)),
    "services": ("services", ("services",), "keyed", ("service_id",)),
    "finance/commissioners": ("finance", ("finance", "commissioners"), "keyed2",
                              ("commissioner", "financial_year")),
    "finance/contracts": ("finance", ("finance", "contracts"), "keyed", ("contract_id",)),
    "governance/alerts": ("governance", ("governance", "conflict_alerts"), "list", ()),
    "governance/closures": ("governance", ("governance", "closure_without_consultation"), "list",
                            ()),
    "governance/register": ("governance", ("governance", "register"), "keyed_lists",
                            ("organisation",)),
    "organisations": ("organisations", ("organisations",), "keyed", ()),
}


def table_rows(route, figures):
    """The rows of a table as docs/HTTP.md makes them from an area's figures."""
    area, path, shape, keys = TABLES[route]
    node = figures
    for part in path:
        node = node.get(part, {} if shape != "list" else [])
    rows = []
    if shape == "list":
        rows = [dict(item) for item in node]
    elif shape == "keyed":
        for k, item in node.items():
            rows.append(dict({keys[0]: k} if keys else {}, **{
                f: v for f, v in item.items() if not keys or f != keys[0]}))
    elif shape == "keyed2":
        for k, years in node.items():
            for k2, item in years.items():
                rows.append(dict({keys[0]: k, keys[1]: k2}, **item))
    elif shape == "keyed_lists":
        for k, items in node.items():
            for item in items:
                rows.append(dict({keys[0]: k}, **{f: v for f, v in item.items() if f != keys[0]}))
    return rows


def stop_cleanly(test, *owners):
    """SIGTERM each running Daemon or Adapter in turn; each must exit 0
    with no sanitizer report (test: the unittest.TestCase asserting)."""
    for owner in owners:
        if owner is None or owner.proc is None:
            continue
        rc = owner.stop()
        test.assertIsNone(owner.sanitizer_report(), owner.log_text())
        test.assertEqual(rc, 0, owner.log_text())


@contextlib.contextmanager
def fresh_daemon(test, prefix="cd-", **settings):
    """A daemon started in a temporary directory of its own, for a test that
    makes several (DaemonTestCase makes one): leaving the block, it must
    stop cleanly (stop_cleanly); should the block fail, it is killed. The
    directory is removed either way."""
    workdir = tempfile.mkdtemp(prefix=prefix)
    daemon = Daemon(workdir, **settings)
    try:
        daemon.start()
        yield daemon
        stop_cleanly(test, daemon)
    finally:
        if daemon.proc is not None:
            daemon.kill9()
        shutil.rmtree(workdir, ignore_errors=True)


def start_refused(test, daemon, why, env=None, timeout=30):
    """Start commissiond on daemon's config (env: extra environment), which
    must refuse to start: exit non-zero within timeout (else it is killed
    and the test fails, saying it started because of why). Returns
    (exit status, stderr)."""
    proc = subprocess.Popen([DAEMON, "--config", daemon.config], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, **env) if env else None)
    try:
        _, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        test.fail(f"commissiond started {why}")
    test.assertNotEqual(proc.returncode, 0, stderr)
    return proc.returncode, stderr


def preload_env(workdir, shim, **env):
    """Build the fault shim tests/e2e/<shim>.c into workdir and return the
    environment that LD_PRELOADs it, with env (its settings) added."""
    library = os.path.join(workdir, f"{shim}.so")
    subprocess.run(["cc", "-shared", "-fPIC", "-o", library,
                    os.path.join(os.path.dirname(__file__), f"{shim}.c"), "-ldl"],
                   check=True, capture_output=True)
    # ASan would be first in LD_PRELOAD: the shim is.
    asan = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"), "verify_asan_link_order=0"]))
    return dict(env, LD_PRELOAD=library, ASAN_OPTIONS=asan)


def http_get(daemon, path, timeout=30):
    """GET path from the daemon's HTTP listener: (status, body as text)."""
    import http.client
    host, port = daemon.settings["http.listen"].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()
