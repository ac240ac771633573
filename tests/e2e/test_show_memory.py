"""commissionctl show when memory runs out (fault shims under LD_PRELOAD):
a failure that is no fault of the user's nor of the store's says so, and
exits as commissionctl(8) says for it, never as a usage error."""
import os
import subprocess
import unittest

from harness import CTL, DaemonTestCase, capacity, preload_env


class ShowOutOfMemory(DaemonTestCase):

    def show(self, shim, variable, area="capacity"):
        trigger = os.path.join(self.workdir, f"{shim}-trigger")
        open(trigger, "w").close()
        env = preload_env(self.workdir, shim, **{variable: trigger})
        proc = subprocess.run([CTL, "--config", self.daemon.config, "show", area],
                              capture_output=True, text=True, timeout=120,
                              env=dict(os.environ, **env))
        self.assertFalse(os.path.exists(trigger), "the shim was not reached")
        return proc

    def test_figures_that_could_not_be_worked_out_are_not_a_usage_error(self):
        """picture_figures gives NULL for want of memory too: show said "no
        such area" of an area it knows, printed its usage and exited 2."""
        acks, proc = self.daemon.send([capacity(1)])
        self.assertEqual([a["status"] for a in acks], ["ACK_STATUS_ACCEPTED"], proc.stderr)
        proc = self.show("fail_json", "FAIL_JSON_FILE")
        self.assertEqual(proc.stdout, "")
        self.assertNotIn("no such area", proc.stderr)
        self.assertNotIn("usage:", proc.stderr)
        self.assertIn("commissionctl: show: out of memory working out the capacity figures",
                      proc.stderr)
        self.assertEqual(proc.returncode, 1, proc.stderr)

    def test_a_history_short_of_memory_is_not_said_not_to_decode(self):
        """A history the picture could not take for want of memory was said
        not to decode, left out of the figures printed, and show exited 4
        sending the operator to commissionctl verify, which finds nothing."""
        acks, proc = self.daemon.send([capacity(1)])
        self.assertEqual([a["status"] for a in acks], ["ACK_STATUS_ACCEPTED"], proc.stderr)
        proc = self.show("fail_history", "FAIL_HISTORY_FILE")
        self.assertEqual(proc.stdout, "")
        self.assertNotIn("does not decode", proc.stderr)
        self.assertIn("commissionctl: show: out of memory loading the stored histories",
                      proc.stderr)
        self.assertEqual(proc.returncode, 1, proc.stderr)


if __name__ == "__main__":
    unittest.main()
