"""The units' hardening: each declares it, systemd-analyze security scores
it no worse than docs/OPERATIONS.md says, and the programs live with it:
commissiond, commissiond-hl7 and commissiond-spool run, take input,
reload and stop cleanly under what their units declare (unit_sandbox.py:
the system call filter, address families, memory and namespace rules,
no capabilities, their own users and groups, a read-only root, a /proc
of their own, the umask), as far as that can be done without systemd."""
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import unittest
import urllib.request

from harness import (HL7, SPOOL, DAEMON, Daemon, SANITIZER_MARKS,
                     adt, event_mix, free_port, mllp_answer, nhs_number, wait_for)
from unit_sandbox import allowed_syscalls, unit_settings

HERE = os.path.dirname(os.path.abspath(__file__))
UNITS = os.path.join(HERE, "..", "..", "systemd")
SANDBOX = os.path.join(HERE, "unit_sandbox.py")
SPOOL_DATA = os.path.join(HERE, "..", "data", "spool")

# The exposure systemd-analyze security (systemd 252) gives each unit, as
# docs/OPERATIONS.md reports it: a higher one is a regression.
MAX_EXPOSURE = {"commissiond.service": 1.4, "commissiond-hl7.service": 1.4,
                "commissiond-spool.service": 1.4}

HARDENING = ["NoNewPrivileges=yes", "CapabilityBoundingSet=", "AmbientCapabilities=",
             "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "PrivateDevices=yes",
             "DevicePolicy=closed", "PrivateMounts=yes", "ProtectKernelTunables=yes",
             "ProtectKernelModules=yes", "ProtectKernelLogs=yes", "ProtectControlGroups=yes",
             "ProtectClock=yes", "ProtectHostname=yes", "ProtectProc=invisible", "ProcSubset=pid",
             "RestrictNamespaces=yes", "RestrictRealtime=yes", "RestrictSUIDSGID=yes",
             "RemoveIPC=yes", "LockPersonality=yes", "MemoryDenyWriteExecute=yes",
             "SystemCallFilter=@system-service", "SystemCallFilter=~@privileged @resources",
             "SystemCallArchitectures=native", "UMask=0077", "Type=notify", "WatchdogSec=30"]


def unit_path(name):
    return os.path.join(UNITS, name)


def exposure(path):
    proc = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", path],
                          capture_output=True, text=True, timeout=120)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout)
    assert m, f"systemd-analyze security {path}: rc={proc.returncode}\n{proc.stdout}{proc.stderr}"
    return float(m.group(1))


class Declared(unittest.TestCase):

    def test_every_unit_declares_the_whole_hardening(self):
        for unit in MAX_EXPOSURE:
            settings = unit_settings(unit_path(unit))
            lines = {f"{k}={v}" for k, values in settings.items() for v in values}
            self.assertEqual([d for d in HARDENING if d not in lines], [], unit)
            name = unit[:-len(".service")]
            self.assertEqual((settings["User"], settings["Group"]), ([name], [name]))
            self.assertEqual(settings["StateDirectory"], [name])
            self.assertEqual(settings["ConfigurationDirectory"], ["commissiond"])
            # No network restriction by address: operators choose them.
            self.assertNotIn("IPAddressDeny", settings)
            self.assertNotIn("PrivateNetwork", settings)

    def test_security_md_names_each_units_user_and_address_families(self):
        with open(os.path.join(HERE, "..", "..", "docs", "SECURITY.md")) as f:
            section = f.read().split("### systemd hardening", 1)[1].split("\n## ", 1)[0]
        text = " ".join(section.split())
        for unit in MAX_EXPOSURE:
            settings = unit_settings(unit_path(unit))
            self.assertTrue(f"`{settings['User'][0]}`" in text, f"{unit}: its User=")
            for family in settings["RestrictAddressFamilies"][0].split():
                self.assertTrue(family in text, f"{unit}: {family}")

    def test_units_that_take_connections_have_a_descriptor_for_each(self):
        # A connection is a descriptor: the open files limit must leave room
        # for the largest max_connections config_check allows, past
        # systemd's soft default of 1024.
        for unit, key in (("commissiond.service", "http.max_connections"),
                          ("commissiond-hl7.service", "hl7.max_connections")):
            proc = subprocess.run([DAEMON, "--set", f"{key}=99999999", "--print-config"],
                                  capture_output=True, text=True, timeout=30)
            m = re.search(r"is more than (\d+), the most allowed", proc.stderr)
            self.assertIsNotNone(m, proc.stderr)
            limit = unit_settings(unit_path(unit)).get("LimitNOFILE", ["1024"])
            self.assertGreaterEqual(int(limit[-1]), int(m.group(1)), unit)

    def test_the_filter_keeps_out_what_the_units_never_need(self):
        allowed = allowed_syscalls(unit_settings(unit_path("commissiond.service")))
        for call in ("setuid", "chown", "setrlimit", "setpriority", "sched_setaffinity",
                     "mount", "ptrace", "reboot", "init_module"):
            self.assertNotIn(call, allowed)
        for call in ("mmap", "msync", "fdatasync", "flock", "eventfd2", "epoll_wait",
                     "sched_setscheduler", "execve"):
            self.assertIn(call, allowed)


@unittest.skipUnless(shutil.which("systemd-analyze"), "systemd-analyze is missing")
class Exposure(unittest.TestCase):

    def test_no_unit_scores_worse_than_documented(self):
        for unit, most in MAX_EXPOSURE.items():
            with self.subTest(unit=unit):
                self.assertLessEqual(exposure(unit_path(unit)), most)
        with open(os.path.join(HERE, "..", "..", "docs", "OPERATIONS.md")) as f:
            doc = f.read()
        for unit, most in MAX_EXPOSURE.items():
            self.assertTrue(f"| {unit} | {most} OK |" in doc,
                            f"docs/OPERATIONS.md, Hardening: {unit} is not {most}")

    def test_the_score_sees_a_directive_go(self):
        workdir = tempfile.mkdtemp(prefix="cd-exposure-")
        try:
            with open(unit_path("commissiond.service")) as f:
                text = f.read()
            weaker = os.path.join(workdir, "commissiond.service")
            with open(weaker, "w") as f:
                f.write(text.replace("ProtectSystem=strict\n", "").replace("PrivateDevices=yes\n", ""))
            self.assertGreater(exposure(weaker), MAX_EXPOSURE["commissiond.service"])
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


# ----------------------------------------------------------- the sandbox

# Ids of the test's own: the daemon in the configuration's group, the
# adapters in it too and in the key's group, as commissiond.sysusers has it.
CONF_GID, KEY_GID = 64100, 64200
DAEMON_ID = (64000, CONF_GID, [])
HL7_ID = (64001, 64001, [CONF_GID, KEY_GID])
SPOOL_ID = (64002, 64002, [CONF_GID, KEY_GID])


def sandbox_command(unit, ident, writable, command):
    uid, gid, groups = ident
    return ["unshare", "--mount", "--propagation", "private", sys.executable, SANDBOX,
            "--unit", unit_path(unit), "--uid", str(uid), "--gid", str(gid),
            "--groups", ",".join(map(str, groups)),
            *[f"--writable={w}" for w in writable], "--", *command]


def run_sandboxed(unit, ident, command, writable=()):
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    return subprocess.run(sandbox_command(unit, ident, writable, command), capture_output=True,
                          text=True, timeout=60, env=env)


def sandbox_unavailable():
    if os.geteuid() != 0:
        return "the sandbox makes a mount namespace and changes user: needs root"
    if not shutil.which("unshare"):
        return "unshare is missing"
    proc = run_sandboxed("commissiond.service", DAEMON_ID, ["/bin/true"])
    if proc.returncode != 0 and "unshare" in proc.stderr:
        return f"no mount namespace here: {proc.stderr.strip()}"
    # The services' users must reach the build (not so under a private home).
    proc = run_sandboxed("commissiond.service", DAEMON_ID, [DAEMON, "--help"])
    if proc.returncode != 0 and "Permission denied" in proc.stderr:
        return f"other users cannot run {DAEMON}: {proc.stderr.strip().splitlines()[-1]}"
    return None


class Service:
    """One program under its unit's sandbox, logging to a file."""

    def __init__(self, unit, ident, command, writable, log):
        self.unit, self.log = unit, log
        logf = open(log, "a")
        # LeakSanitizer stops the world with ptrace, which no unit allows.
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
        self.proc = subprocess.Popen(sandbox_command(unit, ident, writable, command),
                                     stdout=logf, stderr=logf, env=env)
        logf.close()

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def wait_log(self, words, count=1):
        def seen():
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.unit} exited, status {self.proc.returncode} "
                                     f"(-31: a system call its filter forbids):\n{self.log_text()}")
            return self.log_text().count(words) >= count
        wait_for(seen, timeout=60, what=f"{self.unit}: {words}")

    def reload(self):
        # commissiond logs each changed setting or "the configuration is
        # unchanged"; the adapters log their level: every one says "reload: ".
        before = self.log_text().count("reload: ")
        self.proc.send_signal(signal.SIGHUP)
        self.wait_log("reload: ", before + 1)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=60)
        report = next((m for m in SANITIZER_MARKS if m in self.log_text()), None)
        return rc, report


class SandboxedServices(unittest.TestCase):
    """The services' directories, keys and configuration, and starting a
    program under its unit (the tests are in subclasses)."""

    @classmethod
    def setUpClass(cls):
        reason = sandbox_unavailable()
        if reason:
            raise unittest.SkipTest(reason)

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cd-units-")
        os.chmod(self.workdir, 0o755)  # the services' users pass through
        self.dirs = {}
        for name, (uid, gid, _), mode in (("daemon-state", DAEMON_ID, 0o700),
                                         ("hl7-state", HL7_ID, 0o700),
                                         ("spool-state", SPOOL_ID, 0o700),
                                         ("spool", SPOOL_ID, 0o2770)):
            path = os.path.join(self.workdir, name)
            os.mkdir(path)
            os.chown(path, uid, gid)
            os.chmod(path, mode)
            self.dirs[name] = path
        key = os.path.join(self.workdir, "pseudonym.key")
        subprocess.run([HL7, "keygen", key], check=True, capture_output=True)
        os.chown(key, 0, KEY_GID)
        os.chmod(key, 0o640)
        # tcp endpoints, as the installed configuration has them.
        self.daemon = Daemon(self.workdir, **{
            "ingest.endpoint": f"tcp://127.0.0.1:{free_port()}",
            "publish.endpoint": f"tcp://127.0.0.1:{free_port()}",
            "replay.endpoint": f"tcp://127.0.0.1:{free_port()}",
            "store.path": os.path.join(self.dirs["daemon-state"], "store"),
            "pseudonym.key_file": key,
            "hl7.listen": f"127.0.0.1:{free_port()}",
            "hl7.outbox": os.path.join(self.dirs["hl7-state"], "outbox"),
            "hl7.provider": "RXC_PAS=RXC",
            "spool.directory": self.dirs["spool"],
            "spool.outbox": os.path.join(self.dirs["spool-state"], "outbox"),
            "spool.poll_ms": "100",
            "adapter.resend_ms": "500",
        })
        os.chown(self.daemon.config, 0, CONF_GID)
        os.chmod(self.daemon.config, 0o640)
        self.services = []

    def tearDown(self):
        # Every service is stopped before any is judged: one that failed
        # must not leave the others running as the sandbox's uids, where
        # the next test's process count would see them.
        try:
            stopped = [(service, *service.stop()) for service in reversed(self.services)]
            for service, rc, report in stopped:
                self.assertIsNone(report, service.log_text())
                self.assertEqual(rc, 0, f"{service.unit}:\n{service.log_text()}")
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def start(self, unit, ident, program, writable):
        service = Service(unit, ident, [program, "--config", self.daemon.config], writable,
                          os.path.join(self.workdir, unit + ".log"))
        self.services.append(service)
        service.wait_log("ready:")
        return service


class Sandboxed(SandboxedServices):

    def test_the_sandbox_enforces_what_the_unit_declares(self):
        unit = "commissiond.service"
        py = sys.executable
        # A system call outside the filter kills (SIGSYS), as under systemd.
        proc = run_sandboxed(unit, DAEMON_ID, [py, "-c", "import os; os.setpriority(0, 0, 5)"])
        self.assertEqual(proc.returncode, -signal.SIGSYS, proc.stderr)
        # An address family the unit does not list is refused.
        proc = run_sandboxed("commissiond-hl7.service", HL7_ID, [
            py, "-c", "import socket; socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)"])
        self.assertIn("Address family not supported", proc.stderr)
        # Read-only but for the state directory; the umask; no capabilities;
        # its own processes only.
        state = self.dirs["daemon-state"]
        proc = run_sandboxed(unit, DAEMON_ID, [py, "-c", f"""
import os
for path in ("/etc/commissiond-test", "{self.workdir}/x"):
    try:
        open(path, "w")
        print("wrote", path)
    except OSError as e:
        print("refused", path, e.strerror)
open("{state}/x", "w").close()
print("mode", oct(os.stat("{state}/x").st_mode & 0o777))
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print("caps", status["CapEff"].strip(), status["CapBnd"].strip(), status["NoNewPrivs"].strip())
print("pids", len([p for p in os.listdir("/proc") if p.isdigit()]))
"""], writable=[state])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("refused /etc/commissiond-test Read-only file system", proc.stdout)
        self.assertIn(f"refused {self.workdir}/x Read-only file system", proc.stdout)
        self.assertIn("mode 0o600", proc.stdout)
        self.assertIn("caps 0000000000000000 0000000000000000 1", proc.stdout)
        self.assertIn("pids 1\n", proc.stdout)
        # The daemon's user reads the configuration, never the key.
        proc = run_sandboxed(unit, DAEMON_ID, ["/bin/cat", self.daemon.config])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        proc = run_sandboxed(unit, DAEMON_ID, ["/bin/cat", self.daemon.settings["pseudonym.key_file"]])
        self.assertIn("Permission denied", proc.stderr)

    def test_the_daemon_serves_reloads_and_stops_under_its_unit(self):
        daemon = self.start("commissiond.service", DAEMON_ID, DAEMON, [self.dirs["daemon-state"]])
        acks, proc = self.daemon.send(event_mix(20))
        self.assertEqual(proc.returncode, 0, proc.stderr + daemon.log_text())
        self.assertEqual({a["status"] for a in acks}, {"ACK_STATUS_ACCEPTED"})
        tail = self.daemon.ctl("tail", "--from", "1", "--count", "3", check=True, timeout=60)
        self.assertEqual(len(tail.stdout.splitlines()), 3)
        url = f"http://{self.daemon.settings['http.listen']}/readyz"
        with urllib.request.urlopen(url, timeout=30) as reply:
            self.assertTrue(json.load(reply)["ready"])
        daemon.reload()
        rc, report = daemon.stop()
        self.assertEqual((rc, report), (0, None), daemon.log_text())
        self.assertIn("stopped cleanly", daemon.log_text())
        # What it wrote, it wrote under UMask=0077.
        store = self.daemon.settings["store.path"]
        for name in os.listdir(store):
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(store, name)).st_mode) & 0o077, 0,
                             name)
        self.assertEqual(self.daemon.status()["events"], 20)

    def test_the_adapters_deliver_reload_and_stop_under_their_units(self):
        self.start("commissiond.service", DAEMON_ID, DAEMON, [self.dirs["daemon-state"]])
        hl7 = self.start("commissiond-hl7.service", HL7_ID, HL7, [self.dirs["hl7-state"]])
        spool = self.start("commissiond-spool.service", SPOOL_ID, SPOOL,
                           [self.dirs["spool-state"], self.dirs["spool"]])
        # An ADT message: answered AA once durable under the sandbox.
        answer = mllp_answer(self.daemon.settings["hl7.listen"],
                             adt("A01", "MSG1", nhs_number(1), "V1", facility="RXC_PAS"))
        self.assertEqual(answer["MSA"][1], "AA")
        # A council's extract: read through the group's setgid directory.
        name = "organisations_good.csv"
        target = os.path.join(self.dirs["spool"], name)
        shutil.copy(os.path.join(SPOOL_DATA, name), target + ".part")
        os.chmod(target + ".part", 0o640)
        os.rename(target + ".part", target)
        wait_for(lambda: os.path.exists(os.path.join(self.dirs["spool"], "done", name)),
                 timeout=60, what="done/" + name)
        # Both deliver to the daemon: the ADT event and the 8 organisations.
        wait_for(lambda: self.daemon.status()["events"] + self.daemon.status()["deadLetters"] >= 9,
                 timeout=60, what="9 events from the adapters")
        for service in (hl7, spool):
            service.reload()


if __name__ == "__main__":
    unittest.main()
