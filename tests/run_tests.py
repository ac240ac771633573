#!/usr/bin/python3
"""Run every test suite of commissiond and print one summary line.

Unit suites are the cmocka binaries build/test/test_*; end-to-end suites are
tests/e2e/test_*.py (unittest), which start the real daemon themselves. The
last line is "N passed, N failed"; the exit status is non-zero on any failure.
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run_unit(binary):
    """Run one cmocka binary; return (passed, failed)."""
    env = dict(os.environ, CMOCKA_MESSAGE_OUTPUT="STDOUT")
    proc = subprocess.run([binary], capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
    out = proc.stdout + proc.stderr
    passed = re.search(r"\[  PASSED  \] (\d+) test", out)
    failed = re.search(r"\[  FAILED  \] (\d+) test", out)
    n_pass = int(passed.group(1)) if passed else 0
    n_fail = int(failed.group(1)) if failed else 0
    sanitizer = "Sanitizer" in out or "runtime error:" in out
    if proc.returncode != 0 or sanitizer or (n_pass + n_fail) == 0:
        if n_fail == 0:
            n_fail = 1  # crashed, or a sanitizer spoke: the suite failed
        sys.stdout.write(out)
    return n_pass, n_fail


class CountingResult(unittest.TextTestResult):
    pass


def run_e2e(pattern):
    loader = unittest.TestLoader()
    suite = loader.discover(os.path.join(HERE, "e2e"), pattern=pattern, top_level_dir=os.path.join(HERE, "e2e"))
    runner = unittest.TextTestRunner(verbosity=2, stream=sys.stdout, resultclass=CountingResult)
    result = runner.run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    return result.testsRun - failed - len(result.skipped), failed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build")
    parser.add_argument("--only", choices=["unit", "e2e"], default=None)
    parser.add_argument("--pattern", default="test_*.py", help="e2e files to run")
    args = parser.parse_args()
    os.environ["COMMISSIOND_BUILD"] = os.path.abspath(os.path.join(ROOT, args.build))
    total_pass = total_fail = 0
    started = time.monotonic()
    if args.only in (None, "unit"):
        for binary in sorted(glob.glob(os.path.join(ROOT, args.build, "test", "test_*"))):
            p, f = run_unit(binary)
            print(f"unit {os.path.basename(binary)}: {p} passed, {f} failed", flush=True)
            total_pass += p
            total_fail += f
    if args.only in (None, "e2e"):
        p, f = run_e2e(args.pattern)
        print(f"e2e: {p} passed, {f} failed", flush=True)
        total_pass += p
        total_fail += f
    print(f"(all suites in {time.monotonic() - started:.0f} s)")
    print(f"{total_pass} passed, {total_fail} failed")
    return 1 if total_fail else 0


if __name__ == "__main__":
    sys.exit(main())
