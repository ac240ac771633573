"""commissionctl backup: a copy reported written is on disk, not only in
the page cache (seen with strace: the copy and its directory fsynced)."""
import os
import re
import shutil
import subprocess
import unittest

from harness import CTL, DaemonTestCase, event_mix


@unittest.skipUnless(shutil.which("strace"), "needs strace")
class DurableBackup(DaemonTestCase):

    def test_the_copy_and_its_directory_are_fsynced_before_backup_answers(self):
        self.daemon.send(event_mix(20))
        backup = os.path.join(self.workdir, "backup")
        proc = subprocess.run(["strace", "-f", "-y", "-e", "trace=fsync,fdatasync", CTL,
                               "--config", self.daemon.config, "backup", backup],
                              capture_output=True, text=True, timeout=120)
        self.assertIn("backup of", proc.stderr)
        synced = set(re.findall(r"f(?:data)?sync\(\d+<([^>]*)>\)\s+= 0", proc.stderr))
        self.assertIn(f"{backup}/data.mdb", synced, proc.stderr)
        self.assertIn(backup, synced, proc.stderr)


if __name__ == "__main__":
    unittest.main()
