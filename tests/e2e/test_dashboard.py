"""The ICS dashboard in a real browser: Debian's headless Chromium, driven
with playwright-core (tests/e2e/browser/check.mjs, JSON lines in and out),
against a real commissiond serving the page and its API on [http] listen.

Set-up, done here on first use: /usr/bin/chromium is installed with
apt-get when absent (as root, as CI runs), and playwright-core from the
committed tests/e2e/browser/package-lock.json with `npm ci`. No browser is
downloaded by npm: Playwright drives Debian's Chromium.

What is checked, with the sample day (tools/sample-day --date 2026-05-11
--patients 200) sent:
- the page loads with no console error, no uncaught exception, no failed
  or error request and no request to another origin (Chart.js included:
  the daemon serves it);
- the figures it shows equal what the API answers (patients in hospital
  for the ICB and per provider, delayed-discharge cases and those waiting
  on social care, per council, beds, capacity at risk, a commissioner's
  allocation, the conflict alerts);
- the page works within its Content-Security-Policy, which refuses
  inline script;
- accessibility basics: landmarks, one h1, labelled controls, captioned
  tables with column headers, every chart also given as a table, the
  "last updated" line in an aria-live region, keyboard reach (Tab);
- one more admission sent changes the page within a few seconds, live
  from the SSE stream;
- the stream's backlog (it begins at the oldest update kept) does not make
  the page fetch again figures that already hold those updates;
- a table of thousands of rows (capacity lines) shows 100 at a time,
  with a pager that says where it is and keeps its page across updates;
- with no flow figures yet (no ICB to pick), updates for other areas do
  not make the page ask for the ICB list again each time; the first flow
  figures make it pick their ICB;
- an area slow to answer (2 s) is not asked again at once under a
  stream of its updates, and its figures still catch up;
- an area whose figures route answers an error (503 with Retry-After)
  is said in the error box, not asked again before Retry-After however
  many updates come, and the message goes once it answers again;
- when /readyz says the store cannot be read, the page says so and why
  (not "map or disk full");
- an as_of in the address that is not milliseconds is said, not dropped
  silently;
- an answer the page cannot show is said in the error box, and the area
  is fetched again on its next update;
- with an [http] token, the page opened as /?token=... (and no icb) picks
  the first ICB, takes the token out of the address bar, sends it, and
  stays live (the stream read with fetch, since EventSource cannot send
  headers); when the daemon stops the page says the API cannot be reached,
  and it recovers when the daemon is back, its stream resuming after the
  last update it read (Last-Event-ID).
Screenshots go to build/test-output/dashboard/ (under $COMMISSIOND_BUILD;
$DASHBOARD_TEST_OUTPUT overrides), and their paths are printed."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from harness import BUILD, DaemonTestCase, capacity, free_port, pseudonym

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
BROWSER_DIR = os.path.join(HERE, "browser")
OUTPUT = os.environ.get("DASHBOARD_TEST_OUTPUT",
                        os.path.join(BUILD, "test-output", "dashboard"))
CHROMIUM = "/usr/bin/chromium"
SAMPLE_DAY = os.path.join(ROOT, "tools", "sample-day")

# The last instant of 2026-05-11 in London (BST): the sample day's figures.
AS_OF = 1778540399999
# 2026-05-11 20:30 London: when the extra admission happens.
EXTRA_ADMISSION_AT = 1778527800000
LIVE_WITHIN_MS = 5000
TOKEN = "s3cret-dashboard-token"


# ---------------------------------------------------------------- set-up

def ensure_chromium():
    if os.path.exists(CHROMIUM):
        return
    if os.geteuid() != 0:
        raise AssertionError(f"{CHROMIUM} is missing and this test is not root: "
                             "apt-get install -y chromium")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    proc = subprocess.run(["apt-get", "install", "-y", "chromium"], env=env,
                          capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "chromium"], env=env, check=True,
                       capture_output=True, timeout=1800)


def ensure_playwright():
    with open(os.path.join(BROWSER_DIR, "package-lock.json")) as f:
        want = json.load(f)["packages"]["node_modules/playwright-core"]["version"]
    installed = os.path.join(BROWSER_DIR, "node_modules", "playwright-core", "package.json")
    try:
        with open(installed) as f:
            if json.load(f)["version"] == want:
                return
    except (OSError, ValueError, KeyError):
        pass
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                   cwd=BROWSER_DIR, check=True, capture_output=True, timeout=600)


def sample_day():
    proc = subprocess.run(["/usr/bin/python3", SAMPLE_DAY, "--date", "2026-05-11",
                           "--patients", "200"],
                          capture_output=True, text=True, check=True, timeout=120)
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def admission(n, provider="RXC", site="RXC01", at=EXTRA_ADMISSION_AT):
    return {
        "source": f"hl7:{provider}", "eventId": f"DASH-{n:04d}", "occurredAt": str(at),
        "patientAdmitted": {
            "patientPseudonym": pseudonym(n, "dash-p"), "spellPseudonym": pseudonym(n, "dash-s"),
            "provider": provider, "site": site, "ward": "WARD-9",
            "patientClass": "PATIENT_CLASS_INPATIENT", "treatmentFunction": "300",
        },
    }


def count(n):
    """A count as the page writes it (en-GB)."""
    return f"{n:,}"


def money(pence):
    sign = "−" if pence < 0 else ""
    pence = abs(pence)
    return f"{sign}£{pence // 100:,}.{pence % 100:02d}"


# ---------------------------------------------------------------- the browser

class Browser:
    """check.mjs: one command a line, one JSON answer a line."""

    def __init__(self, user_data_dir):
        self.proc = subprocess.Popen(["node", "check.mjs"], cwd=BROWSER_DIR, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.problems = []
        self.do("launch", user_data_dir=user_data_dir, width=1366, height=900)

    def do(self, cmd, **args):
        self.proc.stdin.write(json.dumps(dict(args, cmd=cmd)) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"check.mjs ended: {self.proc.stderr.read()}")
        answer = json.loads(line)
        self.problems.extend(answer.get("problems", []))
        if not answer["ok"]:
            raise AssertionError(f"browser {cmd}: {answer['error']}")
        return answer

    def read(self, **selectors):
        return self.do("read", selectors=selectors)["values"]

    def close(self):
        try:
            self.do("close")
        except (AssertionError, BrokenPipeError, ValueError):
            pass
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                pipe.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def cell(table, key, col):
    return f'#{table} tbody tr[data-key="{key}"] [data-col="{col}"]'


class DashboardCase(DaemonTestCase):
    token = None
    events = staticmethod(sample_day)     # what is sent before the page opens

    @classmethod
    def setUpClass(cls):
        ensure_chromium()
        ensure_playwright()
        os.makedirs(OUTPUT, exist_ok=True)

    def setUp(self):
        self.port = free_port()
        self.settings = {"http.listen": f"127.0.0.1:{self.port}"}
        if self.token:
            self.settings["http.token"] = self.token
        super().setUp()
        self.base = f"http://127.0.0.1:{self.port}"
        acks, proc = self.daemon.send(self.events())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.accepted = sum(1 for a in acks if a["status"] == "ACK_STATUS_ACCEPTED")
        self.profile = tempfile.mkdtemp(prefix="cd-chromium-")
        self.browser = Browser(self.profile)

    def tearDown(self):
        try:
            self.browser.close()
            shutil.rmtree(self.profile, ignore_errors=True)
        finally:
            super().tearDown()

    def api(self, path, **query):
        url = f"{self.base}/api/v1/{path}"
        if query:
            url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
        req = urllib.request.Request(url)
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(req, timeout=10) as res:
            return json.loads(res.read())

    def screenshot(self, name):
        path = os.path.abspath(os.path.join(OUTPUT, name))
        self.browser.do("screenshot", path=path)
        print(f"\ndashboard screenshot: {path}", flush=True)
        return path

    def assert_no_problems(self):
        problems, self.browser.problems = self.browser.problems, []
        self.assertEqual(problems, [], "the page had problems")


class Dashboard(DashboardCase):

    def test_figures_accessibility_and_live_update(self):
        # The daemon serves the page, its files and Chart.js itself.
        with urllib.request.urlopen(f"{self.base}/chart.js", timeout=10) as res:
            self.assertIn(b"Chart.js v", res.read(400))
        b = self.browser
        b.do("open", url=f"{self.base}/?icb=QNX&as_of={AS_OF}",
             wait_for="html[data-loaded=yes][data-live=yes]", timeout_ms=30000)
        self.assert_no_problems()

        q = {"icb": "QNX", "as_of": AS_OF}
        flow = self.api("flow", **q)
        discharges = self.api("discharges", **q)
        capacity = self.api("capacity", **q)
        finance = self.api("finance", **q)
        governance = self.api("governance", **q)
        self.assertEqual(flow["last_sequence"], self.accepted)

        fl = flow["figures"]["flow"]
        dq = discharges["figures"]["discharges"]["icbs"]["QNX"]["open"]
        councils = discharges["figures"]["discharges"]["councils"]
        cap = capacity["figures"]["capacity"]["icbs"]["QNX"]
        qnx_budget = finance["figures"]["finance"]["commissioners"]["QNX"]["2026-27"]
        alerts = governance["figures"]["governance"]["conflict_alerts"]
        day = fl["icbs"]["QNX"]["days"]["2026-05-11"]
        self.assertGreater(fl["icbs"]["QNX"]["in_hospital"], 0)
        self.assertGreater(dq["cases"], 0)
        self.assertGreater(cap["at_risk_places"], 0)

        shown = b.read(
            title="h1",
            in_hospital="#kpi-in-hospital",
            admissions="#kpi-admissions",
            discharges="#kpi-discharges",
            rxc_in_hospital=cell("flow-providers", "RXC", "in_hospital"),
            rxc_admissions=cell("flow-providers", "RXC", "admissions"),
            total_in_hospital=cell("flow-providers", "total", "in_hospital"),
            delayed="#kpi-delayed",
            waiting="#kpi-waiting-social-care",
            days_delayed="#kpi-days-delayed",
            council_cases=cell("discharges-councils", "E10000011", "cases"),
            council_waiting=cell("discharges-councils", "E10000011", "waiting"),
            beds="#kpi-beds",
            at_risk="#kpi-at-risk",
            icb_at_risk=cell("capacity-at-risk", "QNX", "at_risk"),
            allocated=cell("finance-commissioners", "QNX/2026-27", "allocated"),
            committed=cell("finance-commissioners", "QNX/2026-27", "committed"),
            alerts="#kpi-alerts",
            alert_rows="#governance-alerts tbody",
            status="#status",
        )
        self.assertIn("NHS Sussex Integrated Care Board (QNX)", shown["title"])
        self.assertEqual(shown["in_hospital"], count(fl["icbs"]["QNX"]["in_hospital"]))
        self.assertEqual(shown["total_in_hospital"], count(fl["icbs"]["QNX"]["in_hospital"]))
        self.assertEqual(shown["admissions"], count(day["admissions"]))
        self.assertEqual(shown["discharges"], count(day["discharges"]))
        self.assertEqual(shown["rxc_in_hospital"], count(fl["providers"]["RXC"]["in_hospital"]))
        self.assertEqual(shown["rxc_admissions"],
                         count(fl["providers"]["RXC"]["days"]["2026-05-11"]["admissions"]))
        self.assertEqual(shown["delayed"], count(dq["cases"]))
        self.assertEqual(shown["waiting"], count(dq["waiting_on_social_care"]))
        self.assertEqual(shown["days_delayed"], count(dq["days_delayed"]))
        self.assertEqual(shown["council_cases"], count(councils["E10000011"]["open"]["cases"]))
        self.assertEqual(shown["council_waiting"],
                         count(councils["E10000011"]["open"]["waiting_on_social_care"]))
        self.assertEqual(shown["beds"], f"{count(cap['occupied'])} / {count(cap['available'])}")
        self.assertTrue(shown["at_risk"].startswith(count(cap["at_risk_places"])), shown["at_risk"])
        self.assertEqual(shown["icb_at_risk"], count(cap["at_risk_places"]))
        self.assertEqual(shown["allocated"], money(qnx_budget["allocated"]))
        self.assertEqual(shown["committed"], money(qnx_budget["committed"]))
        self.assertEqual(shown["alerts"], count(len(alerts)))
        for alert in alerts:
            self.assertIn(alert["contract_id"], shown["alert_rows"])
        # Freshness: the last event stored, and the as-of.
        self.assertIn(f"#{flow['last_sequence']}", shown["status"])
        self.assertIn("11 May 2026, 23:59:59", shown["status"])

        audit = b.do("audit")["audit"]
        self.assertEqual(audit["lang"], "en-GB")
        self.assertEqual(audit["landmarks"], {"header": 1, "nav": 1, "main": 1, "footer": 1})
        self.assertEqual(audit["headings"][0], 1)
        self.assertEqual(audit["headings"].count(1), 1)
        self.assertTrue(all(h in (2, 3) for h in audit["headings"][1:]), audit["headings"])
        self.assertEqual(audit["unlabelled_controls"], [])
        self.assertEqual(audit["tables_without_caption"], [])
        self.assertEqual(audit["tables_without_headers"], [])
        self.assertIsNotNone(audit["chart_js"], "Chart.js did not load")
        self.assertGreaterEqual(len(audit["canvases"]), 4)
        for canvas in audit["canvases"]:
            self.assertEqual(canvas["role"], "img", canvas)
            self.assertTrue(canvas["name"], canvas)
            self.assertTrue(canvas["table"] and canvas["table_rows"] > 0,
                            f"chart {canvas['id']} is not also given as a table")
            self.assertTrue(canvas["drawn"], canvas)
        self.assertEqual(audit["live_region"]["id"], "status")
        self.assertEqual(audit["live_region"]["value"], "polite")
        focused = b.do("tab", count=4)["focused"]
        self.assertEqual(focused[0]["href"], "#main", focused)
        self.assertIn("icb-select", [f and f["id"] for f in focused])

        self.screenshot("dashboard-as-of.png")
        self.assert_no_problems()

        # The page works within its Content-Security-Policy (no violation
        # above), which refuses inline script: a value from the API that
        # reached the page as HTML could not run.
        ran = b.do("eval", expr="""(() => {
            const s = document.createElement("script");
            s.textContent = "window.inlineRan = true";
            document.head.appendChild(s);
            return window.inlineRan === true;
        })()""")["value"]
        self.assertFalse(ran, "inline script ran: no Content-Security-Policy")
        b.problems = []         # the refusal is reported on the console

        # Live: one more admission at RXC, inside the day shown.
        old = int(shown["rxc_in_hospital"].replace(",", ""))
        acks, proc = self.daemon.send([admission(1)])
        self.assertEqual(acks[0]["status"], "ACK_STATUS_ACCEPTED", acks)
        changed = b.do("wait_text", selector=cell("flow-providers", "RXC", "in_hospital"),
                       **{"not": shown["rxc_in_hospital"]}, timeout_ms=LIVE_WITHIN_MS)
        self.assertEqual(changed["value"], count(old + 1))
        after = self.api("flow", **q)["figures"]["flow"]
        self.assertEqual(after["providers"]["RXC"]["in_hospital"], old + 1)
        b.do("wait_text", selector="#kpi-in-hospital", **{"not": shown["in_hospital"]},
             timeout_ms=LIVE_WITHIN_MS)
        # The "last updated" line (an aria-live region) follows within its 5 s.
        b.do("wait_for", selector=f'#status[data-text*="#{self.accepted + 1} at"]',
             timeout_ms=LIVE_WITHIN_MS + 5000)
        now = b.read(in_hospital="#kpi-in-hospital")
        self.assertEqual(now["in_hospital"], count(after["icbs"]["QNX"]["in_hospital"]))
        self.screenshot("dashboard-after-admission.png")
        self.assert_no_problems()


class DashboardStreamBacklog(DashboardCase):
    """The stream, opened with no id to resume after, begins at the oldest
    update kept: the page must not fetch again what its figures hold."""

    def test_backlog_already_shown_is_not_fetched_again(self):
        # Thousands of updates already stored: the stream sends them first
        # (2,560 a second), after the page has fetched figures holding them.
        acks, proc = self.daemon.send([capacity(n) for n in range(6000)])
        self.assertEqual(proc.returncode, 0, proc.stderr)
        b = self.browser
        # Capacity's first answer comes late: the backlog's capacity updates
        # arrive while it is on its way, and it holds them all.
        b.do("route", match=r"^/api/v1/capacity\?", delay_ms=2500)
        b.do("open", url=f"{self.base}/?icb=QNX",
             wait_for="html[data-loaded=yes][data-live=yes]", timeout_ms=30000)
        time.sleep(4)
        asked = [r["path"] for r in b.do("requests")["requests"]
                 if r["path"].startswith("/api/v1/") and not r["path"].startswith("/api/v1/stream")]
        again = [p for p in set(asked) if asked.count(p) > 1]
        self.assertEqual(again, [], f"areas fetched again for updates their figures already hold: {asked}")
        b.do("unroute")
        # A new event still reaches the page.
        before = b.read(beds="#kpi-beds")["beds"]
        latest = capacity(6000)     # RXC01's latest report: the figures move
        latest["occurredAt"] = latest["capacityReported"]["asOf"] = str(int(time.time() * 1000))
        acks, _ = self.daemon.send([latest])
        self.assertEqual(acks[0]["status"], "ACK_STATUS_ACCEPTED", acks)
        b.do("wait_text", selector="#kpi-beds", **{"not": before}, timeout_ms=20000)
        self.assert_no_problems()
        # A restart: the EventSource is opened again after the last update
        # it read, not from the oldest kept.
        time.sleep(2)
        last = self.daemon.status()["lastUpdateSequence"]
        self.assertEqual(self.daemon.stop(), 0)
        b.do("wait_for", selector="html[data-live=no]", timeout_ms=15000)
        b.do("requests")
        self.daemon.start()
        b.do("wait_for", selector="html[data-live=yes]", timeout_ms=30000)
        b.problems = []         # refused connections while it was down
        streams = [r for r in b.do("requests")["requests"] if r["path"].startswith("/api/v1/stream")]
        self.assertTrue(streams)
        resumed = streams[-1]["last_event_id"] or streams[-1]["path"].partition("last_event_id=")[2]
        self.assertEqual(resumed, str(last), streams)


def reference_data_and_capacity():
    """The sample day's organisations, then 4,000 capacity reports at
    RXC01 (QNX): updates for an ICB, but no flow figures."""
    orgs = [e for e in sample_day() if "organisationRegistered" in e]
    return orgs + [capacity(n) for n in range(4000)]


class DashboardNoFlowYet(DashboardCase):
    events = staticmethod(reference_data_and_capacity)

    def test_no_icb_to_show_yet_is_not_asked_for_each_update(self):
        b = self.browser
        b.do("open", url=f"{self.base}/", wait_for="html[data-live=yes]", timeout_ms=30000)
        b.do("wait_for", selector='#status[data-text^="No ICB has figures yet"]', timeout_ms=10000)
        time.sleep(4)           # the stream's backlog: capacity updates for QNX
        asked = [r["path"] for r in b.do("requests")["requests"] if r["path"].startswith("/api/v1/flow/icbs")]
        self.assertLessEqual(len(asked), 2, f"flow/icbs asked for each update: {len(asked)}")
        # The first flow figures: the page picks their ICB.
        acks, _ = self.daemon.send([admission(3, at=int(time.time() * 1000) - 60000)])
        self.assertEqual(acks[0]["status"], "ACK_STATUS_ACCEPTED", acks)
        b.do("wait_for", selector="html[data-loaded=yes]", timeout_ms=LIVE_WITHIN_MS + 5000)
        self.assertIn("icb=QNX", b.do("eval", expr="window.location.search")["value"])
        self.assert_no_problems()


class DashboardSlowArea(DashboardCase):

    def test_a_slow_area_is_not_asked_again_at_once(self):
        b = self.browser
        b.do("open", url=f"{self.base}/?icb=QNX",
             wait_for="html[data-loaded=yes][data-live=yes]", timeout_ms=30000)
        time.sleep(3)           # the stream's backlog of the sample day, already shown
        # The delayed discharges take 2 s to read (seconds, on a large store).
        b.do("route", match=r"^/api/v1/discharges\?", delay_ms=2000)
        b.do("requests")
        ready = next(e for e in sample_day() if "readyForDischarge" in e)
        for n in range(18):     # a discharges update every half second
            e = json.loads(json.dumps(ready))
            e["eventId"] = f"DASH-READY-{n}"
            e["readyForDischarge"]["patientPseudonym"] = pseudonym(n, "dash-ready")
            acks, _ = self.daemon.send([e])
            self.assertEqual(acks[0]["status"], "ACK_STATUS_ACCEPTED", acks)
            time.sleep(0.5)
        asked = [r for r in b.do("requests")["requests"] if r["path"].startswith("/api/v1/discharges?")]
        # Back to back, it would be one every 2 s (4 or more in 9 s).
        self.assertLessEqual(len(asked), 2, f"asked again at once after a slow answer: {asked}")
        b.do("unroute")
        # The figures still follow: every one of those cases is shown in the end.
        want = count(self.api("discharges", icb="QNX")["figures"]["discharges"]["icbs"]["QNX"]["open"]["cases"])
        b.do("wait_for", selector=f'#kpi-delayed', timeout_ms=1000)
        deadline = time.time() + 15
        while b.read(d="#kpi-delayed")["d"] != want and time.time() < deadline:
            time.sleep(0.5)
        self.assertEqual(b.read(d="#kpi-delayed")["d"], want)
        self.assert_no_problems()


class DashboardBackOff(DashboardCase):

    def test_an_area_that_fails_is_not_asked_again_before_retry_after(self):
        b = self.browser
        b.do("open", url=f"{self.base}/?icb=QNX",
             wait_for="html[data-loaded=yes][data-live=yes]", timeout_ms=30000)
        time.sleep(3)           # the stream's backlog of the sample day, already shown
        # The store cannot be read now: 503 with Retry-After: 10 (the daemon
        # sends 1; longer here so that the window below is inside it).
        unreadable = "the store cannot be read now: MDB_READERS_FULL: reader table full"
        b.do("route", match=r"^/api/v1/capacity\?", status=503, headers={"Retry-After": "10"},
             body=json.dumps({"error": {"status": 503, "message": unreadable}}))
        b.do("requests")
        now = int(time.time() * 1000)
        for n in range(8):      # an update for the area every half second
            event = capacity(7000 + n)
            event["occurredAt"] = event["capacityReported"]["asOf"] = str(now + n)
            acks, _ = self.daemon.send([event])
            self.assertEqual(acks[0]["status"], "ACK_STATUS_ACCEPTED", acks)
            time.sleep(0.5)
        asked = [r for r in b.do("requests")["requests"] if r["path"].startswith("/api/v1/capacity?")]
        self.assertEqual(len(asked), 1, f"asked again within Retry-After: {asked}")
        shown = b.read(error="#error")["error"]
        self.assertIn(unreadable, shown)
        self.assertIn("Retrying", shown)
        b.do("unroute")
        # Once Retry-After has passed, it is asked again and the error goes.
        b.do("wait_for", selector="#error[hidden]", timeout_ms=15000)
        b.problems = []         # the 503s routed above


class DashboardLargeTables(DashboardCase):

    def test_thousands_of_rows_are_shown_a_page_at_a_time(self):
        # 1,295 sites of RXC (QNX by their code, registered or not), each
        # with a capacity line: the capacity lines table has them all.
        alnum = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        sites = [f"RXC{a}{b}" for a in alnum for b in alnum if a + b != "01"]
        events = []
        for n, site in enumerate(sites):
            e = capacity(8000 + n)
            e["capacityReported"]["organisation"] = site
            events.append(e)
        acks, proc = self.daemon.send(events)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        total = self.api("capacity/lines", icb="QNX", limit=1)["total"]
        self.assertGreater(total, 1295)

        b = self.browser
        b.do("open", url=f"{self.base}/?icb=QNX",
             wait_for="html[data-loaded=yes][data-live=yes]", timeout_ms=30000)
        rows = "document.querySelectorAll('#capacity-lines tbody tr').length"
        first = "document.querySelector('#capacity-lines tbody tr').dataset.key"
        self.assertEqual(b.do("eval", expr=rows)["value"], 100)
        self.assertEqual(b.read(where="#capacity-lines-pager .where")["where"],
                         f"Rows 1 to 100 of {count(total)}")
        page1 = b.do("eval", expr=first)["value"]
        b.do("eval", expr="document.querySelector('#capacity-lines-pager .next').click()")
        self.assertEqual(b.do("eval", expr=rows)["value"], 100)
        self.assertEqual(b.read(where="#capacity-lines-pager .where")["where"],
                         f"Rows 101 to 200 of {count(total)}")
        self.assertNotEqual(b.do("eval", expr=first)["value"], page1)
        # The page shown stays across an update.
        latest = capacity(9999)
        latest["occurredAt"] = latest["capacityReported"]["asOf"] = str(int(time.time() * 1000))
        before = b.read(beds="#kpi-beds")["beds"]
        self.daemon.send([latest])
        b.do("wait_text", selector="#kpi-beds", **{"not": before}, timeout_ms=20000)
        self.assertEqual(b.read(where="#capacity-lines-pager .where")["where"],
                         f"Rows 101 to 200 of {count(total)}")
        # Small tables have no pager.
        self.assertIsNone(b.read(p="#flow-providers-pager")["p"])
        # By keyboard to the last page: the focus stays on the pager.
        b.do("eval", expr="document.querySelector('#capacity-lines').closest('details').open = true")
        b.do("eval", expr="document.querySelector('#capacity-lines-pager .next').focus()")
        pages = -(-total // 100)
        b.do("press", key="Enter", count=pages - 2)    # from the second page to the last
        self.assertEqual(b.read(where="#capacity-lines-pager .where")["where"],
                         f"Rows {count((pages - 1) * 100 + 1)} to {count(total)} of {count(total)}")
        self.assertEqual(b.do("eval", expr="document.activeElement.className")["value"], "prev")
        self.assert_no_problems()


class DashboardNotReady(DashboardCase):

    def test_not_ready_says_why(self):
        b = self.browser
        b.do("open", url=f"{self.base}/?icb=QNX",
             wait_for="html[data-loaded=yes][data-live=yes]", timeout_ms=30000)
        # The store cannot be read (LMDB's reader table full): /readyz says
        # so and why; the stream is refused meanwhile.
        why = "MDB_READERS_FULL: Environment maxreaders limit reached"
        b.do("route", match=r"^/readyz$", status=503, headers={"Retry-After": "1"},
             body=json.dumps({"ready": False, "store": "unreadable", "sockets": "bound",
                              "refusing_input": False, "store_error": why}))
        b.do("route", match=r"^/api/v1/stream", status=503, headers={"Retry-After": "1"},
             body=json.dumps({"error": {"status": 503, "message": "the store cannot be read now"}}))
        self.daemon.stop()      # the stream is cut, and opened again: refused
        self.daemon.start()
        b.do("wait_for", selector="#error:not([hidden])", timeout_ms=15000)
        shown = b.read(error="#error")["error"]
        self.assertIn("store cannot be read", shown)
        self.assertIn(why, shown)
        self.assertNotIn("map or disk full", shown)
        b.do("unroute")
        b.do("wait_for", selector="#error[hidden]", timeout_ms=40000)
        b.problems = []


def allocation(n, pence):
    """QNX's core allocation for 2026-27, the latest of all."""
    return {"source": "allocations", "eventId": f"DASH-ALLOC-{n}",
            "occurredAt": str(1778454000000 + 1000 * n),
            "budgetAllocated": {"commissioner": "QNX", "financialYear": "2026-27",
                                "pool": "BUDGET_POOL_CORE", "amount": str(pence)}}


class DashboardUnexpectedAnswer(DashboardCase):

    def test_an_answer_that_cannot_be_shown_is_said_and_the_area_goes_on(self):
        b = self.browser
        b.do("open", url=f"{self.base}/?icb=QNX",
             wait_for="html[data-loaded=yes][data-live=yes]", timeout_ms=30000)
        time.sleep(3)           # the stream's backlog of the sample day, already shown
        # An answer of a shape the page does not know (a commissioner's
        # years null): rendering it fails.
        odd = {"area": "finance", "as_of": int(time.time() * 1000),
               "last_sequence": self.daemon.status()["lastSequence"] + 1,
               "last_event_time": None,
               "figures": {"finance": {"commissioners": {"QNX": None}, "contracts": {}},
                           "unmapped": [], "pending": {}}}
        b.do("route", match=r"^/api/v1/finance\?", body=json.dumps(odd))
        self.daemon.send([allocation(1, 360000000000)])
        b.do("wait_for", selector="#error:not([hidden])", timeout_ms=LIVE_WITHIN_MS)
        self.assertIn("Figures of finance: the answer could not be shown", b.read(e="#error")["e"])
        b.do("unroute")
        # The next update fetches it again: the page shows it.
        self.daemon.send([allocation(2, 370000000000)])
        b.do("wait_text", selector=cell("finance-commissioners", "QNX/2026-27", "allocated"),
             **{"not": money(350000000000)}, timeout_ms=LIVE_WITHIN_MS)
        shown = b.read(a=cell("finance-commissioners", "QNX/2026-27", "allocated"))["a"]
        self.assertEqual(shown, money(370000000000))
        b.do("wait_for", selector="#error[hidden]", timeout_ms=LIVE_WITHIN_MS)
        self.assert_no_problems()


class DashboardBadAsOf(DashboardCase):

    def test_an_as_of_that_is_not_milliseconds_is_said(self):
        b = self.browser
        b.do("open", url=f"{self.base}/?icb=QNX&as_of=2026-05-11",
             wait_for="html[data-loaded=yes]", timeout_ms=30000)
        status = b.read(s="#status")["s"]
        self.assertIn("as_of “2026-05-11” in the address is not UTC milliseconds", status)
        self.assertIn("as of now", status)
        self.assert_no_problems()


class DashboardWithToken(DashboardCase):
    token = TOKEN

    def test_token_default_icb_live_and_outage(self):
        # The API wants the token; the page's own files do not.
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"{self.base}/api/v1/flow", timeout=10)
        self.assertEqual(e.exception.code, 401)

        b = self.browser
        opened = b.do("open", url=f"{self.base}/?token={TOKEN}",
                      wait_for="html[data-loaded=yes][data-live=yes]", timeout_ms=30000)
        self.assertNotIn(TOKEN, opened["url"])
        self.assertIn("icb=QNX", opened["url"])
        self.assert_no_problems()

        flow = self.api("flow", icb="QNX")["figures"]["flow"]
        shown = b.read(in_hospital="#kpi-in-hospital",
                       nmj=cell("flow-providers", "NMJ", "in_hospital"))
        self.assertEqual(shown["in_hospital"], count(flow["icbs"]["QNX"]["in_hospital"]))
        self.assertEqual(shown["nmj"], count(flow["providers"]["NMJ"]["in_hospital"]))

        # Live through the fetch()-read stream, with the token.
        acks, _ = self.daemon.send([admission(2, provider="NMJ", site="NMJ01",
                                              at=int(time.time() * 1000) - 60000)])
        self.assertEqual(acks[0]["status"], "ACK_STATUS_ACCEPTED", acks)
        changed = b.do("wait_text", selector=cell("flow-providers", "NMJ", "in_hospital"),
                       **{"not": shown["nmj"]}, timeout_ms=LIVE_WITHIN_MS)
        self.assertEqual(changed["value"], count(flow["providers"]["NMJ"]["in_hospital"] + 1))
        self.screenshot("dashboard-live.png")
        self.assert_no_problems()

        # The daemon goes away: the page says so, then recovers.
        self.assertEqual(self.daemon.stop(), 0)
        b.do("wait_for", selector="#error:not([hidden])", timeout_ms=15000)
        message = b.read(error="#error")["error"]
        self.assertIn("cannot be reached", message)
        self.screenshot("dashboard-unreachable.png")
        b.problems = []         # refused connections are expected now
        b.do("requests")
        self.daemon.start()
        b.do("wait_for", selector="#error[hidden]", timeout_ms=30000)
        b.do("wait_for", selector="html[data-live=yes]", timeout_ms=30000)
        b.problems = []
        # The stream resumed after the last update it had read, rather than
        # from the oldest kept (the whole backlog again).
        streams = [r for r in b.do("requests")["requests"] if r["path"].startswith("/api/v1/stream")]
        self.assertTrue(streams)
        resumed = streams[-1]["last_event_id"]
        self.assertIsNotNone(resumed, f"the stream was opened again from the oldest: {streams}")
        self.assertEqual(int(resumed), self.daemon.status()["lastUpdateSequence"])


if __name__ == "__main__":
    unittest.main()
