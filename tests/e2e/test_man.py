"""The man pages: each lints clean under mandoc, each program's page
documents exactly the options and commands its --help lists (no more, no
fewer), and commissiond.conf(5) documents every setting that
`commissiond --print-config` prints, with its default."""
import os
import re
import shutil
import subprocess
import unittest

from harness import BUILD, CTL, DAEMON, HL7, SPOOL

MAN = os.path.join(os.path.dirname(__file__), "..", "..", "man")
PROGRAMS = {"commissiond": DAEMON, "commissiond-hl7": HL7, "commissiond-spool": SPOOL,
            "commissionctl": CTL}


def read_page(name):
    with open(os.path.join(MAN, name)) as f:
        return f.read()


def sections(page):
    """{section name: its lines} of an mdoc page (.Sh NAME)."""
    out, current = {}, None
    for line in page.splitlines():
        if line.startswith(".Sh "):
            current = line[4:].strip()
            out[current] = []
        elif current is not None:
            out[current].append(line)
    return out


def help_text(binary):
    proc = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, f"{binary} --help: rc={proc.returncode}\n{proc.stderr}"
    return proc.stdout


# An option is a dash and a letter not inside a word: -c, --print-config,
# --icb in "--icb|--org"; not the -hl7 of commissiond-hl7.
OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")
# A command is a word indented by exactly two spaces at the start of a line.
COMMAND = re.compile(r"^  ([a-z][a-z-]*)(?=\s)", re.M)


def help_options(text):
    return set(OPTION.findall(text))


def help_commands(text):
    return set(COMMAND.findall(text))


def page_options(page):
    """Every flag the page names anywhere: `Fl c` is -c, `Fl -config` --config."""
    return {"-" + flag for flag in re.findall(r"\bFl\s+(-?[A-Za-z][\w-]*)", page)}


def page_commands(page):
    """The items of the COMMANDS section: `.It Cm keygen Ar file`."""
    lines = sections(page).get("COMMANDS", [])
    return {m.group(1) for line in lines if (m := re.match(r"\.It Cm ([a-z][\w-]*)", line))}


class Pages(unittest.TestCase):

    def test_every_page_lints_clean_with_mandoc(self):
        self.assertIsNotNone(shutil.which("mandoc"), "mandoc is missing: make deps")
        pages = sorted(os.listdir(MAN))
        self.assertEqual(pages, ["commissionctl.8", "commissiond-hl7.8", "commissiond-spool.8",
                                 "commissiond.8", "commissiond.conf.5"])
        for name in pages:
            proc = subprocess.run(["mandoc", "-T", "lint", "-W", "warning",
                                   os.path.join(MAN, name)], capture_output=True, text=True)
            self.assertEqual((proc.returncode, proc.stdout + proc.stderr), (0, ""), name)

    def test_every_page_is_named_for_its_program(self):
        for name in os.listdir(MAN):
            program, section = name.rsplit(".", 1)
            page = read_page(name)
            self.assertIn(f".Dt {program.upper()} {section}\n", page, name)
            self.assertIn(f".Nm {program}\n", page, name)


class ProgramPages(unittest.TestCase):

    def test_each_page_documents_exactly_the_options_of_its_help(self):
        for program, binary in PROGRAMS.items():
            with self.subTest(program=program):
                text = help_text(binary)
                page = read_page(f"{program}.8")
                in_help, in_page = help_options(text), page_options(page)
                self.assertTrue(in_help, f"{program} --help lists no option")
                self.assertEqual(sorted(in_help - in_page), [],
                                 f"man/{program}.8 lacks options its --help lists")
                self.assertEqual(sorted(in_page - in_help), [],
                                 f"man/{program}.8 names options its --help does not list")

    def test_each_page_documents_exactly_the_commands_of_its_help(self):
        for program, binary in PROGRAMS.items():
            with self.subTest(program=program):
                in_help = help_commands(help_text(binary))
                in_page = page_commands(read_page(f"{program}.8"))
                self.assertEqual(sorted(in_help - in_page), [],
                                 f"man/{program}.8 COMMANDS lacks commands its --help lists")
                self.assertEqual(sorted(in_page - in_help), [],
                                 f"man/{program}.8 COMMANDS has commands its --help does not list")
        # The parsers find what is there: commissionctl has commands, and
        # the adapters have keygen.
        self.assertIn("backup", help_commands(help_text(CTL)))
        self.assertEqual(help_commands(help_text(HL7)), {"keygen"})

    def test_the_comparison_sees_a_missing_option(self):
        page = read_page("commissiond.8").replace("Fl -print-config", "Fl -print-settings")
        missing = help_options(help_text(DAEMON)) - page_options(page)
        self.assertEqual(missing, {"--print-config"})


def print_config_settings():
    """{section.key: default} as `commissiond --print-config` prints them."""
    proc = subprocess.run([DAEMON, "--print-config"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    settings, section = {}, None
    for line in proc.stdout.splitlines():
        if m := re.match(r"\[(\w+)\]$", line):
            section = m.group(1)
        elif m := re.match(r"(\w+) = ?(.*)$", line):
            settings[f"{section}.{m.group(1)}"] = m.group(2)
    return settings


def page_settings(page):
    """{section.key: default} as commissiond.conf(5) documents them: each
    `.Ss [section]`, its `.It Cm key` items, and in each the line
    `Default:` then `.Ql VALUE .`, or `Default: empty.`"""
    settings, section, key, lines = {}, None, None, page.splitlines()
    for i, line in enumerate(lines):
        if m := re.match(r"\.Ss \[(\w+)\]$", line):
            section = m.group(1)
        elif section and (m := re.match(r"\.It Cm (\w+)", line)):
            key = f"{section}.{m.group(1)}"
            settings[key] = None
        elif key and line == "Default: empty.":
            settings[key] = ""
        elif key and line == "Default:":
            m = re.match(r"\.Ql (\S+) \.$", lines[i + 1])
            settings[key] = m.group(1) if m else f"(unreadable: {lines[i + 1]})"
        elif line.startswith(".Sh "):
            section = key = None
    return settings


class ConfigPage(unittest.TestCase):

    def test_every_setting_is_documented_with_its_default(self):
        printed = print_config_settings()
        documented = page_settings(read_page("commissiond.conf.5"))
        self.assertGreater(len(printed), 30)
        self.assertEqual(sorted(set(printed) - set(documented)), [],
                         "man/commissiond.conf.5 lacks settings --print-config prints")
        self.assertEqual(sorted(set(documented) - set(printed)), [],
                         "man/commissiond.conf.5 documents settings that do not exist")
        for key, default in printed.items():
            self.assertEqual(documented[key], default, f"man/commissiond.conf.5: {key}'s default")


if __name__ == "__main__":
    unittest.main()
