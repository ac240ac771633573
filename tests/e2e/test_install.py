"""make install and make uninstall: the tree they write (FHS paths under
PREFIX, DESTDIR staging), units that name the installed programs, users
and directories that systemd's own tools make from the installed entries,
a configuration never overwritten, and programs that run where installed.
They install the build under test (INSTALL_FROM), so nothing is rebuilt."""
import os
import shutil
import stat
import subprocess
import tempfile
import unittest

from harness import BUILD

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DAEMONS = ["commissiond", "commissiond-hl7", "commissiond-spool"]
UNITS = [f"{name}.service" for name in DAEMONS]
PAGES = ["man8/commissiond.8", "man8/commissiond-hl7.8", "man8/commissiond-spool.8",
         "man8/commissionctl.8", "man5/commissiond.conf.5"]


def make(*args):
    proc = subprocess.run(["make", "--no-print-directory", "-C", ROOT, *args,
                           f"INSTALL_FROM={os.path.join(BUILD, 'bin')}"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"make {' '.join(args)}: rc={proc.returncode}\n{proc.stdout}{proc.stderr}"
    return proc.stdout


def files_under(top):
    return sorted(os.path.relpath(os.path.join(d, f), top)
                  for d, _, names in os.walk(top) for f in names)


def unit_settings(path):
    """{key: [values]} of a unit file."""
    out = {}
    with open(path) as f:
        for line in f:
            if "=" in line and not line.startswith("#"):
                key, value = line.rstrip("\n").split("=", 1)
                out.setdefault(key, []).append(value)
    return out


class StagedInstall(unittest.TestCase):
    """make install DESTDIR=tmp PREFIX=/usr: what a package is made from."""

    def setUp(self):
        self.dest = tempfile.mkdtemp(prefix="cd-install-")
        self.unitdir = subprocess.run(["pkg-config", "--variable=systemdsystemunitdir", "systemd"],
                                      capture_output=True, text=True).stdout.strip() \
            or "/lib/systemd/system"
        make("install", f"DESTDIR={self.dest}", "PREFIX=/usr")

    def tearDown(self):
        shutil.rmtree(self.dest, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.dest, *(p.lstrip("/") for p in parts))

    def test_the_tree_has_every_file_where_fhs_puts_it(self):
        for name in DAEMONS:
            self.assertTrue(os.access(self.path("/usr/sbin", name), os.X_OK), name)
        self.assertTrue(os.access(self.path("/usr/bin/commissionctl"), os.X_OK))
        for page in PAGES:
            self.assertTrue(os.path.isfile(self.path("/usr/share/man", page)), page)
        for unit in UNITS:
            self.assertTrue(os.path.isfile(self.path(self.unitdir, unit)), unit)
        self.assertTrue(os.path.isfile(self.path("/usr/lib/sysusers.d/commissiond.conf")))
        self.assertTrue(os.path.isfile(self.path("/usr/lib/tmpfiles.d/commissiond.conf")))
        self.assertTrue(os.path.isfile(self.path("/usr/share/doc/commissiond/docs/OPERATIONS.md")))
        conf = self.path("/etc/commissiond/commissiond.conf")
        self.assertEqual(stat.S_IMODE(os.stat(conf).st_mode), 0o640)
        with open(conf) as a, open(os.path.join(ROOT, "systemd", "commissiond.conf")) as b:
            self.assertEqual(a.read(), b.read())
        self.assertTrue(os.path.isfile(conf + ".example"))
        # Nothing lands outside the FHS places named above.
        top = lambda path: "/".join(path.strip("/").split("/")[:2])
        self.assertEqual({top(f) for f in files_under(self.dest)},
                         {"etc/commissiond", "usr/sbin", "usr/bin", "usr/share", "usr/lib",
                          top(self.unitdir)})

    def test_the_installed_units_start_the_installed_programs_on_the_installed_file(self):
        for unit, name in zip(UNITS, DAEMONS):
            settings = unit_settings(self.path(self.unitdir, unit))
            program, *args = settings["ExecStart"][0].split()
            self.assertEqual(program, f"/usr/sbin/{name}")
            self.assertTrue(os.access(self.path(program), os.X_OK), program)
            self.assertEqual(args, ["--config", "/etc/commissiond/commissiond.conf"])
            self.assertTrue(os.path.isfile(self.path(args[1])))
            for doc in settings["Documentation"][0].split():
                if doc.startswith("man:"):
                    page, section = doc[4:].rstrip(")").split("(")
                    self.assertTrue(os.path.isfile(self.path(
                        f"/usr/share/man/man{section}/{page}.{section}")), doc)
                else:
                    self.assertTrue(os.path.isfile(self.path(doc[len("file://"):])), doc)

    def test_the_installed_programs_run_on_the_installed_configuration(self):
        conf = self.path("/etc/commissiond/commissiond.conf")
        for program in [self.path("/usr/sbin", n) for n in DAEMONS]:
            proc = subprocess.run([program, "--config", conf, "--print-config"],
                                  capture_output=True, text=True, timeout=30)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            # The paths the units' directories make, not the source tree's.
            self.assertIn("path = /var/lib/commissiond/store\n", proc.stdout)
            self.assertIn("outbox = /var/lib/commissiond-hl7/outbox\n", proc.stdout)
            self.assertIn("directory = /var/spool/commissiond\n", proc.stdout)
            self.assertIn("key_file = /etc/commissiond/pseudonym.key\n", proc.stdout)
        proc = subprocess.run([self.path("/usr/bin/commissionctl"), "--help"],
                              capture_output=True, text=True, timeout=30)
        self.assertEqual(proc.returncode, 0, proc.stderr)

    def test_the_units_users_and_directories_come_from_the_installed_entries(self):
        if not shutil.which("systemd-sysusers") or not shutil.which("systemd-tmpfiles"):
            self.skipTest("systemd-sysusers or systemd-tmpfiles is missing")
        if os.geteuid() != 0:
            self.skipTest("systemd-tmpfiles gives files to the services' users: needs root")
        keygen = subprocess.run([self.path("/usr/sbin/commissiond-hl7"), "keygen",
                                 self.path("/etc/commissiond/pseudonym.key")],
                                capture_output=True, text=True)
        self.assertEqual(keygen.returncode, 0, keygen.stderr)
        os.makedirs(self.path("/var/spool"))
        for tool in ("systemd-sysusers", "systemd-tmpfiles --create"):
            proc = subprocess.run([*tool.split(), f"--root={self.dest}", "commissiond.conf"],
                                  capture_output=True, text=True)
            self.assertEqual(proc.returncode, 0, f"{tool}: {proc.stderr}")
        with open(self.path("/etc/passwd")) as f:
            users = {p[0]: p for p in (line.split(":") for line in f)}
        with open(self.path("/etc/group")) as f:
            groups = {g[0]: g for g in (line.rstrip("\n").split(":") for line in f)}
        for unit, name in zip(UNITS, DAEMONS):
            settings = unit_settings(self.path(self.unitdir, unit))
            self.assertEqual(settings["User"], [name])
            self.assertEqual(settings["Group"], [name])
            self.assertIn(name, users)
            self.assertEqual(users[name][3], groups[name][2], f"{name}'s own group")
            self.assertEqual(settings["StateDirectory"], [name])
            self.assertEqual(users[name][5], f"/var/lib/{name}")
        members = {g: set(filter(None, groups[g][3].split(","))) for g in groups}
        self.assertEqual(members["commissiond"], {"commissiond-hl7", "commissiond-spool"})
        # The daemon never reads the key: with it, pseudonyms re-identify.
        self.assertEqual(members["commissiond-pseudonym"], {"commissiond-hl7", "commissiond-spool"})

        def owner(path):
            st = os.stat(self.path(path))
            gid = {int(g[2]): g[0] for g in groups.values()}[st.st_gid]
            return stat.S_IMODE(st.st_mode), st.st_uid, gid
        self.assertEqual(owner("/etc/commissiond/commissiond.conf"), (0o640, 0, "commissiond"))
        self.assertEqual(owner("/etc/commissiond/pseudonym.key"),
                         (0o640, 0, "commissiond-pseudonym"))
        mode, uid, gid = owner("/var/spool/commissiond")
        self.assertEqual((mode, uid, gid), (0o2770, int(users["commissiond-spool"][2]),
                                            "commissiond-spool"))
        self.assertEqual(unit_settings(self.path(self.unitdir, "commissiond-spool.service"))
                         ["ReadWritePaths"], ["/var/spool/commissiond"])

    def test_a_second_install_keeps_the_operators_configuration(self):
        conf = self.path("/etc/commissiond/commissiond.conf")
        with open(conf, "a") as f:
            f.write("[hl7]\nprovider = ESHT_PAS=RXC\n")
        out = make("install", f"DESTDIR={self.dest}", "PREFIX=/usr")
        self.assertIn("keeping", out)
        with open(conf) as f:
            self.assertIn("provider = ESHT_PAS=RXC", f.read())
        # uninstall takes everything else and keeps the changed file.
        make("uninstall", f"DESTDIR={self.dest}", "PREFIX=/usr")
        self.assertEqual(files_under(self.dest), ["etc/commissiond/commissiond.conf"])

    def test_uninstall_takes_an_unchanged_install_away_whole(self):
        make("uninstall", f"DESTDIR={self.dest}", "PREFIX=/usr")
        self.assertEqual(files_under(self.dest), [])
        self.assertFalse(os.path.exists(self.path("/etc/commissiond")))


class PrefixInstall(unittest.TestCase):
    """make install PREFIX=elsewhere: the units follow the prefix, and
    systemd itself finds every program and man page they name."""

    def test_systemd_analyze_verify_finds_what_the_installed_units_name(self):
        if not shutil.which("systemd-analyze"):
            self.skipTest("systemd-analyze is missing")
        top = tempfile.mkdtemp(prefix="cd-prefix-")
        try:
            prefix = os.path.join(top, "usr")
            make("install", f"PREFIX={prefix}", f"SYSCONFDIR={top}/etc")
            unitdir = os.path.join(prefix, "lib", "systemd", "system")
            self.assertEqual(sorted(os.listdir(unitdir)), sorted(UNITS))
            for unit, name in zip(UNITS, DAEMONS):
                settings = unit_settings(os.path.join(unitdir, unit))
                self.assertEqual(settings["ExecStart"][0],
                                 f"{prefix}/sbin/{name} --config {top}/etc/commissiond/commissiond.conf")
            # verify fails on an ExecStart that is not executable and on a
            # man: link that man cannot find.
            env = dict(os.environ, MANPATH=os.path.join(prefix, "share", "man"))
            proc = subprocess.run(["systemd-analyze", "verify", *UNITS], cwd=unitdir, env=env,
                                  capture_output=True, text=True)
            self.assertEqual((proc.returncode, proc.stderr.strip()), (0, ""))
            os.remove(os.path.join(prefix, "sbin", "commissiond"))
            proc = subprocess.run(["systemd-analyze", "verify", "commissiond.service"],
                                  cwd=unitdir, env=env, capture_output=True, text=True)
            self.assertIn("is not executable", proc.stderr)
        finally:
            shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
