"""The HTTP API's flow and delayed-discharge figures against the fold.

The daemon answers /api/v1/flow and its tables from its running totals
moved to the as_of asked (or, before their as-of, from a fold of the spells
one at a time), and /api/v1/discharges and its tables from the ready
reports and the indexes by person; `commissionctl show` folds every history
(DOMAIN.md, How every figure is worked out). The two must give the same
figures at the same as_of, as JSON and as CSV, over days whose events lie
before and after the daemon's clock (so that patients come in and leave as
the as_of moves, across midnight), and for the worked examples. And the
present answer must not read every history: the histories read, counted
in /metrics, stay far below the spells stored."""
import csv
import datetime
import io
import json
import os
import re
import shutil
import tempfile
import time
import unittest
import urllib.error
import urllib.request
from zoneinfo import ZoneInfo

import examples
from harness import (TABLES, Daemon, DaemonTestCase, fresh_daemon, pause, preload_env, resume,
                     decode_ack, sample_day, table_rows, wait_for)

LONDON = ZoneInfo("Europe/London")
YEAR_MS = 365 * 86_400_000
# The tables the fold makes (flow and discharges), as harness.TABLES says.
FOLD_AREAS = ("flow", "discharges")
FOLD_TABLES = [route for route, (area, *_) in TABLES.items() if area in FOLD_AREAS]


def spells_ahead(days, patients, seed):
    """Sample days from ten days on: spells still to come in, each with its
    timer at its admission, so that an as-of (or a clock) a year on finds
    them all due."""
    first = datetime.datetime.now(LONDON).date() + datetime.timedelta(days=10)
    return [e for k in range(days)
            for e in sample_day((first + datetime.timedelta(days=k)).isoformat(), patients,
                                seed=seed + k)]


def london_midnight_ms(date):
    return int(datetime.datetime.combine(date, datetime.time(), LONDON).timestamp() * 1000)


def csv_of(rows, keys):
    """The CSV http.c writes for rows: nested objects as dotted columns,
    lists and numbers as JSON, null empty; key columns first, then sorted."""
    def flatten(out, prefix, obj):
        for k, v in obj.items():
            name = f"{prefix}.{k}" if prefix else k
            if isinstance(v, dict):
                flatten(out, name, v)
            else:
                out[name] = v
    flat = []
    for row in rows:
        f = {}
        flatten(f, "", row)
        flat.append(f)
    columns = sorted({c for f in flat for c in f} - set(keys))
    columns = [k for k in keys if not flat or any(k in f for f in flat)] + columns

    def text(v):
        if v is None:
            return ""
        if isinstance(v, str):
            return v
        return json.dumps(v, separators=(",", ":"))
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(columns)
    for f in flat:
        w.writerow([text(f.get(c)) for c in columns])
    return out.getvalue()


class Figures:
    """GETs on one daemon, and the fold of `commissionctl show`."""

    def __init__(self, daemon):
        self.daemon = daemon
        self.base = "http://" + daemon.settings["http.listen"]

    def get(self, path):
        with urllib.request.urlopen(self.base + path, timeout=120) as r:
            return r.status, r.read().decode()

    def get_json(self, path):
        status, body = self.get(path)
        assert status == 200, (path, status, body)
        return json.loads(body)

    def table(self, table, query):
        """Every row of a table over its pages, and the as_of it was for."""
        rows, cursor, as_of = [], None, None
        while True:
            q = query + ("&" if query else "") + "limit=7" + (f"&cursor={cursor}" if cursor else "")
            page = self.get_json(f"/api/v1/{table}?{q}")
            as_of = page["as_of"]
            rows += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return rows, as_of, page["total"]

    def fold(self, area, as_of, *filters):
        figures = json.loads(self.daemon.ctl("show", area, "--as-of", str(as_of), *filters,
                                             check=True).stdout)
        assert figures.pop("as_of") == as_of  # show says it; the figures do not hold it
        return figures

    def metric(self, name):
        _, text = self.get("/metrics")
        m = re.search(rf"^{name} (\d+)$", text, re.M)
        assert m, f"{name} not in /metrics"
        return int(m.group(1))


def check_at(test, fig, as_of, tables=FOLD_TABLES, with_csv=False, filters=()):
    """Every table and both areas at as_of, against the fold."""
    query = "&".join([f"as_of={as_of}"] + [f"{k}={v}" for k, v in filters])
    show_filters = [x for k, v in filters for x in (f"--{k}", v)]
    folds = {area: fig.fold(area, as_of, *show_filters) for area in FOLD_AREAS}
    for area, fold in folds.items():
        answer = fig.get_json(f"/api/v1/{area}?{query}")
        test.assertEqual(answer["as_of"], as_of)
        test.assertEqual(answer["figures"], fold, f"/api/v1/{area} as of {as_of} {filters}")
    for table in tables:
        area, _, _, keys = TABLES[table]
        want = table_rows(table, folds[area])
        rows, answered_as_of, total = fig.table(table, query)
        test.assertEqual(answered_as_of, as_of)
        test.assertEqual(total, len(want), f"{table} as of {as_of}")
        test.assertEqual(rows, want, f"/api/v1/{table} as of {as_of} {filters}")
        if with_csv:
            status, body = fig.get(f"/api/v1/{table}?{query}&format=csv&limit=1000")
            test.assertEqual(status, 200)
            test.assertEqual(body, csv_of(want, keys), f"{table} as CSV as of {as_of}")
    return folds


class AcrossDays(unittest.TestCase):
    """Three sample days: yesterday, today and tomorrow by the daemon's
    clock, so that the running totals hold spells still to come in and to
    leave, and cases whose days delayed grow as the as_of moves."""

    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="cd-hf-")
        # Every past as_of here is folded: no interval between folds.
        cls.daemon = Daemon(cls.workdir, **{"http.fold_wait_factor": "0"})
        cls.daemon.start()
        cls.today = datetime.datetime.now(LONDON).date()
        events = []
        for n, delta in enumerate((-1, 0, 1)):
            day = (cls.today + datetime.timedelta(days=delta)).isoformat()
            events += sample_day(day, 60, seed=n + 1)
        acks, proc = cls.daemon.send(events)
        statuses = {a["status"] for a in acks}
        assert statuses <= {"ACK_STATUS_ACCEPTED", "ACK_STATUS_DUPLICATE"}, (statuses, proc.stderr)
        cls.spells = len({(e.get("source"), json.dumps(e.get(k, {}).get("spellPseudonym")))
                          for e in events for k in e if k.startswith("patient")})
        cls.fig = Figures(cls.daemon)

    @classmethod
    def tearDownClass(cls):
        rc = cls.daemon.stop()
        report = cls.daemon.sanitizer_report()
        log = cls.daemon.log_text()
        shutil.rmtree(cls.workdir, ignore_errors=True)
        assert rc == 0 and report is None, log

    def test_the_present_as_json_and_csv_is_the_fold(self):
        # The default as_of is now: the answer says which instant it was.
        answer = self.fig.get_json("/api/v1/flow")
        check_at(self, self.fig, answer["as_of"], with_csv=True)

    def test_as_the_as_of_moves_through_tomorrow_and_past_midnight(self):
        tomorrow = london_midnight_ms(self.today + datetime.timedelta(days=1))
        after = london_midnight_ms(self.today + datetime.timedelta(days=2))
        for as_of in (int(time.time() * 1000) + 3_600_000, tomorrow - 1, tomorrow,
                      tomorrow + 10 * 3_600_000, after - 1, after, after + 40 * 86_400_000):
            with self.subTest(as_of=as_of):
                check_at(self, self.fig, as_of, with_csv=as_of == after)

    def test_an_as_of_before_the_running_totals_is_folded_and_the_same(self):
        yesterday_noon = london_midnight_ms(self.today) - 12 * 3_600_000
        check_at(self, self.fig, yesterday_noon, with_csv=True)
        # Flow is folded for another as_of, once for its area and tables
        # (kept until the next batch); delayed discharges never are.
        other = yesterday_noon + 1
        for path, folded in ((f"/api/v1/flow?as_of={other}", 1),
                             (f"/api/v1/flow/icbs?as_of={other}", 0),
                             (f"/api/v1/flow/providers?as_of={other}", 0),
                             (f"/api/v1/discharges?as_of={other}", 0)):
            folds = self.fig.metric("commissiond_figures_folds_total")
            self.fig.get_json(path)
            self.assertEqual(self.fig.metric("commissiond_figures_folds_total") - folds, folded,
                             path)

    def test_filters_cut_the_same_rows(self):
        as_of = int(time.time() * 1000) + 60_000
        for f in (("icb", "QNX"), ("org", "RXC"), ("council", "E10000011")):
            with self.subTest(filter=f):
                check_at(self, self.fig, as_of, filters=(f,))

    def test_the_present_answer_does_not_read_every_history(self):
        self.assertGreater(self.spells, 100)
        as_of = int(time.time() * 1000) + 1000
        # A discharges reading loads the small kinds (reference data and
        # commissioners' records) from its own snapshot of the store.
        kinds = json.loads(self.daemon.ctl("digest", check=True).stdout)["kinds"]
        small = sum(kinds.get(k, {}).get("histories", 0) for k in (
            "organisation", "service", "contract", "spend", "budget", "capacity_line",
            "declaration"))
        self.assertGreater(small, 0)
        for path in ("/api/v1/flow", "/api/v1/flow/providers", "/api/v1/discharges/cases",
                     "/api/v1/discharges"):
            with self.subTest(path=path):
                before = self.fig.metric("commissiond_store_histories_read_total")
                folds = self.fig.metric("commissiond_figures_folds_total")
                self.fig.get_json(f"{path}?as_of={as_of}")
                read = self.fig.metric("commissiond_store_histories_read_total") - before
                print(f"{path}: {read} histories read of {self.spells} spells")
                self.assertEqual(self.fig.metric("commissiond_figures_folds_total"), folds)
                # Flow reads none but the spells whose timers fall due;
                # discharges, the ready reports' (twice) and packages',
                # and the small kinds'.
                self.assertLess(read, self.spells / 2 + (small if "discharges" in path else 0),
                                path)
        # The fold does read them all: the counter can tell.
        before = self.fig.metric("commissiond_store_histories_read_total")
        self.fig.get_json("/api/v1/flow?as_of=1000")
        self.assertGreaterEqual(
            self.fig.metric("commissiond_store_histories_read_total") - before, self.spells)


class FoldInterval(DaemonTestCase):
    """A past as_of for flow folds every spell while ingest waits: after a
    fold that took T, another waits T x [http] fold_wait_factor (429 with
    Retry-After); the as_of just folded is answered from that fold until
    the next batch; the present, and discharges at any as_of, are never
    held back."""

    # A factor so large that any fold's wait outlasts the test.
    settings = {"http.fold_wait_factor": "100000000"}

    def test_a_fold_too_soon_is_429_and_the_last_fold_and_the_present_are_not(self):
        daemon = self.daemon
        daemon.send(sample_day(datetime.date.today().isoformat(), 20))
        fig = Figures(daemon)
        folds = fig.metric("commissiond_figures_folds_total")
        past = int(time.time() * 1000) - 86_400_000
        for path in (f"/api/v1/flow?as_of={past}", f"/api/v1/flow/icbs?as_of={past}",
                     f"/api/v1/flow/providers?as_of={past}&format=csv"):
            self.assertEqual(fig.get(path)[0], 200, path)
        self.assertEqual(fig.metric("commissiond_figures_folds_total"), folds + 1)
        for path in (f"/api/v1/flow?as_of={past - 1}", f"/api/v1/flow/icbs?as_of={past + 1}"):
            with self.assertRaises(urllib.error.HTTPError) as caught:
                fig.get(path)
            self.assertEqual(caught.exception.code, 429, path)
            self.assertGreaterEqual(int(caught.exception.headers["Retry-After"]), 1)
            error = json.loads(caught.exception.read())["error"]
            self.assertEqual(error["parameter"], "as_of")
            self.assertIn("fold_wait_factor", error["message"])
        for path in ("/api/v1/flow", "/api/v1/flow/providers",
                     f"/api/v1/discharges?as_of={past}",
                     f"/api/v1/discharges/cases?as_of={past}"):
            self.assertEqual(fig.get(path)[0], 200, path)
        # A batch may move any figure: the kept fold goes with it.
        daemon.send(sample_day(datetime.date.today().isoformat(), 2, seed=9))
        with self.assertRaises(urllib.error.HTTPError) as caught:
            fig.get(f"/api/v1/flow?as_of={past}")
        self.assertEqual(caught.exception.code, 429)


class ReadInSlices(DaemonTestCase):
    """The discharges area and its tables, and flow for an as_of that folds
    every spell, are read from a snapshot of the store a slice of the loop
    at a time ([http] reading_slice_us), ingest running between the slices:
    with one person (or spell) a slice, the answers are still the fold's,
    and events sent while one is read are committed before it is answered,
    without showing in it."""

    settings = {"http.reading_slice_us": "1", "log.level": "debug",
                "http.fold_wait_factor": "0", "ingest.batch_limit": "8"}

    def daemon_env(self):
        # hold.c holds the daemon's loop in a commit while the hold file
        # exists: its ZeroMQ threads go on taking what is sent meanwhile.
        self.hold = os.path.join(self.workdir, "hold")
        self.entered = os.path.join(self.workdir, "entered")
        return preload_env(self.workdir, "hold", HOLD_CALL="mdb_txn_commit",
                           HOLD_FILE=self.hold, HOLD_ENTERED=self.entered)

    def test_answers_read_a_person_or_a_spell_a_slice_are_the_fold(self):
        today = datetime.datetime.now(LONDON).date()
        self.daemon.send(sample_day(today.isoformat(), 60))
        fig = Figures(self.daemon)
        slices = fig.metric("commissiond_figures_reading_slices_total")
        check_at(self, fig, int(time.time() * 1000) + 3_600_000,
                 tables=[t for t in FOLD_TABLES if t.startswith("discharges")])
        # Each of the 4 answers (the area, 3 tables) took many slices.
        self.assertGreater(fig.metric("commissiond_figures_reading_slices_total") - slices, 40)
        # Flow before the running totals' as-of: a fold, a spell a slice.
        slices = fig.metric("commissiond_figures_reading_slices_total")
        folds = fig.metric("commissiond_figures_folds_total")
        check_at(self, fig, int(time.time() * 1000) - 3_600_000,
                 tables=[t for t in FOLD_TABLES if t.startswith("flow")])
        self.assertGreater(fig.metric("commissiond_figures_folds_total"), folds)
        # The area's fold alone, with a spell or more each, took many.
        self.assertGreater(fig.metric("commissiond_figures_reading_slices_total") - slices, 40)
        self.assertEqual(fig.metric("commissiond_figures_readings"), 0)

    def send_ahead(self, days):
        """Hundreds of timers due within a year (spells_ahead)."""
        self.daemon.send(spells_ahead(days, 150, seed=20))

    def check_ingest_goes_on(self, route, query):
        import http.client
        import zmq
        from protopack import pack_envelope
        today = datetime.datetime.now(LONDON).date()
        first = sample_day(today.isoformat(), 400)
        self.daemon.send(first)
        # The next day's events, less the reference data both days send.
        sent = {(e["source"], e["eventId"]) for e in first}
        more = [e for e in sample_day((today + datetime.timedelta(days=1)).isoformat(), 200,
                                      seed=2) if (e["source"], e["eventId"]) not in sent][:64]
        sender = zmq.Context.instance().socket(zmq.DEALER)
        sender.setsockopt(zmq.LINGER, 0)
        sender.connect(self.daemon.settings["ingest.endpoint"])
        # Connected (an envelope answered), the daemon's loop is held in
        # the commit of the next one; 62 envelopes and a request wait for
        # it, taken in by its ZeroMQ threads meanwhile (a SIGSTOP stopped
        # those too, and they could hand the envelopes on after the reading
        # was done). Let go, the loop takes the envelopes a batch ([ingest]
        # batch_limit 8) a turn, so some are committed between the slices
        # of the reading, whichever of the two it takes first.
        sender.send(pack_envelope(more[0]))
        self.assertTrue(sender.poll(30_000), "the first envelope was not answered")
        sender.recv()
        host, port = self.daemon.settings["http.listen"].rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        open(self.hold, "w").close()
        try:
            sender.send(pack_envelope(more[1]))
            wait_for(lambda: os.path.exists(self.entered), timeout=30,
                     what="a commit held")
            for event in more[2:]:
                sender.send(pack_envelope(event))
            conn.request("GET", route + query())
            time.sleep(0.2)  # for the sockets' own threads to take the bytes in
        finally:
            os.unlink(self.hold)
        response = conn.getresponse()
        body = response.read().decode()
        conn.close()
        self.assertEqual(response.status, 200, body)
        answer = json.loads(body)
        acks = []
        while len(acks) < len(more) - 1:
            self.assertTrue(sender.poll(30_000), f"{len(acks)} of {len(more) - 1} answered")
            acks.append(decode_ack(sender.recv()))
        sender.close()
        # The daemon's own account of the reading (at debug level).
        meanwhile = re.compile(rf"http: {route} read in (\d+) slices .*, as of "
                               r"event (\d+); (\d+) events committed meanwhile")
        read = [m.groups() for m in meanwhile.finditer(self.daemon.log_text())]
        self.assertEqual(len(read), 1, self.daemon.log_text()[-2000:])
        slices, as_of_event, committed = map(int, read[0])
        self.assertGreater(slices, 10)
        self.assertEqual(as_of_event, answer["last_sequence"])
        self.assertGreater(committed, 0, f"no event was committed while {route} was "
                           f"read: (slices, as of event, committed meanwhile) {read}")
        # Those events were acked while the answer was still being read, and
        # are not in it: it is the figures as of its snapshot.
        self.assertTrue(all(ack["status"] == "ACCEPTED" for ack in acks), acks)
        self.assertTrue(any(ack["sequence"] > answer["last_sequence"] for ack in acks))

    def test_ingest_goes_on_while_the_discharges_are_read(self):
        self.check_ingest_goes_on("/api/v1/discharges", lambda: "")

    def test_ingest_goes_on_while_flow_is_folded(self):
        # An hour back: before the running totals' as-of, whatever is sent.
        self.check_ingest_goes_on("/api/v1/flow",
                                  lambda: f"?as_of={int(time.time() * 1000) - 3_600_000}")

    def test_ingest_goes_on_while_flow_is_moved_on(self):
        # A year ahead: every spell's timer falls due, hundreds of them.
        self.send_ahead(2)
        self.check_ingest_goes_on("/api/v1/flow",
                                  lambda: f"?as_of={int(time.time() * 1000) + YEAR_MS}")

    def test_flow_ahead_read_a_timer_a_slice_is_the_fold(self):
        self.send_ahead(3)
        fig = Figures(self.daemon)
        slices = fig.metric("commissiond_figures_reading_slices_total")
        folds = fig.metric("commissiond_figures_folds_total")
        check_at(self, fig, int(time.time() * 1000) + YEAR_MS,
                 tables=[t for t in FOLD_TABLES if t.startswith("flow")])
        self.assertEqual(fig.metric("commissiond_figures_folds_total"), folds)
        # Flow and its tables, each a timer a slice: more than the few
        # hundred timers due that are read at once, each time.
        self.assertGreater(fig.metric("commissiond_figures_reading_slices_total") - slices,
                           4 * 256)
        self.assertEqual(fig.metric("commissiond_figures_readings"), 0)


    def test_a_reading_whose_client_went_is_let_go(self):
        # libevent does not read a connection while its request is held:
        # the daemon peeks at it before each slice.
        import socket
        today = datetime.datetime.now(LONDON).date()
        self.daemon.send(sample_day(today.isoformat(), 100))
        fig = Figures(self.daemon)
        host, port = self.daemon.settings["http.listen"].rsplit(":", 1)
        past = int(time.time() * 1000) - 3_600_000
        for route, query in (("/api/v1/discharges", ""), ("/api/v1/flow", f"?as_of={past}")):
            # The daemon stopped while the client asks and goes: it finds
            # the request and the end of the connection together, and no
            # reading, however short, ends before it sees that the client went.
            with socket.create_connection((host, int(port))) as s:
                pause(self.daemon)
                try:
                    s.sendall(f"GET {route}{query} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
                finally:
                    s.close()
                    resume(self.daemon)
            went = f"http: {route}: the client went"
            deadline = time.monotonic() + 30
            while went not in self.daemon.log_text() and time.monotonic() < deadline:
                time.sleep(0.01)
            self.assertIn(went, self.daemon.log_text())
            self.assertNotIn(f"http: {route} read in", self.daemon.log_text())
        self.assertEqual(fig.metric("commissiond_figures_readings"), 0)
        # The daemon still answers, the fold included.
        self.assertEqual(fig.get_json(f"/api/v1/flow?as_of={past}")["as_of"], past)


class FoldsOneAtATime(DaemonTestCase):
    """Flow for a past as_of asked as the area and its tables at once (a
    dashboard's page) folds once: the others wait for that fold and are
    answered from it, not refused by [http] fold_wait_factor."""

    settings = {"http.reading_slice_us": "1", "http.fold_wait_factor": "100000000"}

    def test_the_area_and_its_tables_at_once_fold_once(self):
        import concurrent.futures
        self.daemon.send(sample_day(datetime.datetime.now(LONDON).date().isoformat(), 200))
        fig = Figures(self.daemon)
        folds = fig.metric("commissiond_figures_folds_total")
        past = int(time.time() * 1000) - 3_600_000
        paths = [f"/api/v1/flow?as_of={past}", f"/api/v1/flow/icbs?as_of={past}",
                 f"/api/v1/flow/providers?as_of={past}"]
        with concurrent.futures.ThreadPoolExecutor(len(paths)) as pool:
            answers = list(pool.map(fig.get_json, paths))
        self.assertEqual(fig.metric("commissiond_figures_folds_total"), folds + 1)
        fold = fig.fold("flow", past)
        self.assertEqual(answers[0]["figures"], fold)
        for path, answer in zip(paths[1:], answers[1:]):
            table = path.split("?")[0][len("/api/v1/"):]
            self.assertEqual(answer["items"], table_rows(table, fold)[:100], path)
            self.assertEqual(answer["last_sequence"], answers[0]["last_sequence"])
        # Another as_of is a fold of its own: too soon, refused.
        with self.assertRaises(urllib.error.HTTPError) as caught:
            fig.get(f"/api/v1/flow?as_of={past - 1}")
        self.assertEqual(caught.exception.code, 429)


REMAKE = "the derived state does not match the histories; remaking it"


class StoreOperations(DaemonTestCase):
    """What writes the store outside ingest (archive --prune, load, a
    migration of the store's format) leaves the derived state right: the
    next start does not remake it, and the answers are still the fold's."""

    settings = {"http.fold_wait_factor": "0"}

    def test_archive_prune_load_and_a_migration_keep_the_derived_state(self):
        import lmdb
        daemon = self.daemon
        # A new store makes its derived state without the upgrade's message.
        self.assertEqual(daemon.log_text().count(REMAKE), 0, daemon.log_text())
        today = datetime.datetime.now(LONDON).date()
        daemon.send(sample_day((today - datetime.timedelta(days=1)).isoformat(), 30))
        time.sleep(1.1)
        cut = time.time()
        time.sleep(1.1)
        daemon.send(sample_day(today.isoformat(), 30, seed=2))
        fig = Figures(daemon)
        as_of = int(time.time() * 1000) + 3_600_000
        before = check_at(self, fig, as_of)
        archive = os.path.join(self.workdir, "before.arc")
        stamp = datetime.datetime.fromtimestamp(cut, datetime.timezone.utc)
        proc = daemon.ctl("archive", "--before", stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
                          "--out", archive, "--prune")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertGreater(json.loads(proc.stdout)["removed"], 0)
        self.assertEqual(daemon.stop(), 0)
        daemon.start()
        self.assertEqual(check_at(self, fig, as_of), before)
        self.assertEqual(daemon.stop(), 0)
        proc = daemon.ctl("load", archive)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        daemon.start()
        self.assertEqual(check_at(self, fig, as_of), before)
        self.assertEqual(daemon.stop(), 0)
        # A store of format 1 (no commit times) is migrated at start.
        env = lmdb.open(daemon.settings["store.path"], max_dbs=16, map_size=1 << 30)
        with env.begin(write=True) as txn:
            txn.put(b"format_version", (1).to_bytes(8, "big"),
                    db=env.open_db(b"meta", txn=txn))
            txn.drop(env.open_db(b"received", txn=txn), delete=True)
        env.close()
        daemon.start()
        self.assertIn("migrated from format 1 to 2", daemon.log_text())
        self.assertEqual(check_at(self, fig, as_of), before)
        self.assertEqual(daemon.log_text().count(REMAKE), 0, daemon.log_text())
        # A derived state of another format (a release that changes it) is
        # remade, and that is said, once.
        self.assertEqual(daemon.stop(), 0)
        env = lmdb.open(daemon.settings["store.path"], max_dbs=16, map_size=1 << 30)
        with env.begin(write=True) as txn:
            txn.put(b"Mformat", (999).to_bytes(8, "big"), db=env.open_db(b"derived", txn=txn))
        env.close()
        daemon.start()
        self.assertEqual(check_at(self, fig, as_of), before)
        self.assertEqual(daemon.log_text().count(REMAKE), 1, daemon.log_text())


class WorkedExamples(unittest.TestCase):
    """DOMAIN.md's worked examples: at their as_of (before or after the
    daemon's clock) and long after it, the HTTP answers are the fold's."""

    def test_every_example(self):
        far = int(time.time() * 1000) + 400 * 86_400_000
        for name in examples.names():
            events, as_of, _ = examples.load(name)
            with self.subTest(example=name):
                with fresh_daemon(self, prefix="cd-hfx-",
                                  **{"http.fold_wait_factor": "0"}) as daemon:
                    daemon.send([examples.to_envelope(e) for e in events])
                    fig = Figures(daemon)
                    check_at(self, fig, as_of, with_csv=True)
                    check_at(self, fig, far)


if __name__ == "__main__":
    unittest.main()
