"""What both adapters share (adapters/common: adapter.c, client.c), met
as an operator meets it: the --set options apply over the file whatever
their place on the command line, at start and again at SIGHUP."""
import os
import shutil
import signal
import subprocess
import tempfile
import unittest

from harness import HL7, SANITIZER_MARKS, SPOOL, free_port, wait_for


class SetOptionsOverTheFile(unittest.TestCase):
    """`--set` is "one setting after the file" (--help, the man pages)."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cd-adapter-")
        self.conf = os.path.join(self.workdir, "c.conf")
        self.key = os.path.join(self.workdir, "pseudonym.key")
        subprocess.run([HL7, "keygen", self.key], check=True, capture_output=True)
        with open(self.conf, "w") as f:
            f.write(f"[log]\nlevel = info\n"
                    f"[ingest]\nendpoint = ipc://{self.workdir}/ingest\n"
                    f"[pseudonym]\nkey_file = {self.key}\n"
                    f"[hl7]\nlisten = 127.0.0.1:{free_port()}\n"
                    f"outbox = {self.workdir}/hl7-outbox\n"
                    f"[spool]\ndirectory = {self.workdir}/spool\n"
                    f"outbox = {self.workdir}/spool-outbox\n")
        self.proc = None
        self.log = os.path.join(self.workdir, "adapter.log")

    def tearDown(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def test_a_set_before_the_config_option_still_wins_over_the_file(self):
        for program in (HL7, SPOOL):
            out = subprocess.run([program, "--set", "log.level=debug", "--config", self.conf,
                                  "--print-config"], capture_output=True, text=True,
                                 timeout=60)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertTrue("\nlevel = debug\n" in out.stdout,
                            f"{os.path.basename(program)}: the file's level won")

    def test_sighup_applies_the_set_options_over_the_file_again(self):
        with open(self.log, "w") as logf:
            self.proc = subprocess.Popen([HL7, "--config", self.conf, "--set",
                                          "log.level=debug"], stdout=logf, stderr=logf)
        wait_for(lambda: "ready:" in self.log_text(), what="the ready line")
        self.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload: log level" in self.log_text(), what="the reload line")
        # The file says info; the --set option, applied after it, debug.
        self.assertIn("reload: log level debug", self.log_text())
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(timeout=30), 0, self.log_text())
        self.assertFalse(any(m in self.log_text() for m in SANITIZER_MARKS), self.log_text())


if __name__ == "__main__":
    unittest.main()
