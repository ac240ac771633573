"""The configuration file as the operator meets it: --print-config and SIGHUP
refuse what a start refuses, naming the file, the line and what is wrong;
a refused CURVE allow-list leaves the running configuration naming the
list still in force; a setting that needs a restart is reported once for
each change of the file, not at every SIGHUP."""
import os
import shutil
import signal
import subprocess
import tempfile
import unittest

import zmq

from harness import CTL, DAEMON, HL7, SPOOL, Daemon, DaemonTestCase, preload_env, wait_for


def print_config(*args):
    return subprocess.run([DAEMON, *args, "--print-config"], capture_output=True, text=True,
                          timeout=60)


def hup_and_wait(daemon, words):
    """SIGHUP, and wait for one more line holding words; the log after it."""
    before = daemon.log_text().count(words)
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: daemon.log_text().count(words) > before, timeout=30, what=words)
    return daemon.log_text()


def append(path, text):
    with open(path, "a") as f:
        f.write(text)


class PrintConfigRefusesWhatStartRefuses(unittest.TestCase):
    """`commissiond -p` exits 0 only on a file a start would take."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cd-")
        self.conf = os.path.join(self.workdir, "c.conf")

    def tearDown(self):
        shutil.rmtree(self.workdir, ignore_errors=True)

    def refused(self, text, *args):
        with open(self.conf, "w") as f:
            f.write(text)
        proc = print_config("--config", self.conf, *args)
        self.assertNotEqual(proc.returncode, 0, f"accepted:\n{text}")
        self.assertEqual(proc.stdout, "")
        return proc.stderr

    def test_a_listen_address_that_is_not_address_and_port(self):
        for value in ("127.0.0.1:99999", "nonsense"):
            err = self.refused(f"[store]\nsync = full\n[http]\nlisten = {value}\n")
            self.assertIn(f'c.conf:4: [http] listen: "{value}" is not ADDRESS:PORT', err)

    def test_an_allow_list_without_a_server_key(self):
        err = self.refused(f"[curve]\ningest_allow = {self.workdir}/nonexist.allow\n")
        self.assertIn("c.conf:2: [curve] an allow-list is set but server_key_file is empty", err)

    def test_map_max_below_map_size_names_both(self):
        err = self.refused("[store]\nmap_size = 1G\nmap_max = 1M\n")
        self.assertIn("c.conf:3: [store] map_max (1048576) is less than map_size (1073741824)",
                      err)
        # Equal is allowed: the map never grows.
        with open(self.conf, "w") as f:
            f.write("[store]\nmap_size = 1M\nmap_max = 1M\n")
        self.assertEqual(print_config("--config", self.conf).returncode, 0)

    def test_the_first_wrong_line_is_named_with_what_is_wrong_on_it(self):
        err = self.refused("[store]\nfoo\n\n\nsync = sometimes\n")
        self.assertIn("c.conf:2: not an INI line", err)
        self.assertNotIn("sometimes", err)
        err = self.refused("[store]\nsync = full\n[http\ntoken = x\n")
        self.assertIn("c.conf:3: a section header with no closing ]", err)
        self.assertNotIn("token", err)

    def test_a_key_or_section_given_twice(self):
        err = self.refused("[store]\nsync = full\nsync = none\n")
        self.assertIn("c.conf:3: [store] sync is given a second time (first at line 2)", err)
        err = self.refused("[store]\nsync = full\n[log]\nlevel = info\n[store]\npath = /x\n")
        self.assertIn("c.conf:5: [store] is given a second time (first at line 1)", err)
        # --set over the file is what it is for.
        with open(self.conf, "w") as f:
            f.write("[store]\nsync = full\n")
        proc = print_config("--config", self.conf, "--set", "store.sync=none")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("\nsync = none\n", proc.stdout)

    def test_a_comment_after_a_value_and_a_number_too_large(self):
        err = self.refused("[store]\nsync = none # fast\n")
        self.assertIn("c.conf:2: [store] sync: a comment after a value is not allowed", err)
        err = self.refused("[ingest]\nbatch_limit = 99999999999999999999999\n")
        self.assertIn('"99999999999999999999999" is more than 65536, the most allowed', err)

    def test_commissionctl_refuses_the_same_files(self):
        with open(self.conf, "w") as f:
            f.write("[http]\nlisten = 127.0.0.1:99999\n")
        proc = subprocess.run([CTL, "--config", self.conf, "status"], capture_output=True,
                              text=True, timeout=60)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn('c.conf:2: [http] listen: "127.0.0.1:99999" is not ADDRESS:PORT',
                      proc.stderr)


class SetOptionsOverTheFileInCommissionctl(unittest.TestCase):
    """commissionctl reads its options as commissiond does: the file first,
    then --set over it, whichever was given first on the command line."""

    def test_a_set_before_the_config_still_wins_over_the_file(self):
        workdir = tempfile.mkdtemp(prefix="cd-")
        self.addCleanup(shutil.rmtree, workdir, True)
        conf = os.path.join(workdir, "c.conf")
        with open(conf, "w") as f:
            f.write(f"[store]\npath = {workdir}/from-file\n")
        proc = subprocess.run([CTL, "--set", f"store.path={workdir}/from-set", "--config", conf,
                               "status"], capture_output=True, text=True, timeout=60)
        # No store at either path: the refusal names the one it looked at.
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn(f"{workdir}/from-set", proc.stderr)
        self.assertNotIn("from-file", proc.stderr)


class SetOptionsAreHeldToTheRules(unittest.TestCase):
    """--set is applied after the file: what the two make together is held to
    the same rules, at -p and at start, by the daemon and the adapters."""

    def test_set_options_that_break_a_rule_are_refused_at_print_and_start(self):
        workdir = tempfile.mkdtemp(prefix="cd-")
        self.addCleanup(shutil.rmtree, workdir, True)
        bad = ["--set", "store.map_size=1G", "--set", "store.map_max=1M",
               "--set", f"store.path={workdir}/store"]
        want = "[store] map_max (1048576) is less than map_size (1073741824)"
        for args in ([DAEMON, *bad, "--print-config"], [DAEMON, *bad]):
            proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
            self.assertEqual(proc.returncode, 1, proc.stderr)
            self.assertIn(want, proc.stderr)
        self.assertFalse(os.path.exists(f"{workdir}/store"), "started on a refused setting")
        proc = subprocess.run([CTL, *bad, "status"], capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn(want, proc.stderr)
        for adapter in (SPOOL, HL7):
            proc = subprocess.run([adapter, "--set", "curve.ingest_allow=/x.allow",
                                   "--print-config"], capture_output=True, text=True,
                                  timeout=60)
            self.assertEqual(proc.returncode, 1, proc.stderr)
            self.assertIn("an allow-list is set but server_key_file is empty", proc.stderr)


class ReloadRefusesWhatStartRefuses(DaemonTestCase):

    def test_an_allow_list_without_a_server_key_is_refused_whole(self):
        self.daemon.settings["curve.ingest_allow"] = f"{self.workdir}/nonexist.allow"
        self.daemon.settings["log.level"] = "debug"
        self.daemon.write_config()
        log = hup_and_wait(self.daemon, "keeping the running configuration")
        self.assertIn("[curve] an allow-list is set but server_key_file is empty", log)
        self.assertNotIn("curve.ingest_allow changed", log)
        self.assertNotIn("log.level changed", log)

    def test_a_port_out_of_range_and_map_max_below_map_size_are_refused(self):
        self.daemon.settings["store.map_max"] = "64k"
        self.daemon.write_config()
        log = hup_and_wait(self.daemon, "keeping the running configuration")
        self.assertIn("[store] map_max (65536) is less than map_size (1073741824)", log)
        self.assertNotIn("store.map_max changed", log)
        del self.daemon.settings["store.map_max"]
        self.daemon.settings["http.listen"] = "127.0.0.1:99999"
        self.daemon.write_config()
        log = hup_and_wait(self.daemon, "is not ADDRESS:PORT")
        self.assertNotIn("http.listen changed", log)


class ReloadDuringAStart(DaemonTestCase):
    """systemctl reload during a slow start-up (hold.c under LD_PRELOAD
    holds the first LMDB open, the store's or the outbox's, as a
    long migration or log recovery would): SIGHUP killed the process, its
    default before the handler was in place. It is held until then, and
    the file as it stands is read then."""

    start_in_setup = False

    def hup_while_starting(self, owner, settle):
        """Start owner held in its first LMDB open, SIGHUP it there after
        settle() changed the file, then let it go on: it must be ready."""
        import threading
        hold = os.path.join(self.workdir, "hold")
        entered = os.path.join(self.workdir, "entered")
        open(hold, "w").close()
        env = preload_env(self.workdir, "hold", HOLD_CALL="mdb_env_open", HOLD_FILE=hold,
                          HOLD_ENTERED=entered)
        # A start that fails raises in its thread: the poll below sees it.
        starting = threading.Thread(target=lambda: owner.start(timeout=60, env=env))
        try:
            starting.start()
            wait_for(lambda: os.path.exists(entered), timeout=30, what="the first LMDB open")
            settle()
            owner.proc.send_signal(signal.SIGHUP)
        finally:
            os.unlink(hold)
            starting.join()
        self.assertIsNone(owner.proc.poll(), owner.log_text())

    def test_a_sighup_before_the_daemon_is_ready_is_a_reload_once_it_is(self):
        def settle():
            self.daemon.settings["log.level"] = "debug"
            self.daemon.write_config()
        self.hup_while_starting(self.daemon, settle)
        wait_for(lambda: "reload: log.level changed" in self.daemon.log_text(), timeout=30,
                 what="the reload")

    def test_a_sighup_before_an_adapter_is_ready_is_a_reload_once_it_is(self):
        from harness import Adapter, adapter_settings
        self.daemon.settings.update(adapter_settings(self.workdir))
        self.daemon.write_config()
        self.daemon.start()
        adapter = Adapter(self.daemon, HL7)

        def settle():
            self.daemon.settings["log.level"] = "debug"
            self.daemon.write_config()
        try:
            self.hup_while_starting(adapter, settle)
            wait_for(lambda: "reload: log level debug" in adapter.log_text(), timeout=30,
                     what="the adapter's reload")
        finally:
            self.assertEqual(adapter.stop(), 0, adapter.log_text())


class HttpHosts(DaemonTestCase):
    """[http] hosts: refused naming the entry that is not a host name, at
    --print-config and SIGHUP alike; a good list applies at SIGHUP."""

    def get_flow(self, host):
        import http.client
        address, port = self.daemon.settings["http.listen"].rsplit(":", 1)
        conn = http.client.HTTPConnection(address, int(port), timeout=30)
        try:
            conn.request("GET", "/api/v1/flow", headers={"Host": host})
            return conn.getresponse().status
        finally:
            conn.close()

    def test_a_bad_entry_is_refused_and_a_good_list_applies_at_sighup(self):
        for value, bad in (("dash.example:8443", "dash.example:8443"),
                           ("ok.example, http://x", "http://x"), ("a,,b", ""),
                           ("*, a.example", "*"), ("dash example", "dash example")):
            with self.subTest(value=value):
                proc = subprocess.run([DAEMON, "--set", f"http.hosts={value}",
                                       "--print-config"], capture_output=True, text=True)
                self.assertEqual(proc.returncode, 1, proc.stdout)
                self.assertIn(f'[http] hosts: "{bad}" is not a host name', proc.stderr)
        self.assertEqual(self.get_flow("dash.example"), 403)
        self.daemon.settings["http.hosts"] = "dash.example:8443"
        self.daemon.write_config()
        log = hup_and_wait(self.daemon, "keeping the running configuration")
        self.assertIn('[http] hosts: "dash.example:8443" is not a host name', log)
        self.daemon.settings["http.hosts"] = "dash.example"
        self.daemon.write_config()
        hup_and_wait(self.daemon, 'reload: http.hosts changed from "" to "dash.example"')
        self.assertEqual(self.get_flow("dash.example"), 200)
        self.assertEqual(self.get_flow("other.example"), 403)


class CurveTurnedOnInTheFile(DaemonTestCase):

    def test_the_allow_lists_wait_for_the_restart_with_the_server_key(self):
        for key, value in (("curve.server_key_file", "server.key"),
                           ("curve.ingest_allow", "ingest.allow"),
                           ("curve.subscribe_allow", "subscribe.allow")):
            self.daemon.settings[key] = f"{self.workdir}/{value}"
        self.daemon.write_config()
        log = hup_and_wait(self.daemon, "reload: curve.subscribe_allow changed to")
        for key in ("server_key_file", "ingest_allow", "subscribe_allow"):
            self.assertIn(f"reload: curve.{key} changed to", log)
        self.assertEqual(log.count("but it needs a restart"), 3, log)
        self.assertNotIn("changed from", log)


class ReloadHoldsTheSetOptionsToTheRules(DaemonTestCase):
    """The --set options are applied over the file again at SIGHUP: what they
    make together is held to the same rules as a file."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cd-")
        self.daemon = Daemon(self.workdir, **{"store.map_size": "512k"})
        with open(self.daemon.log, "a") as logf:
            self.daemon.proc = subprocess.Popen(
                [DAEMON, "--config", self.daemon.config, "--set", "store.map_max=1M"],
                stdout=logf, stderr=logf)
        wait_for(lambda: "ready:" in self.daemon.log_text() or self.daemon.proc.poll() is not None,
                 timeout=30, what="ready")
        self.assertIn("ready:", self.daemon.log_text())

    def test_a_file_good_alone_but_not_with_the_set_options_is_refused(self):
        self.daemon.settings["store.map_size"] = "2M"
        self.daemon.write_config()
        log = hup_and_wait(self.daemon, "keeping the running configuration")
        self.assertIn("[store] map_max (1048576) is less than map_size (2097152)", log)
        self.assertNotIn("store.map_size changed", log)


class RestartWarningsOncePerChange(DaemonTestCase):

    def test_a_restart_only_change_is_said_once_and_again_when_the_file_changes_it(self):
        warning = 'reload: store.sync changed to "nometa", but it needs a restart'
        self.daemon.settings["store.sync"] = "nometa"
        self.daemon.write_config()
        hup_and_wait(self.daemon, warning)
        # SIGHUPs with the same file: said once, then "nothing new".
        log = hup_and_wait(self.daemon, "reload: nothing new; 1 setting(s) still wait for a "
                                        "restart: store.sync")
        self.daemon.settings["http.timeout_ms"] = "9000"
        self.daemon.write_config()
        log = hup_and_wait(self.daemon, 'reload: http.timeout_ms changed from "10000" to "9000"')
        self.assertEqual(log.count(warning), 1, log)
        # Changed again in the file: said again.
        self.daemon.settings["store.sync"] = "none"
        self.daemon.write_config()
        hup_and_wait(self.daemon, 'reload: store.sync changed to "none", but it needs a restart')
        # Back to what runs: nothing waits.
        self.daemon.settings["store.sync"] = "full"
        self.daemon.write_config()
        hup_and_wait(self.daemon, "reload: the configuration is unchanged")
        self.daemon.settings["store.sync"] = "nometa"
        self.daemon.write_config()
        log = hup_and_wait(self.daemon, warning)
        self.assertEqual(log.count(warning), 2, log)


@unittest.skipUnless(zmq.has("curve"), "libzmq without CURVE")
class RefusedAllowListKeepsTheRunningPath(DaemonTestCase):
    """A SIGHUP whose allow-list is refused leaves the running configuration
    naming the list still in force."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cd-")
        keys = os.path.join(self.workdir, "keys")
        for name in ("server", "sender", "reader"):
            proc = subprocess.run([CTL, "keygen", f"{keys}/{name}"], capture_output=True,
                                  text=True)
            self.assertEqual(proc.returncode, 0, proc.stderr)
        self.ok = os.path.join(self.workdir, "ok.allow")
        self.ok2 = os.path.join(self.workdir, "ok2.allow")
        self.bad = os.path.join(self.workdir, "bad.allow")
        self.subscribe = os.path.join(self.workdir, "subscribe.allow")
        shutil.copy(f"{keys}/sender.pub", self.ok)
        shutil.copy(f"{keys}/sender.pub", self.ok2)
        shutil.copy(f"{keys}/reader.pub", self.subscribe)
        with open(self.bad, "w") as f:
            f.write("not a key\n")
        self.daemon = Daemon(self.workdir, **{
            "curve.server_key_file": f"{keys}/server.key",
            "curve.ingest_allow": self.ok,
            "curve.subscribe_allow": self.subscribe,
        })
        self.daemon.start()

    def test_the_next_reload_says_changed_from_the_list_in_force(self):
        self.daemon.settings["curve.ingest_allow"] = self.bad
        self.daemon.write_config()
        log = hup_and_wait(self.daemon, f'reload: curve.ingest_allow "{self.bad}" is refused')
        self.assertIn(f'keeping "{self.ok}"', log)
        self.assertNotIn(f'curve.ingest_allow changed from "{self.ok}" to "{self.bad}"', log)
        self.daemon.settings["curve.ingest_allow"] = self.ok2
        self.daemon.write_config()
        log = hup_and_wait(self.daemon, "reload: curve.ingest_allow changed from")
        self.assertIn(f'reload: curve.ingest_allow changed from "{self.ok}" to "{self.ok2}"', log)
        self.assertIn(f"reload: [curve] ingest_allow {self.ok2}: 1 key(s)", log)


if __name__ == "__main__":
    unittest.main()
