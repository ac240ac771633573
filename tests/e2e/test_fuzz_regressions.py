"""The fuzz targets without libFuzzer: every seed of fuzz/corpus/ and every
input a fuzzer once broke the code with (fuzz/regressions/) goes through the
same target code, built with the sanitizers by the normal build, and must
pass: no crash, no sanitizer report, no broken invariant (docs/FUZZING.md)."""
import os
import subprocess
import unittest

from harness import BUILD

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
TARGETS = ["fuzz_envelope", "fuzz_hl7", "fuzz_csv", "fuzz_pbjson"]
FAULTS = ["Sanitizer", "runtime error:", "invariant broken", "fuzz:"]


def inputs_under(path):
    """Every file under path (as the replay driver walks it)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        found += [os.path.join(dirpath, f) for f in filenames if not f.startswith(".")]
    return found


class FuzzReplay(unittest.TestCase):

    def replay(self, target, kind):
        """Run target over fuzz/<kind>/<target>/; return how many inputs ran."""
        folder = os.path.join(ROOT, "fuzz", kind, target)
        files = inputs_under(folder)
        if not files:
            return 0
        binary = os.path.join(BUILD, "fuzz-replay", target)
        self.assertTrue(os.access(binary, os.X_OK), f"{binary} is not built (make)")
        proc = subprocess.run([binary, folder], capture_output=True, text=True, timeout=300,
                              env=dict(os.environ, ASAN_OPTIONS="detect_leaks=1"))
        out = proc.stdout + proc.stderr
        self.assertEqual(proc.returncode, 0, f"{target} on fuzz/{kind}/{target}:\n{out[-4000:]}")
        for fault in FAULTS:
            self.assertNotIn(fault, out, f"{target} on fuzz/{kind}/{target}:\n{out[-4000:]}")
        self.assertIn(f"fuzz-replay: {len(files)} inputs", out,
                      f"{target} did not run every file of fuzz/{kind}/{target}")
        return len(files)

    def test_every_seed_passes_its_target(self):
        for target in TARGETS:
            with self.subTest(target=target):
                self.assertGreater(self.replay(target, "corpus"), 0,
                                   f"fuzz/corpus/{target} has no seeds")

    def test_every_regression_input_passes_its_target(self):
        for target in TARGETS:
            with self.subTest(target=target):
                self.replay(target, "regressions")

    def test_the_replay_driver_fails_on_a_file_it_cannot_read(self):
        binary = os.path.join(BUILD, "fuzz-replay", "fuzz_csv")
        proc = subprocess.run([binary, os.path.join(ROOT, "fuzz", "no-such-input")],
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("no-such-input", proc.stderr)


if __name__ == "__main__":
    unittest.main()
