"""docs/SECURITY.md's CURVE set-up, followed as written: its shell block
run as root (paths under a work directory, the accounts by the test's own
ids), then the daemon and the HL7 adapter under their units' sandbox,
each as its own user, deliver through CURVE with the keys it made."""
import os
import re
import subprocess
import unittest

import zmq

from harness import CTL, DAEMON, HL7, adt, mllp_answer, nhs_number, wait_for
from test_units import CONF_GID, DAEMON_ID, HL7_ID, SandboxedServices

HERE = os.path.dirname(os.path.abspath(__file__))
SECURITY = os.path.join(HERE, "..", "..", "docs", "SECURITY.md")
DOC_DIR = "/etc/commissiond/curve"


def setup_block():
    """The sh block that follows "Setting it up:" in SECURITY.md."""
    with open(SECURITY) as f:
        text = f.read()
    m = re.search(r"Setting it up:\s*```sh\n(.*?)```", text, re.S)
    assert m, "SECURITY.md has no set-up block"
    return m.group(1)


def owner_ids(spec):
    """chown's USER[:GROUP] with the accounts' names as the test's ids: the
    daemon's user and the services' group (commissiond.sysusers)."""
    user, _, group = spec.partition(":")
    uid = {"root": 0, "commissiond": DAEMON_ID[0]}[user]
    gid = {"root": 0, "commissiond": CONF_GID}[group] if group else None
    return f"{uid}:{gid}" if gid is not None else str(uid)


def as_here(block, curve_dir):
    lines = []
    for line in block.splitlines():
        line = line.replace(DOC_DIR, curve_dir).replace("commissionctl ", CTL + " ", 1)
        line = re.sub(r"\bchown (-R )?(\S+)",
                      lambda m: f"chown {m.group(1) or ''}{owner_ids(m.group(2))}", line)
        lines.append(line)
    return "\n".join(lines) + "\n"


@unittest.skipUnless(zmq.has("curve"), "libzmq without CURVE")
class SecuritySetup(SandboxedServices):

    def test_the_documented_curve_setup_serves_the_daemon_and_the_adapters(self):
        curve = os.path.join(self.workdir, "curve")
        proc = subprocess.run(["/bin/sh", "-e", "-c", as_here(setup_block(), curve)],
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.daemon.settings.update({
            "curve.server_key_file": f"{curve}/server.key",
            "curve.ingest_allow": f"{curve}/ingest.allow",
            "curve.subscribe_allow": f"{curve}/subscribe.allow",
            "curve.client_key_file": f"{curve}/adapters.key",
            "curve.server_public_key_file": f"{curve}/server.pub",
        })
        self.daemon.write_config()
        daemon = self.start("commissiond.service", DAEMON_ID, DAEMON, [self.dirs["daemon-state"]])
        hl7 = self.start("commissiond-hl7.service", HL7_ID, HL7, [self.dirs["hl7-state"]])
        answer = mllp_answer(self.daemon.settings["hl7.listen"],
                             adt("A01", "MSG1", nhs_number(1), "V1", facility="RXC_PAS"))
        self.assertEqual(answer["MSA"][1], "AA")
        wait_for(lambda: self.daemon.status()["events"] >= 1, timeout=60,
                 what="the ADT event through CURVE")
        self.assertIn("CURVE on the ingest", daemon.log_text())
        # The reload reads the lists again as the daemon's own user.
        daemon.reload()
        self.assertIn("ingest_allow", daemon.log_text().split("reload: ", 1)[1])
        self.assertNotIn("refused", hl7.log_text())


if __name__ == "__main__":
    unittest.main()
