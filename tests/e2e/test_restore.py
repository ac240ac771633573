"""commissionctl restore as an operator meets it when things go wrong: a
crash in the middle of the swap, and restore run by another user than
the store's owner (root, say)."""
import os
import subprocess
import unittest

from harness import CTL, DaemonTestCase, event_mix, json_lines, preload_env


class CrashDuringRestore(DaemonTestCase):

    def test_a_restore_killed_before_its_last_rename_leaves_the_old_store_in_place(self):
        self.daemon.send(event_mix(30))
        backup = os.path.join(self.workdir, "backup")
        self.assertEqual(self.daemon.ctl("backup", backup).returncode, 0)
        self.daemon.send(event_mix(60)[30:])
        self.assertEqual(self.daemon.stop(), 0)
        # Killed as the copy is about to be renamed in: at that instant
        # the store must still be the one it was, never no store at all.
        proc = subprocess.run(
            [CTL, "--config", self.daemon.config, "restore", backup], capture_output=True,
            text=True, timeout=120,
            env=dict(os.environ, **preload_env(self.workdir, "die_on_rename",
                                               DIE_ON_RENAME_FROM="/.restore/data.mdb")))
        self.assertEqual(proc.returncode, 137, proc.stderr)
        store = self.daemon.settings["store.path"]
        self.assertTrue(os.path.exists(f"{store}/data.mdb"))
        self.assertEqual(self.daemon.status()["events"], 60)
        # Run again, it finishes: the backup in place, the old store kept.
        again = self.daemon.ctl("restore", backup)
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertEqual(self.daemon.status()["events"], 30)
        kept = json_lines(again.stdout)[0]["kept"]
        original = os.path.join(self.workdir, "original")
        os.mkdir(original)
        os.rename(kept, f"{original}/data.mdb")
        status = subprocess.run([CTL, "--set", f"store.path={original}", "status"],
                                capture_output=True, text=True)
        self.assertEqual(json_lines(status.stdout)[0]["events"], 60, status.stderr)
        self.daemon.start()


@unittest.skipUnless(os.geteuid() == 0, "needs root, as an operator under sudo")
class RestoreAsRoot(DaemonTestCase):
    """The store belongs to commissiond's user; an operator runs restore
    as root. What restore writes must stay the store owner's, or
    commissiond, running as that user, cannot open its own store."""

    def setUp(self):
        import pwd
        super().setUp()
        self.nobody = pwd.getpwnam("nobody")
        self.store = self.daemon.settings["store.path"]

    def restore_as_root_into_a_store_of_nobodys(self):
        """20 events, backed up; the store given to nobody, then the backup
        restored by root."""
        self.daemon.send(event_mix(20))
        backup = os.path.join(self.workdir, "backup")
        self.assertEqual(self.daemon.ctl("backup", backup).returncode, 0)
        self.assertEqual(self.daemon.stop(), 0)
        os.unlink(f"{self.store}/commissiond.lock")
        self.chown_store(self.nobody.pw_uid, self.nobody.pw_gid)
        restored = self.daemon.ctl("restore", backup)
        self.assertEqual(restored.returncode, 0, restored.stderr)

    def chown_store(self, uid, gid):
        for path in [self.store] + [os.path.join(self.store, name)
                                    for name in os.listdir(self.store)]:
            os.chown(path, uid, gid)

    def assert_nobody_reads_it_and_start_again(self):
        os.chmod(self.workdir, 0o711)
        status = subprocess.run(["runuser", "-u", "nobody", "--", CTL, "--set",
                                 f"store.path={self.store}", "status"],
                                capture_output=True, text=True)
        self.assertEqual(status.returncode, 0, status.stderr)
        self.assertEqual(json_lines(status.stdout)[0]["events"], 20, status.stderr)
        self.chown_store(0, 0)
        self.daemon.start()

    def assert_nobodys(self, name):
        st = os.stat(os.path.join(self.store, name))
        self.assertEqual((name, st.st_uid, st.st_gid),
                         (name, self.nobody.pw_uid, self.nobody.pw_gid))

    def test_the_restored_store_and_its_lock_file_keep_the_store_directory_owner(self):
        self.restore_as_root_into_a_store_of_nobodys()
        for name in ("data.mdb", "commissiond.lock", "data.mdb.before-restore"):
            self.assert_nobodys(name)
        self.assert_nobody_reads_it_and_start_again()

    def test_a_root_command_after_a_restore_leaves_the_lock_file_the_owners(self):
        # Restore removes lock.mdb; the next process to open the store
        # makes it. Made by root's `commissionctl status`, it was root's,
        # 0600, and commissiond, as the store's owner, could not open it.
        self.restore_as_root_into_a_store_of_nobodys()
        self.assertFalse(os.path.exists(f"{self.store}/lock.mdb"))
        status = self.daemon.ctl("status")
        self.assertEqual(status.returncode, 0, status.stderr)
        self.assert_nobodys("lock.mdb")
        self.assert_nobody_reads_it_and_start_again()


class ChangesLock(DaemonTestCase):
    """commissionctl.lock keeps rebuild and archive --prune (shared), which
    run beside the daemon, from restore and load (exclusive): a rebuild
    during a restore wrote into the file replaced, and its work was lost."""

    def hold(self, mode, holder):
        import fcntl
        path = os.path.join(self.daemon.settings["store.path"], "commissionctl.lock")
        f = open(path, "a+")
        fcntl.flock(f, mode | fcntl.LOCK_NB)
        f.truncate(0)
        f.write(f"{holder} (pid 4242)\n")
        f.flush()
        self.addCleanup(f.close)
        return f

    def test_restore_and_load_wait_for_a_rebuild_to_finish(self):
        import fcntl
        self.daemon.send(event_mix(30))
        backup = os.path.join(self.workdir, "backup")
        archive = os.path.join(self.workdir, "early.cda")
        self.assertEqual(self.daemon.ctl("backup", backup).returncode, 0)
        for args in (("rebuild",), ("archive", "--before", "2999-01-01", "--out", archive,
                                    "--prune")):
            proc = self.daemon.ctl(*args)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            with open(os.path.join(self.daemon.settings["store.path"],
                                   "commissionctl.lock")) as f:
                self.assertRegex(f.read(), rf"^commissionctl {args[0]} \(pid \d+\)\n$")
        self.assertEqual(self.daemon.stop(), 0)
        held = self.hold(fcntl.LOCK_SH, "commissionctl rebuild")
        for args in (("restore", backup), ("load", archive)):
            with self.subTest(command=args[0]):
                proc = self.daemon.ctl(*args)
                self.assertEqual(proc.returncode, 1, proc.stderr)
                self.assertIn("commissionctl rebuild (pid 4242) is changing the store: "
                              "wait for it to finish", proc.stderr)
        held.close()
        for args in (("load", archive), ("restore", backup)):
            proc = self.daemon.ctl(*args)
            self.assertEqual(proc.returncode, 0, proc.stderr)
        self.daemon.start()
        self.assertEqual(self.daemon.status()["events"], 30)

    def test_rebuild_and_prune_wait_for_a_restore_to_finish(self):
        import fcntl
        self.daemon.send(event_mix(30))
        self.hold(fcntl.LOCK_EX, "commissionctl restore")
        out = os.path.join(self.workdir, "early.cda")
        for args in (("rebuild",), ("archive", "--before", "2999-01-01", "--out", out,
                                    "--prune")):
            with self.subTest(command=args[0]):
                proc = self.daemon.ctl(*args)
                self.assertEqual(proc.returncode, 1, proc.stderr)
                self.assertIn("commissionctl restore (pid 4242) is replacing or putting "
                              "events back into the store: wait for it to finish", proc.stderr)
                self.assertFalse(os.path.exists(out))
        # What only reads the store goes on.
        for args in (("rebuild", "--check"), ("archive", "--before", "2999-01-01", "--out", out)):
            with self.subTest(command=" ".join(args[:2])):
                proc = self.daemon.ctl(*args)
                self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(self.daemon.status()["events"], 30)


if __name__ == "__main__":
    unittest.main()
