"""No patient identifier anywhere the system writes. Known patients (valid
NHS numbers, names, birth dates, addresses) go through both adapters, in
good messages and rows and in ones that are refused (AE from commissiond-hl7,
bad rows in errors.csv, a file that fails, an event the daemon rejects into
the dead letters). Then every file under the test's directory (the daemon's
store, the adapters' outboxes, the logs at debug level, errors and reason
files) and what the operator's tools print are searched for each identifier
in every form we can think of. Zero hits.

One exception, by name: the spool moves the file it was given to done/ (or
failed/) as it was received (docs/SPOOL.md). That copy is the source
system's own data, which the council already holds; commissiond keeps it so
that a file can be checked or dropped again, and the operator's retention
rules for the spool apply to it. It is excluded by its name, and only it:
its errors.csv and reason.txt are searched.

The event log's archive (commissionctl archive) is written and searched too."""
import base64
import hashlib
import os
import shutil
import struct
import subprocess
import tempfile
import unittest

from harness import (CTL, HL7, SPOOL, Adapter, Daemon, MllpClient, ack_fields, adapter_settings,
                     adt, drop_spool_file, http_get, nhs_number, stop_cleanly, wait_for)

# Patients: made-up names unlikely to occur by chance, valid NHS numbers.
PATIENTS = [
    {"nhs": nhs_number(7001), "given": "Philomena", "family": "Quarrington",
     "dob": "1937-08-14", "street": "17 Wykeham Crescent", "postcode": "BN21 4QX"},
    {"nhs": nhs_number(7002), "given": "Zebedee", "family": "Ottershaw",
     "dob": "1952-02-29", "street": "3 Tollgate Mews", "postcode": "TN34 2JR"},
    {"nhs": nhs_number(7003), "given": "Ermintrude", "family": "Blenkinsop",
     "dob": "1989-01-07", "street": "88 Furzedown Lane", "postcode": "RH10 6AP"},
    {"nhs": nhs_number(7004), "given": "Thaddeus", "family": "Pumphrey",
     "dob": "1944-11-30", "street": "5 Quarry Steps", "postcode": "BN2 9TL"},
    {"nhs": nhs_number(7005), "given": "Griselda", "family": "Vanstone",
     "dob": "2001-06-05", "street": "41 Mallory Rise", "postcode": "PO19 3WE"},
    {"nhs": nhs_number(7006), "given": "Barnaby", "family": "Ffoulkes",
     "dob": "1960-03-17", "street": "2 Sandpit Row", "postcode": "BN43 5YH"},
]


def wrong_check_digit(number):
    return number[:-1] + str((int(number[-1]) + 1) % 10)


# An NHS number typed with a wrong check digit is still somebody's identifier.
TYPOS = [wrong_check_digit(p["nhs"]) for p in PATIENTS[:2]]


def spaced(n):
    return f"{n[:3]} {n[3:6]} {n[6:]}"


def base64_forms(data):
    """The base64 text of data wherever it sits in a longer encoded blob:
    each of the three alignments, standard and URL-safe alphabets."""
    forms = []
    for k in range(3):
        enc = base64.b64encode(b"\0" * k + data)
        skip = 4 if k else 0  # the group that mixes padding and data
        end = (k + len(data)) // 3 * 4  # whole groups of data only
        core = enc[skip:end]
        if len(core) >= 8:
            forms += [core, core.replace(b"+", b"-").replace(b"/", b"_")]
    return forms


def nhs_number_forms(n):
    """An NHS number as text, spaced, in UTF-16, in hex, as an integer in 8
    bytes either way, in base64, and its unkeyed hashes."""
    text = n.encode()
    forms = [text, spaced(n).encode(), f"{n[:3]}-{n[3:6]}-{n[6:]}".encode(),
             n.encode("utf-16-le"), n.encode("utf-16-be"), spaced(n).encode("utf-16-le"),
             text.hex().encode(), text.hex().upper().encode(),
             struct.pack("<Q", int(n)), struct.pack(">Q", int(n)),
             struct.pack(">Q", int(n)).lstrip(b"\0"), struct.pack("<Q", int(n)).rstrip(b"\0")]
    forms += base64_forms(text)
    for digest in (hashlib.sha256(text).digest(), hashlib.sha1(text).digest(),
                   hashlib.md5(text).digest(), hashlib.blake2b(text, digest_size=32).digest(),
                   hashlib.blake2b(text, digest_size=16).digest()):
        forms += [digest, digest.hex().encode()]
    return forms


def text_forms(value):
    """A name or address: any case (matched on lower-cased data), UTF-8
    and UTF-16, and base64 of the usual cases."""
    lower = value.lower()
    forms = [lower.encode(), lower.encode("utf-16-le"), lower.encode("utf-16-be")]
    return forms, [f for case in (value, value.upper(), value.lower())
                   for f in base64_forms(case.encode())]


def date_forms(iso):
    y, m, d = iso.split("-")
    return [f"{y}{m}{d}".encode(), iso.encode(), f"{d}/{m}/{y}".encode(),
            f"{y}{m}{d}".encode("utf-16-le"), iso.encode("utf-16-le")]


def needles():
    """(what, bytes, case_insensitive) for every identifier and form."""
    out = []
    for p in PATIENTS:
        out += [(f"NHS number {p['nhs']}", f, False) for f in nhs_number_forms(p["nhs"])]
        for field in ("given", "family", "street", "postcode"):
            folded, exact = text_forms(p[field])
            out += [(f"{field} {p[field]}", f, True) for f in folded]
            out += [(f"{field} {p[field]}", f, False) for f in exact]
        out += [(f"birth date {p['dob']}", f, False) for f in date_forms(p["dob"])]
    for typo in TYPOS:
        out += [(f"mistyped NHS number {typo}", f, False) for f in nhs_number_forms(typo)]
    return out


def find_identifiers(data, where):
    """Every identifier form found in data, as (what, form, where)."""
    lowered = data.lower()
    return [(what, form, where) for what, form, folded in needles()
            if form in (lowered if folded else data)]


def pid(p, nhs=None, visit="V1"):
    y, m, d = p["dob"].split("-")
    return (f"PID|1||{visit}^^^RXC^MR~{nhs or p['nhs']}^^^NHS^NH||{p['family'].upper()}^"
            f"{p['given']}^^^Mx||{y}{m}{d}|F|||{p['street']}^^Eastbourne^^{p['postcode']}^GBR"
            f"||01323 000000|||||{'ACC' + visit if visit else ''}")


def adt_message(trigger, control_id, p, visit, nhs=None, when="20260510093000"):
    """harness.adt's message with the patient's own PID, a next of kin and
    an attending doctor: the person data a PAS sends."""
    segments = adt(trigger, control_id, nhs or p["nhs"], visit, when=when,
                   extra_pv1={7: "C123^Heart^Harry"}).split("\r")
    at = next(i for i, s in enumerate(segments) if s.startswith("PID|"))
    segments[at:at + 1] = [pid(p, nhs, visit), f"NK1|1|{p['family'].upper()}^Kin|SPO^Spouse|"
                           f"{p['street']}^^Eastbourne^^{p['postcode']}"]
    return "\r".join(segments)


def uk_date(iso):
    y, m, d = iso.split("-")
    return f"{d}/{m}/{y}"


class PatientData(unittest.TestCase):

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="cd-pd-")
        self.daemon = Daemon(self.workdir, **adapter_settings(self.workdir),
                             **{"hl7.provider": "RXC_PAS=RXC", "log.level": "debug"})
        self.daemon.start()
        self.hl7 = Adapter(self.daemon, HL7).start()
        self.spool = Adapter(self.daemon, SPOOL).start()
        self.printed = []  # what the operator's tools printed: searched too

    def tearDown(self):
        try:
            stop_cleanly(self, self.hl7, self.spool, self.daemon)
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def send_hl7(self):
        """Returns how many events the daemon should store from HL7."""
        client = MllpClient(self.daemon.settings["hl7.listen"])
        stored = 0

        def expect(message, code):
            client.send(message)
            ack = ack_fields(client.ack())
            self.assertEqual(ack["MSA"][1], code, ack)

        for i, p in enumerate(PATIENTS):
            expect(adt_message("A01", f"PD-A01-{i}", p, f"VPD{i}"), "AA")
            expect(adt_message("A08", f"PD-A08-{i}", p, f"VPD{i}"), "AA")
            stored += 2
        # An NHS number written 3-3-4 with spaces is the same patient.
        expect(adt_message("A03", "PD-A03-0", PATIENTS[0], "VPD0", nhs=spaced(PATIENTS[0]["nhs"]),
                           when="20260510170000"), "AA")
        stored += 1
        # Refused at the source, each carrying a whole PID: a mistyped NHS
        # number, an unknown trigger, a message without its visit number.
        expect(adt_message("A01", "PD-BAD-1", PATIENTS[1], "VPDX", nhs=TYPOS[0]), "AE")
        expect(adt_message("A01", "PD-BAD-2", PATIENTS[2], "VPDY").replace(
            "ADT^A01^ADT_A01", "ADT^A99^ADT_A99"), "AE")
        expect(adt_message("A01", "PD-BAD-3", PATIENTS[3], ""), "AE")
        # Taken by the adapter, rejected by the daemon (the same control id
        # with other content): a dead letter in the daemon and the outbox.
        expect(adt_message("A01", "PD-A01-4", PATIENTS[5], "VPDZ"), "AA")
        client.close()
        return stored

    def send_spool(self):
        """Returns how many events the daemon should store from the spool."""
        directory = self.daemon.settings["spool.directory"]
        p = PATIENTS
        # Extra columns (names, birth dates, addresses) are never read.
        rows = ["NHS Number,Forename,Surname,Date of Birth,Address,Postcode,Provider Code,"
                "Discharge Ready Date,Pathway,LA Code,Report Date"]
        line = "{nhs},{given},{family},{dob},{street},{postcode},RXC,{ready},{pathway},E10000011,2026-05-10"
        rows += [line.format(nhs=q["nhs"], given=q["given"], family=q["family"],
                             dob=uk_date(q["dob"]), street=q["street"], postcode=q["postcode"],
                             ready="2026-05-08", pathway=i % 4) for i, q in enumerate(p[:4])]
        good = 4
        rows.append(line.format(nhs=spaced(p[4]["nhs"]), given=p[4]["given"], family=p[4]["family"],
                                dob=uk_date(p[4]["dob"]), street=p[4]["street"],
                                postcode=p[4]["postcode"], ready="2026-05-09", pathway=1))
        good += 1
        # Bad rows: a mistyped number, a bad date, the number in the wrong column.
        rows.append(line.format(nhs=TYPOS[1], given=p[1]["given"], family=p[1]["family"],
                                dob=uk_date(p[1]["dob"]), street=p[1]["street"],
                                postcode=p[1]["postcode"], ready="2026-05-08", pathway=1))
        rows.append(line.format(nhs=p[5]["nhs"], given=p[5]["given"], family=p[5]["family"],
                                dob=uk_date(p[5]["dob"]), street=p[5]["street"],
                                postcode=p[5]["postcode"], ready="2026-13-45", pathway=1))
        rows.append(line.format(nhs=p[3]["nhs"], given=p[3]["given"], family=p[3]["family"],
                                dob=uk_date(p[3]["dob"]), street=p[3]["street"],
                                postcode=p[3]["postcode"], ready="2026-05-08", pathway=p[3]["nhs"]))
        drop_spool_file(directory, "discharges.csv", "\r\n".join(rows) + "\r\n")

        # Care packages: one good; one whose package id is built from the
        # NHS number (refused, not echoed); birth dates in an extra column.
        packages = ["NHS Number,Client Name,Date of Birth,Council,Package ID,Service Type,"
                    "Start Date"]
        packages.append(f"{p[0]['nhs']},{p[0]['given']} {p[0]['family']},{p[0]['dob']},E10000011,"
                        "PKG-PD-1,Nursing,2026-04-01")
        packages.append(f"{p[1]['nhs']},{p[1]['given']} {p[1]['family']},{p[1]['dob']},E10000011,"
                        f"PKG-{p[1]['nhs']},Nursing,2026-04-01")
        good += 1
        drop_spool_file(directory, "packages.csv", "\r\n".join(packages) + "\r\n")

        # No header row: the first row is a person's; the file fails whole.
        headless = [f"{q['nhs']},{q['family'].upper()},{q['given']},{uk_date(q['dob'])},RXC,"
                    f"2026-05-08,1" for q in p]
        drop_spool_file(directory, "no_header.csv", "\r\n".join(headless) + "\r\n")

        self.dropped = ["discharges.csv", "packages.csv", "no_header.csv"]
        for name, where in (("discharges.csv", "done"), ("packages.csv", "done"),
                            ("no_header.csv", "failed")):
            wait_for(lambda n=name, w=where: os.path.exists(os.path.join(directory, w, n)),
                     what=f"{where}/{name}")
        with open(os.path.join(directory, "done", "discharges.csv.errors.csv")) as f:
            self.assertEqual(len(f.read().splitlines()), 1 + 3, "three bad rows expected")
        with open(os.path.join(directory, "done", "packages.csv.errors.csv")) as f:
            self.assertIn("NHS number", f.read())
        return good

    def ctl_print(self, *args):
        proc = self.daemon.ctl(*args, check=True)
        self.printed.append((f"commissionctl {' '.join(args)}", proc.stdout + proc.stderr))
        return proc.stdout

    def test_no_patient_identifier_is_written_or_printed_anywhere_in_any_form(self):
        expected = self.send_hl7() + self.send_spool()
        wait_for(lambda: self.daemon.status()["events"] == expected and
                 self.daemon.status()["deadLetters"] >= 1, timeout=60,
                 what=f"{expected} events and the dead letter")
        # What an operator looks at: the log, the dead letters, the figures,
        # the stream of updates, the metrics.
        self.ctl_print("events")
        self.assertIn("event id reused", self.ctl_print("deadletters"))
        self.ctl_print("show", "all", "--as-of", "1778450400000")
        self.ctl_print("status")
        self.ctl_print("digest")
        last = self.daemon.status()["lastUpdateSequence"]
        self.ctl_print("tail", "--from", "0", "--count", str(last))
        for path in ("/metrics", "/api/v1/discharges?as_of=1778450400000",
                     "/api/v1/flow?as_of=1778450400000"):
            self.printed.append((f"GET {path}", self.http_get(path)))
        archive = self.archive()
        # Stopped cleanly: every log line and outbox page is written.
        for proc in (self.hl7, self.spool):
            self.assertEqual(proc.stop(), 0, proc.log_text())
        self.assertEqual(self.daemon.stop(), 0, self.daemon.log_text())

        directory = self.daemon.settings["spool.directory"]
        excluded = {os.path.join(directory, where, name) for name in self.dropped
                    for where in ("done", "failed")}
        self.assertEqual([n for n in os.listdir(directory) if n.endswith(".csv")], [],
                         "a spool file was left behind")
        hits, searched = [], []
        for root, _dirs, files in os.walk(self.workdir):
            for name in files:
                path = os.path.join(root, name)
                if path in excluded or not os.path.isfile(path):
                    continue
                with open(path, "rb") as f:
                    data = f.read()
                searched.append(os.path.relpath(path, self.workdir))
                hits += find_identifiers(data, os.path.relpath(path, self.workdir))
        for what, text in self.printed:
            hits += find_identifiers(text.encode(), what)
        # The search must have looked where the data went.
        for must in ("store/data.mdb", "hl7-outbox/data.mdb", "spool-outbox/data.mdb",
                     "commissiond.log", "commissiond-hl7.log", "commissiond-spool.log",
                     "spool/done/discharges.csv.errors.csv", "spool/failed/no_header.csv.reason.txt"):
            self.assertIn(must, searched)
        self.assertIn(os.path.relpath(archive, self.workdir), searched)
        self.assertEqual(hits, [], "patient identifiers found:\n" + "\n".join(
            f"  {what} as {form!r} in {where}" for what, form, where in hits[:40]))
        # And the search can find them: the source copies hold every one.
        with open(os.path.join(directory, "done", "discharges.csv"), "rb") as f:
            found = {what for what, _form, _where in find_identifiers(f.read(), "source")}
        self.assertIn(f"NHS number {PATIENTS[0]['nhs']}", found)
        self.assertIn(f"birth date {PATIENTS[0]['dob']}", found)
        self.assertIn(f"family {PATIENTS[0]['family']}", found)
        self.daemon.start()  # tearDown stops it again

    def http_get(self, path):
        status, body = http_get(self.daemon, path)
        self.assertEqual(status, 200, f"{path}: {body}")
        return body

    def archive(self):
        """Every event so far into an archive file (docs/ARCHIVE.md), which is
        then searched like the rest."""
        target = os.path.join(self.workdir, "events.archive")
        proc = self.daemon.ctl("archive", "--before", "2100-01-01", "--out", target)
        self.assertEqual(proc.returncode, 0, f"commissionctl archive: {proc.stderr}")
        self.printed.append(("commissionctl archive", proc.stdout + proc.stderr))
        self.assertGreater(os.path.getsize(target), 0)
        return target

if __name__ == "__main__":
    unittest.main()
