"""Security at the sockets: CURVE with an allow-list per socket kind (an
adapter's key may send, a subscriber's may only read), SIGHUP re-reading
the lists, keys made by commissionctl keygen with the right modes, the
warning for a plain endpoint other hosts can reach, and the daemon's
refusal to run as root unless it switches to [daemon] user."""
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import zmq
from zmq.utils.monitor import recv_monitor_message

from harness import (CTL, DAEMON, HL7, Adapter, Daemon, DaemonTestCase, MllpClient,
                     adapter_settings, adt, decode_ack, free_port, http_get, json_lines, nhs_number,
                     pb_field, pb_fields, wait_for)

HAS_CURVE = zmq.has("curve")


def keygen(name):
    """commissionctl keygen NAME; returns {'public': z85, 'secret': z85}."""
    proc = subprocess.run([CTL, "keygen", name], capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"keygen {name}: {proc.stderr}")
    return read_key_file(name + ".key")


def read_key_file(path):
    keys = {}
    with open(path) as f:
        for line in f:
            if "=" in line and not line.startswith("#"):
                name, value = line.split("=", 1)
                keys[name.strip().split("-")[0]] = value.strip()
    return keys


def capacity_envelope(event_id, beds_occupied=300):
    ms = 1778371200000
    body = (pb_field(1, "RXC01") + pb_field(2, 1) + pb_field(3, 400) +
            pb_field(4, beds_occupied) + pb_field(5, ms))
    return (pb_field(1, "capacity") + pb_field(2, event_id) + pb_field(3, ms) +
            pb_field(26, body))


HANDSHAKE_EVENTS = (zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_AUTH |
                    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)


@unittest.skipUnless(HAS_CURVE, "libzmq without CURVE")
class Curve(DaemonTestCase):
    """A daemon with CURVE on: 'sender' may send, 'reader' may read."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cd-")
        keys = os.path.join(self.workdir, "keys")
        self.server = keygen(f"{keys}/server")
        self.sender = keygen(f"{keys}/sender")
        self.reader = keygen(f"{keys}/reader")
        self.stranger = keygen(f"{keys}/stranger")
        self.keys = keys
        self.ingest_allow = os.path.join(self.workdir, "ingest.allow")
        shutil.copy(f"{keys}/sender.pub", self.ingest_allow)
        self.subscribe_allow = os.path.join(self.workdir, "subscribe.allow")
        with open(self.subscribe_allow, "w") as f:
            f.write(f"# the dashboards\n{self.reader['public']}\n")
        self.daemon = Daemon(self.workdir, **{
            "curve.server_key_file": f"{keys}/server.key",
            "curve.ingest_allow": self.ingest_allow,
            "curve.subscribe_allow": self.subscribe_allow,
            # commissionctl on this file is the sender
            "curve.client_key_file": f"{keys}/sender.key",
            "curve.server_public_key_file": f"{keys}/server.pub",
        })
        self.daemon.start()
        self.ctx = zmq.Context()
        self.sockets = []

    def tearDown(self):
        for s in self.sockets:
            s.close(0)
        self.ctx.term()
        super().tearDown()

    def socket(self, kind, endpoint_key, keys=None, subscribe=None):
        """A socket connected to one of the daemon's endpoints, as a CURVE
        client with keys (None: plain), with a monitor of its handshake."""
        s = self.ctx.socket(kind)
        s.setsockopt(zmq.LINGER, 0)
        if keys is not None:
            s.curve_serverkey = self.server["public"].encode()
            s.curve_publickey = keys["public"].encode()
            s.curve_secretkey = keys["secret"].encode()
        if subscribe is not None:
            s.setsockopt(zmq.SUBSCRIBE, subscribe)
        monitor = s.get_monitor_socket(HANDSHAKE_EVENTS)
        s.connect(self.daemon.settings[endpoint_key])
        self.sockets += [s, monitor]
        return s, monitor

    def handshake(self, monitor):
        """The first handshake outcome of a socket's connection."""
        self.assertTrue(monitor.poll(30000), "no handshake within 30 s")
        return recv_monitor_message(monitor)["event"]

    def assert_refused(self, monitor):
        self.assertEqual(self.handshake(monitor), zmq.EVENT_HANDSHAKE_FAILED_AUTH)

    def events_stored(self):
        return self.daemon.status()["events"]

    def test_an_allowed_sender_is_served_and_an_allowed_reader_gets_updates_and_replay(self):
        sub, sub_monitor = self.socket(zmq.SUB, "publish.endpoint", self.reader, subscribe=b"")
        self.assertEqual(self.handshake(sub_monitor), zmq.EVENT_HANDSHAKE_SUCCEEDED)
        dealer, monitor = self.socket(zmq.DEALER, "ingest.endpoint", self.sender)
        dealer.send(capacity_envelope("K1"))
        self.assertTrue(dealer.poll(30000), "no ack within 30 s")
        self.assertEqual(decode_ack(dealer.recv())["status"], "ACCEPTED")
        self.assertEqual(self.handshake(monitor), zmq.EVENT_HANDSHAKE_SUCCEEDED)
        # The update comes through the CURVE PUB socket.
        self.assertTrue(sub.poll(30000), "no update within 30 s")
        topic, update = sub.recv_multipart()
        self.assertEqual(topic, b"event.capacity_reported.capacity")
        self.assertEqual(pb_fields(update)[1], [1])
        # The reader may replay it.
        replay, _ = self.socket(zmq.DEALER, "replay.endpoint", self.reader)
        replay.send(pb_field(1, 1))
        self.assertTrue(replay.poll(30000), "no replay reply within 30 s")
        reply = pb_fields(replay.recv())
        self.assertGreaterEqual(len(reply[1]), 2)  # the event and its capacity place
        self.assertEqual(pb_fields(reply[1][0])[2], [b"event.capacity_reported.capacity"])
        # commissionctl, given the keys in the config, sends and tails.
        acks, proc = self.daemon.send([{
            "source": "capacity", "eventId": "K2", "occurredAt": "1778371200001",
            "capacityReported": {"organisation": "RXC01", "sector": "SECTOR_GENERAL_AND_ACUTE",
                                 "bedsAvailable": "400", "bedsOccupied": "301",
                                 "asOf": "1778371200001"}}])
        self.assertEqual([a["status"] for a in acks], ["ACK_STATUS_ACCEPTED"], proc.stderr)
        tail = self.daemon.ctl("--set", f"curve.client_key_file={self.keys}/reader.key",
                               "tail", "--from", "1", "--count", "2", timeout=60)
        self.assertEqual(tail.returncode, 0, tail.stderr)
        self.assertEqual([u["sequence"] for u in json_lines(tail.stdout)], ["1", "2"])

    def test_an_unknown_key_is_refused_on_ingest_and_nothing_is_stored(self):
        dealer, monitor = self.socket(zmq.DEALER, "ingest.endpoint", self.stranger)
        dealer.send(capacity_envelope("K1"))
        self.assert_refused(monitor)
        self.assertFalse(dealer.poll(2000), "a refused client got an answer")
        self.assertEqual(self.events_stored(), 0)
        log = self.daemon.log_text()
        self.assertIn(f"refused public key {self.stranger['public']}", log)
        self.assertIn("not in [curve] ingest_allow", log)
        self.assertNotIn(self.server["secret"], log)

    def zap_decisions(self):
        """commissiond_zap_decisions_total from /metrics: {(domain, result): n}."""
        status, text = http_get(self.daemon, "/metrics")
        self.assertEqual(status, 200, text)
        found = {}
        for line in text.splitlines():
            m = re.fullmatch(r'commissiond_zap_decisions_total\{domain="(\w+)",'
                             r'result="(\w+)"\} (\d+)', line)
            if m:
                found[(m.group(1), m.group(2))] = int(m.group(3))
        return found

    def test_zap_decisions_are_counted_by_domain_in_the_metrics(self):
        self.assertIn("# TYPE commissiond_zap_decisions_total counter",
                      http_get(self.daemon, "/metrics")[1])
        self.assertEqual(self.zap_decisions(), {
            (d, r): 0 for d in ("ingest", "subscribe") for r in ("admitted", "refused")})
        stranger, monitor = self.socket(zmq.DEALER, "ingest.endpoint", self.stranger)
        self.assert_refused(monitor)
        stranger.close(0)
        _, sub_monitor = self.socket(zmq.SUB, "publish.endpoint", self.sender, subscribe=b"")
        self.assert_refused(sub_monitor)
        dealer, monitor = self.socket(zmq.DEALER, "ingest.endpoint", self.sender)
        dealer.send(capacity_envelope("K1"))
        self.assertEqual(self.handshake(monitor), zmq.EVENT_HANDSHAKE_SUCCEEDED)
        # A refused socket retries its handshake: at least one of each.
        wanted = {("ingest", "admitted"), ("ingest", "refused"), ("subscribe", "refused")}
        wait_for(lambda: all(self.zap_decisions().get(k) for k in wanted),
                 what="the ZAP decisions counted")
        found = self.zap_decisions()
        self.assertEqual(found[("ingest", "admitted")], 1)
        self.assertGreaterEqual(found[("ingest", "refused")], 1)
        self.assertGreaterEqual(found[("subscribe", "refused")], 1)
        self.assertEqual(found[("subscribe", "admitted")], 0)

    def test_a_reader_key_cannot_send_and_a_sender_key_cannot_read(self):
        dealer, monitor = self.socket(zmq.DEALER, "ingest.endpoint", self.reader)
        dealer.send(capacity_envelope("K1"))
        self.assert_refused(monitor)
        _, sub_monitor = self.socket(zmq.SUB, "publish.endpoint", self.sender, subscribe=b"")
        self.assert_refused(sub_monitor)
        replay, replay_monitor = self.socket(zmq.DEALER, "replay.endpoint", self.sender)
        replay.send(pb_field(1, 1))
        self.assert_refused(replay_monitor)
        self.assertFalse(replay.poll(1000))
        self.assertEqual(self.events_stored(), 0)
        self.assertIn("not in [curve] subscribe_allow", self.daemon.log_text())

    def test_a_plain_client_gets_no_answer_and_nothing_is_stored(self):
        dealer, monitor = self.socket(zmq.DEALER, "ingest.endpoint", None)
        dealer.send(capacity_envelope("K1"))
        self.assertNotEqual(self.handshake(monitor), zmq.EVENT_HANDSHAKE_SUCCEEDED)
        self.assertFalse(dealer.poll(3000), "a plain client got an answer")
        proc = self.daemon.ctl("--set", "curve.client_key_file=",
                               "--set", "curve.server_public_key_file=",
                               "send", "--timeout", "3000",
                               input=json.dumps({"source": "x", "eventId": "1"}) + "\n")
        self.assertEqual(proc.returncode, 3, proc.stderr)
        self.assertIn("without CURVE", proc.stderr)
        self.assertEqual(self.events_stored(), 0)

    def hup_and_wait(self, words):
        before = self.daemon.log_text().count(words)
        self.daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: self.daemon.log_text().count(words) > before, timeout=30, what=words)

    def test_sighup_admits_a_key_added_to_the_allow_list_and_keeps_it_past_a_broken_list(self):
        dealer, monitor = self.socket(zmq.DEALER, "ingest.endpoint", self.stranger)
        dealer.send(capacity_envelope("K1"))
        self.assert_refused(monitor)
        with open(self.ingest_allow, "a") as f:
            f.write(open(f"{self.keys}/stranger.pub").read())
        self.hup_and_wait(f"reload: [curve] ingest_allow {self.ingest_allow}: 2 key(s)")
        # The refused socket keeps trying; a fresh one is admitted.
        dealer, monitor = self.socket(zmq.DEALER, "ingest.endpoint", self.stranger)
        dealer.send(capacity_envelope("K2"))
        self.assertTrue(dealer.poll(30000), "no ack within 30 s after the reload")
        self.assertEqual(decode_ack(dealer.recv())["status"], "ACCEPTED")
        # A broken list is refused and the running one stays.
        with open(self.ingest_allow, "a") as f:
            f.write("not a key\n")
        self.hup_and_wait("keeping the running list of 2 key(s)")
        self.assertIn(f"{self.ingest_allow}: line 7: not a 40-character Z85 public key",
                      self.daemon.log_text())
        dealer, monitor = self.socket(zmq.DEALER, "ingest.endpoint", self.stranger)
        dealer.send(capacity_envelope("K3"))
        self.assertTrue(dealer.poll(30000), "no ack within 30 s after a broken list")
        self.assertEqual(decode_ack(dealer.recv())["status"], "ACCEPTED")

    def test_the_hl7_adapter_delivers_through_curve_with_its_keys(self):
        self.daemon.settings.update(adapter_settings(self.workdir),
                                    **{"hl7.provider": "RXC_PAS=RXC"})
        self.daemon.write_config()
        adapter = Adapter(self.daemon, HL7).start()
        try:
            self.assertIn("with CURVE", adapter.log_text())
            mllp = MllpClient(self.daemon.settings["hl7.listen"])
            mllp.send(adt("A01", "MSG1", nhs_number(1), "V1"))
            self.assertIn("MSA|AA|MSG1", mllp.ack())
            mllp.close()
            wait_for(lambda: self.events_stored() == 1, timeout=30, what="the event stored")
        finally:
            self.assertEqual(adapter.stop(), 0, adapter.log_text())
            self.assertIsNone(adapter.sanitizer_report(), adapter.log_text())
        self.assertNotIn("zap: refused", self.daemon.log_text())


@unittest.skipUnless(HAS_CURVE, "libzmq without CURVE")
class CurveStartUp(unittest.TestCase):
    """Key files that are wrong stop the daemon at start, naming them."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cd-")
        self.keys = os.path.join(self.workdir, "keys")
        keygen(f"{self.keys}/server")
        keygen(f"{self.keys}/client")
        self.allow = os.path.join(self.workdir, "allow")
        shutil.copy(f"{self.keys}/client.pub", self.allow)

    def tearDown(self):
        shutil.rmtree(self.workdir, ignore_errors=True)

    def start_fails(self, **settings):
        settings = {"curve.server_key_file": f"{self.keys}/server.key",
                    "curve.ingest_allow": self.allow, "curve.subscribe_allow": self.allow,
                    **settings}
        daemon = Daemon(self.workdir, **settings)
        proc = subprocess.run([DAEMON, "--config", daemon.config], capture_output=True,
                              text=True, timeout=60)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertFalse(os.path.exists(f"{self.workdir}/store"), "it went on to the store")
        return proc.stderr

    def test_a_server_key_others_can_read_is_refused(self):
        os.chmod(f"{self.keys}/server.key", 0o644)
        err = self.start_fails()
        self.assertIn("server.key: mode 0644: a secret key must be readable by its owner only",
                      err)

    @unittest.skipUnless(os.geteuid() == 0, "needs root to give the key away")
    def test_a_group_readable_server_key_is_refused_unless_root_owns_it(self):
        os.chmod(f"{self.keys}/server.key", 0o640)
        os.chown(f"{self.keys}/server.key", pwd.getpwnam("nobody").pw_uid, -1)
        err = self.start_fails()
        self.assertIn("or by root and a group (chmod 640, owned by root)", err)

    def test_a_secret_key_in_an_allow_list_is_refused(self):
        with open(self.allow, "a") as f:
            f.write(open(f"{self.keys}/client.key").read())
        err = self.start_fails()
        self.assertIn("[curve] ingest_allow", err)
        self.assertIn("a secret key: an allow-list takes public keys only", err)
        secret = read_key_file(f"{self.keys}/client.key")["secret"]
        self.assertNotIn(secret, err)

    def test_curve_without_both_allow_lists_is_refused(self):
        err = self.start_fails(**{"curve.subscribe_allow": ""})
        self.assertIn("ingest_allow and subscribe_allow must each name an allow-list", err)

    def test_a_public_key_file_as_the_server_key_is_refused(self):
        public = f"{self.keys}/public-only"
        shutil.copy(f"{self.keys}/server.pub", public)
        os.chmod(public, 0o600)
        err = self.start_fails(**{"curve.server_key_file": public})
        self.assertIn("no secret-key line", err)

    def test_a_client_with_half_its_keys_is_refused(self):
        proc = subprocess.run([CTL, "--set", f"curve.client_key_file={self.keys}/client.key",
                               "send"], input="", capture_output=True, text=True)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("client_key_file and server_public_key_file go together", proc.stderr)


class Keygen(unittest.TestCase):

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cd-")

    def tearDown(self):
        shutil.rmtree(self.workdir, ignore_errors=True)

    def test_keygen_writes_a_secret_0600_and_a_public_file_in_a_new_0700_directory(self):
        name = os.path.join(self.workdir, "curve", "hl7-rxc")
        proc = subprocess.run([CTL, "keygen", name], capture_output=True, text=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        mode = lambda p: os.stat(p).st_mode & 0o777
        self.assertEqual(mode(os.path.dirname(name)), 0o700)
        self.assertEqual(mode(name + ".key"), 0o600)
        self.assertEqual(mode(name + ".pub"), 0o644)
        pair, public = read_key_file(name + ".key"), read_key_file(name + ".pub")
        self.assertEqual(set(public), {"public"})
        self.assertEqual(pair["public"], public["public"])
        self.assertEqual(len(pair["secret"]), 40)
        self.assertEqual(proc.stdout.strip(), f"public-key = {pair['public']}")
        if HAS_CURVE:  # the pair is a real CURVE pair
            self.assertEqual(zmq.curve_public(pair["secret"].encode()).decode(),
                             pair["public"])
        # Never over an existing key.
        again = subprocess.run([CTL, "keygen", name], capture_output=True, text=True)
        self.assertEqual(again.returncode, 1)
        self.assertIn("File exists", again.stderr)
        self.assertEqual(read_key_file(name + ".key"), pair)

    def test_the_pseudonym_keygen_makes_its_directory_0700_too(self):
        path = os.path.join(self.workdir, "keys", "pseudonym.key")
        subprocess.run([HL7, "keygen", path], check=True, capture_output=True)
        self.assertEqual(os.stat(os.path.dirname(path)).st_mode & 0o777, 0o700)
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)


class PlainEndpoints(DaemonTestCase):

    settings = {"publish.endpoint": f"tcp://0.0.0.0:{free_port()}"}

    def test_a_plain_endpoint_other_hosts_can_reach_is_warned_about_and_loopback_is_not(self):
        log = self.daemon.log_text()
        self.assertIn(f"{self.daemon.settings['publish.endpoint']} is reachable from other "
                      "hosts and CURVE is off", log)
        self.assertIn("anyone who reaches it can read every update", log)
        self.assertEqual(log.count("is reachable from other hosts"), 1, log)


class FileModes(DaemonTestCase):

    def test_the_store_is_the_daemons_alone(self):
        store = self.daemon.settings["store.path"]
        self.assertEqual(os.stat(store).st_mode & 0o777, 0o700)
        for name in os.listdir(store):
            self.assertEqual(os.stat(os.path.join(store, name)).st_mode & 0o777, 0o600, name)


@unittest.skipUnless(os.geteuid() == 0, "needs root")
class Root(unittest.TestCase):
    """Started as root, commissiond refuses, or switches to [daemon] user."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cd-")

    def tearDown(self):
        shutil.rmtree(self.workdir, ignore_errors=True)

    def test_root_without_a_user_is_refused_before_anything_is_opened(self):
        daemon = Daemon(self.workdir, **{"daemon.allow_root": "no"})
        proc = subprocess.run([DAEMON, "--config", daemon.config], capture_output=True,
                              text=True, timeout=60)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("refusing to run as root: set [daemon] user = ACCOUNT", proc.stderr)
        self.assertFalse(os.path.exists(f"{self.workdir}/store"))

    def test_with_a_user_it_switches_for_good_and_serves(self):
        nobody = pwd.getpwnam("nobody")
        # The switched daemon makes its store and sockets here.
        os.chown(self.workdir, nobody.pw_uid, nobody.pw_gid)
        daemon = Daemon(self.workdir, **{"daemon.user": "nobody", "daemon.allow_root": "no"})
        try:
            daemon.start()
            self.assertIn("running as nobody (uid 65534", daemon.log_text())
            with open(f"/proc/{daemon.proc.pid}/status") as f:
                status = dict(line.split(":", 1) for line in f if ":" in line)
            self.assertEqual(status["Uid"].split(), [str(nobody.pw_uid)] * 4)
            self.assertEqual(status["Gid"].split(), [str(nobody.pw_gid)] * 4)
            self.assertNotIn("0", status["Groups"].split())
            store = f"{self.workdir}/store"
            self.assertEqual(os.stat(store).st_uid, nobody.pw_uid)
            self.assertEqual(os.stat(store).st_mode & 0o777, 0o700)
            acks, proc = daemon.send([{
                "source": "capacity", "eventId": "R1", "occurredAt": "1778371200000",
                "capacityReported": {"organisation": "RXC01",
                                     "sector": "SECTOR_GENERAL_AND_ACUTE",
                                     "bedsAvailable": "400", "bedsOccupied": "300",
                                     "asOf": "1778371200000"}}])
            self.assertEqual([a["status"] for a in acks], ["ACK_STATUS_ACCEPTED"], proc.stderr)
        finally:
            rc = daemon.stop()
        self.assertEqual(rc, 0, daemon.log_text())
        self.assertIsNone(daemon.sanitizer_report(), daemon.log_text())


if __name__ == "__main__":
    unittest.main()
