"""The service side: every unit passes systemd-analyze verify (no running
systemd needed) with its hardening in place, and SIGHUP reloads what can
change live while a broken file is refused and the process serves on."""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import BUILD, DaemonTestCase, HL7, Adapter, adapter_settings, event_mix, wait_for

UNITS = os.path.join(os.path.dirname(__file__), "..", "..", "systemd")
REQUIRED = ["Type=notify", "WatchdogSec=", "ExecReload=/bin/kill -HUP $MAINPID",
            "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
            "CapabilityBoundingSet=\n", "SystemCallFilter=@system-service",
            "MemoryDenyWriteExecute=yes", "RestrictAddressFamilies=", "User=commissiond",
            "StateDirectory=commissiond", "ConfigurationDirectory=commissiond"]


class Units(unittest.TestCase):

    def test_every_unit_passes_systemd_analyze_verify_with_its_hardening(self):
        units = sorted(f for f in os.listdir(UNITS) if f.endswith(".service"))
        self.assertEqual(units, ["commissiond-hl7.service", "commissiond-spool.service",
                                 "commissiond.service"])
        workdir = tempfile.mkdtemp(prefix="cd-units-")
        try:
            for unit in units:
                with open(os.path.join(UNITS, unit)) as f:
                    text = f.read()
                for directive in REQUIRED:
                    self.assertIn(directive, text, f"{unit} lacks {directive.strip()}")
                # verify checks that ExecStart exists: point it at the build.
                with open(os.path.join(workdir, unit), "w") as f:
                    f.write(text.replace("/usr/sbin/", os.path.join(BUILD, "bin") + "/"))
            # The man: links are checked where the pages are installed
            # (test_install.py).
            proc = subprocess.run(["systemd-analyze", "verify", "--man=no", *units], cwd=workdir,
                                  capture_output=True, text=True)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertEqual(proc.stderr.strip(), "", proc.stderr)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


class Reload(DaemonTestCase):

    def hup_and_wait(self, proc, log_text, words):
        before = log_text().count(words)
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: log_text().count(words) > before, timeout=10, what=words)

    def test_sighup_applies_a_new_log_level_and_refuses_a_broken_file(self):
        self.daemon.settings["log.level"] = "debug"
        self.daemon.write_config()
        self.hup_and_wait(self.daemon.proc, self.daemon.log_text,
                          'reload: log.level changed from "info" to "debug"')
        with open(self.daemon.config, "a") as f:
            f.write("[store]\nsync = sometimes\n")
        self.hup_and_wait(self.daemon.proc, self.daemon.log_text,
                          "keeping the running configuration")
        self.assertIn("sync: \"sometimes\" is not full, nometa or none", self.daemon.log_text())
        # It serves on (commissionctl reads the same file: mend it first).
        self.daemon.write_config()
        acks, proc = self.daemon.send(event_mix(3))
        self.assertEqual(proc.returncode, 0, proc.stderr)

    def test_an_adapter_reloads_on_sighup_instead_of_dying(self):
        self.daemon.settings.update(adapter_settings(self.workdir))
        self.daemon.write_config()
        adapter = Adapter(self.daemon, HL7).start()
        try:
            self.hup_and_wait(adapter.proc, adapter.log_text, "reload: log level")
            self.assertIsNone(adapter.proc.poll())
        finally:
            self.assertEqual(adapter.stop(), 0, adapter.log_text())
