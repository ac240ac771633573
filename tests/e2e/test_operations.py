"""Configuration, signals, backup and a full store: the daemon as operators meet it."""
import json
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import unittest

from harness import CTL, DAEMON, Daemon, DaemonTestCase, event_mix, json_lines, wait_for




class Configuration(DaemonTestCase):

    def test_print_config_shows_every_setting_with_its_default(self):
        out = subprocess.run([DAEMON, "--print-config"], capture_output=True, text=True, check=True).stdout
        for section in ("[ingest]", "[publish]", "[replay]", "[store]", "[log]"):
            self.assertIn(section, out)
        for key in ("endpoint =", "batch_limit = 1024", "max_envelope_bytes = 1048576",
                    "path = var/store", "sync = full", "map_max =", "level = info"):
            self.assertIn(key, out)

    def test_print_config_shows_the_file_and_set_options_applied(self):
        out = subprocess.run([DAEMON, "--config", self.daemon.config, "--set", "ingest.batch_limit=7",
                              "--print-config"], capture_output=True, text=True, check=True).stdout
        self.assertIn("batch_limit = 7", out)
        self.assertIn(f"path = {self.workdir}/store", out)

    def test_a_bad_config_is_refused_with_the_line_and_key(self):
        bad = os.path.join(self.workdir, "bad.conf")
        with open(bad, "w") as f:
            f.write("[store]\nsync = sometimes\n")
        proc = subprocess.run([DAEMON, "--config", bad], capture_output=True, text=True)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("bad.conf:2: [store] sync: \"sometimes\" is not full, nometa or none", proc.stderr)
        with open(bad, "w") as f:
            f.write("[store]\npaht = /x\n")
        proc = subprocess.run([DAEMON, "--config", bad], capture_output=True, text=True)
        self.assertIn("[store] paht: no such setting", proc.stderr)
        proc = subprocess.run([DAEMON, "--config", "/nonexistent.conf"], capture_output=True, text=True)
        self.assertIn("/nonexistent.conf: cannot open", proc.stderr)


class Lifecycle(DaemonTestCase):

    def test_sigterm_stops_cleanly_and_a_restart_keeps_everything(self):
        self.daemon.send(event_mix(50))
        self.assertEqual(self.daemon.stop(), 0)
        self.assertIn("stopped cleanly", self.daemon.log_text())
        self.daemon.start()
        self.assertEqual(self.daemon.status()["events"], 50)
        acks, _ = self.daemon.send(event_mix(51))
        self.assertEqual(int(acks[-1]["sequence"]), 51)

    def test_backup_while_running_is_a_consistent_copy(self):
        self.daemon.send(event_mix(300))
        backup = os.path.join(self.workdir, "backup")
        proc = self.daemon.ctl("backup", backup)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        copy = subprocess.run([CTL, "--set", f"store.path={backup}", "status"],
                              capture_output=True, text=True, check=True)
        status = json.loads(copy.stdout)
        self.assertEqual(status["events"], 300)
        # Backing up over an existing store is refused, not a silent overwrite.
        again = self.daemon.ctl("backup", backup)
        self.assertNotEqual(again.returncode, 0)
        self.assertIn("empty directory", again.stderr)

    def test_a_second_daemon_on_the_first_ones_ipc_endpoint_is_refused(self):
        other = os.path.join(self.workdir, "other")
        os.mkdir(other)
        second = Daemon(other, **{"ingest.endpoint": self.daemon.settings["ingest.endpoint"]})
        self.addCleanup(lambda: second.proc is not None and second.proc.poll() is None
                        and second.stop())
        with self.assertRaisesRegex(AssertionError, "exited at start"):
            second.start()
        self.assertNotEqual(second.proc.wait(timeout=10), 0)
        self.assertIn(f"{self.daemon.settings['ingest.endpoint']}: another process is listening "
                      "there", second.log_text())
        # The first keeps its senders: events still reach its store.
        acks, proc = self.daemon.send(event_mix(3))
        self.assertEqual({a["status"] for a in acks}, {"ACK_STATUS_ACCEPTED"}, proc.stderr)
        self.assertEqual(self.daemon.status()["events"], 3)

    def test_status_of_a_missing_store_says_so(self):
        proc = subprocess.run([CTL, "--set", f"store.path={self.workdir}/nothing", "status"],
                              capture_output=True, text=True)
        self.assertEqual(proc.returncode, 4)
        self.assertIn("nothing", proc.stderr)

    def test_commands_that_write_make_no_store_where_there_is_none(self):
        self.daemon.send(event_mix(20))
        archive = os.path.join(self.workdir, "all.arc")
        proc = self.daemon.ctl("archive", "--before", "2100-01-01", "--out", archive)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        nothing = os.path.join(self.workdir, "nothing")
        for args in (("rebuild",), ("rebuild", "--check"), ("load", archive),
                     ("archive", "--before", "2100-01-01", "--out", archive + "2", "--prune")):
            proc = subprocess.run([CTL, "--set", f"store.path={nothing}", *args],
                                  capture_output=True, text=True)
            self.assertEqual(proc.returncode, 4, (args, proc.stderr))
            self.assertIn(f"{nothing}: cannot open the LMDB store", proc.stderr)
            self.assertIn("no store there: has commissiond run with this path?", proc.stderr)
            self.assertFalse(os.path.exists(nothing), args)


class EmbeddedDefaults(unittest.TestCase):
    """commissiond(8)'s first example: `commissiond` in a fresh directory,
    its store in ./var/store, made with the directory above it."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cd-")
        self.addCleanup(shutil.rmtree, self.workdir, True)

    def test_the_default_store_path_is_made_level_by_level_in_a_fresh_directory(self):
        fresh = os.path.join(self.workdir, "fresh")
        os.mkdir(fresh)
        # Sockets and port of the test's own; the store path the default.
        daemon = Daemon(self.workdir)
        del daemon.settings["store.path"]
        daemon.write_config()
        with open(daemon.log, "w") as log:
            proc = subprocess.Popen([DAEMON, "--config", daemon.config], cwd=fresh, stdout=log,
                                    stderr=log)
        try:
            wait_for(lambda: "ready:" in daemon.log_text() or proc.poll() is not None,
                     what="the ready line")
            self.assertIsNone(proc.poll(), daemon.log_text())
            self.assertIn("ready: store var/store", daemon.log_text())
        finally:
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(timeout=30), 0, daemon.log_text())
        for level in ("var", "var/store"):
            mode = os.stat(os.path.join(fresh, level)).st_mode
            self.assertTrue(stat.S_ISDIR(mode))
            self.assertEqual(stat.S_IMODE(mode), 0o700, level)
        status = subprocess.run([CTL, "status"], cwd=fresh, capture_output=True, text=True)
        self.assertEqual(status.returncode, 0, status.stderr)
        self.assertEqual(json_lines(status.stdout)[0]["events"], 0)
        # A level that is a file is named.
        with open(os.path.join(fresh, "file"), "w"):
            pass
        proc = subprocess.run([DAEMON, "--config", daemon.config, "--set",
                               "store.path=file/store"], cwd=fresh, capture_output=True,
                              text=True, timeout=30)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("file/store: cannot create the store directory: file is not a directory",
                      proc.stderr)


class CommandLine(unittest.TestCase):
    """Usage errors say what was wrong, not only the usage line."""

    def ctl(self, *args, cwd=None):
        proc = subprocess.run([CTL, "--set", "store.path=/nonexistent/store", *args],
                              capture_output=True, text=True, cwd=cwd, timeout=30)
        self.assertEqual(proc.returncode, 2, (args, proc.stderr))
        return proc.stderr

    def test_a_bad_option_value_is_named_with_the_rule(self):
        for args, words in (
                (("events", "--limit", "-1"), "events: --limit -1: must be a whole number, 0 or more"),
                (("deadletters", "--limit", "x"), "deadletters: --limit x: must be a whole number"),
                (("events", "--from", "1e3"), "events: --from 1e3: must be a whole number"),
                (("send", "--timeout", "3600001"),
                 "send: --timeout 3600001: must be a whole number from 1 to 3600000"),
                (("send", "--timeout", "0"), "send: --timeout 0: must be a whole number from 1"),
                (("tail", "--count", "0"), "tail: --count 0: must be a whole number, 1 or more"),
                (("tail", "--from", "-5"), "tail: --from -5: must be a whole number")):
            err = self.ctl(*args)
            self.assertIn(words, err, args)
            self.assertIn("usage: commissionctl " + args[0], err)

    def test_an_extra_argument_is_named(self):
        self.assertIn("send: one FILE at a time; unexpected argument: b.jsonl",
                      self.ctl("send", "a.jsonl", "b.jsonl"))
        self.assertIn("tail: one TOPIC-PREFIX at most; unexpected argument: more",
                      self.ctl("tail", "capacity.", "more"))
        self.assertIn("events: unexpected argument: 5", self.ctl("events", "5"))

    def test_keygen_of_a_directory_is_a_usage_error_and_writes_nothing(self):
        workdir = tempfile.mkdtemp(prefix="cd-")
        self.addCleanup(shutil.rmtree, workdir, True)
        os.mkdir(os.path.join(workdir, "keys"))
        for name in ("keys/", "keys", "keys/.", "new/"):
            self.assertIn(f"keygen: {name} names a directory, not a key",
                          self.ctl("keygen", name, cwd=workdir))
        self.assertEqual(os.listdir(os.path.join(workdir, "keys")), [])
        self.assertEqual(sorted(os.listdir(workdir)), ["keys"])

    def test_help_gives_the_send_timeout_and_what_tail_does_without_count(self):
        out = subprocess.run([CTL, "--help"], capture_output=True, text=True, check=True).stdout
        self.assertIn("--timeout: the wait for each Ack, 1 to 3600000 ms (default 30000)", out)
        self.assertIn("--count: stop after N updates, 1 or more; without it, follow for ever", out)


class FullStore(DaemonTestCase):
    # A map that may not grow: the store fills and must refuse, not crash.
    settings = {"store.map_size": "262144", "store.map_max": "262144"}

    def test_a_full_map_answers_retry_later_and_keeps_serving(self):
        acks, proc = self.daemon.send(event_mix(3000))
        statuses = [a["status"] for a in acks]
        self.assertIn("ACK_STATUS_RETRY_LATER", statuses)
        accepted = statuses.count("ACK_STATUS_ACCEPTED")
        self.assertGreater(accepted, 0)
        retry = next(a for a in acks if a["status"] == "ACK_STATUS_RETRY_LATER")
        self.assertIn("map is full", retry["reason"])
        self.assertEqual(self.daemon.status()["events"], accepted)
        # Room returns (a bigger map_max and a restart): what was refused is
        # accepted on resend, and nothing accepted before is lost.
        self.daemon.stop()
        self.daemon.settings["store.map_max"] = "64M"
        self.daemon.write_config()
        self.daemon.start()
        acks, proc = self.daemon.send(event_mix(3000))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual([a["status"] for a in acks].count("ACK_STATUS_DUPLICATE"), accepted)
        self.assertEqual(self.daemon.status()["events"], 3000)


class GrowingStore(DaemonTestCase):
    settings = {"store.map_size": "262144", "store.map_max": "256M"}

    def test_the_map_grows_up_to_map_max_instead_of_refusing(self):
        acks, proc = self.daemon.send(event_mix(5000))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual({a["status"] for a in acks}, {"ACK_STATUS_ACCEPTED"})
        self.assertGreater(self.daemon.status()["mapBytes"], 262144)


class Documentation(DaemonTestCase):

    def test_docs_config_md_shows_the_embedded_defaults_as_print_config_prints_them(self):
        out = subprocess.run([DAEMON, "--print-config"], capture_output=True, text=True,
                             check=True).stdout
        with open(os.path.join(os.path.dirname(__file__), "..", "..", "docs", "CONFIG.md")) as f:
            self.assertIn(out, f.read(), "docs/CONFIG.md is out of date: paste --print-config into it")
