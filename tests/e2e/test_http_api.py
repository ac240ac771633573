"""The HTTP interface (docs/HTTP.md) against the real daemon: every route,
parameter, table, format and error, and every answer checked against the
formal description in docs/openapi.yaml.

Shared pieces for test_sse.py and test_metrics.py live here too: Api (a
stdlib HTTP client that checks each answer against docs/openapi.yaml), the
small JSON Schema validator, and SharedDaemon (one daemon for a class)."""
import csv
import http.client
import io
import json
import math
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.parse

import yaml

from harness import DaemonTestCase, Daemon, TABLES, admission, event_mix, free_port, preload_env, table_rows

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
OPENAPI = os.path.join(ROOT, "docs", "openapi.yaml")

END_OF_DAY = 1778540400000   # 2026-05-11T23:00:00Z
MORNING = 1778479200000      # 2026-05-11T06:00:00Z
DAY_BEFORE = 1778414400000   # 2026-05-10T12:00:00Z
LAST_MS = 253402300799999    # 9999-12-31T23:59:59.999Z, the last as_of taken


# ---------------------------------------------------------------- the description

_doc = None


def openapi():
    global _doc
    if _doc is None:
        with open(OPENAPI) as f:
            _doc = yaml.safe_load(f)
    return _doc


def resolve(doc, ref):
    if not ref.startswith("#/"):
        raise AssertionError(f"only local $ref are used here: {ref}")
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if part not in node:
            raise AssertionError(f"$ref {ref} does not resolve")
        node = node[part]
    return node


def deref(doc, node):
    while isinstance(node, dict) and "$ref" in node:
        node = resolve(doc, node["$ref"])
    return node


# ---------------------------------------------------------------- a small validator

# The subset of JSON Schema (2020-12, as OpenAPI 3.1 uses it) that
# docs/openapi.yaml uses; a keyword outside it is an error, not ignored.
SCHEMA_KEYWORDS = {"type", "properties", "required", "items", "enum", "const",
                   "additionalProperties", "allOf", "oneOf", "anyOf", "$ref", "minimum",
                   "maximum", "pattern"}
SCHEMA_ANNOTATIONS = {"description", "title", "example", "examples", "format", "default",
                      "deprecated", "readOnly", "writeOnly"}

JSON_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def same_json(a, b):
    """JSON equality: true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def schema_errors(instance, schema, doc, where="$"):
    """Every way instance fails schema, as readable lines (empty: valid)."""
    if schema is True or schema == {}:
        return []
    if schema is False:
        return [f"{where}: nothing is allowed here"]
    unknown = set(schema) - SCHEMA_KEYWORDS - SCHEMA_ANNOTATIONS
    if unknown:
        return [f"{where}: the validator does not know {sorted(unknown)}"]
    errors = []
    if "$ref" in schema:
        errors += schema_errors(instance, resolve(doc, schema["$ref"]), doc, where)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(JSON_TYPES[t](instance) for t in types):
            return errors + [f"{where}: {json.dumps(instance)[:80]} is not {'/'.join(types)}"]
    if "enum" in schema and not any(same_json(instance, e) for e in schema["enum"]):
        errors.append(f"{where}: {json.dumps(instance)[:80]} is not one of {schema['enum']}")
    if "const" in schema and not same_json(instance, schema["const"]):
        errors.append(f"{where}: {json.dumps(instance)[:80]} is not {schema['const']!r}")
    if isinstance(instance, (int, float)) and not isinstance(instance, bool):
        if "minimum" in schema and instance < schema["minimum"]:
            errors.append(f"{where}: {instance} < {schema['minimum']}")
        if "maximum" in schema and instance > schema["maximum"]:
            errors.append(f"{where}: {instance} > {schema['maximum']}")
    if isinstance(instance, str) and "pattern" in schema and not re.search(schema["pattern"],
                                                                           instance):
        errors.append(f"{where}: {instance!r} does not match {schema['pattern']}")
    if isinstance(instance, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in instance:
                errors.append(f"{where}: {name} is required")
        for name, value in instance.items():
            if name in props:
                errors += schema_errors(value, props[name], doc, f"{where}.{name}")
            elif "additionalProperties" in schema:
                errors += schema_errors(value, schema["additionalProperties"], doc,
                                        f"{where}.{name}")
    if isinstance(instance, list) and "items" in schema:
        for i, item in enumerate(instance):
            errors += schema_errors(item, schema["items"], doc, f"{where}[{i}]")
    for sub in schema.get("allOf", []):
        errors += schema_errors(instance, sub, doc, where)
    if "anyOf" in schema:
        if all(schema_errors(instance, sub, doc, where) for sub in schema["anyOf"]):
            errors.append(f"{where}: matches none of anyOf")
    if "oneOf" in schema:
        results = [schema_errors(instance, sub, doc, where) for sub in schema["oneOf"]]
        matches = sum(1 for r in results if not r)
        if matches != 1:
            detail = "; ".join(r[0] for r in results if r)[:600]
            errors.append(f"{where}: matches {matches} of oneOf (exactly one wanted) {detail}")
    return errors


def assert_valid(instance, schema, what=""):
    doc = openapi()
    errors = schema_errors(instance, schema, doc)
    if errors:
        raise AssertionError(f"{what}: does not match docs/openapi.yaml:\n  " +
                             "\n  ".join(errors[:20]))


# ---------------------------------------------------------------- the client

class Answer:
    def __init__(self, method, target, status, headers, body):
        self.method, self.target, self.status = method, target, status
        self.headers = headers
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8")

    @property
    def media_type(self):
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise AssertionError(f"{self.method} {self.target}: {self.status} is not JSON "
                                 f"({e}): {self.body[:300]!r}")

    def __repr__(self):
        return f"{self.method} {self.target} -> {self.status} {self.body[:300]!r}"


def operation_for(path):
    """(template, GET operation) of docs/openapi.yaml for a concrete path."""
    paths = openapi()["paths"]
    if path in paths:
        return path, paths[path].get("get")
    for template, item in paths.items():
        if "{" in template:
            pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
            if re.match(pattern, path):
                return template, item.get("get")
    return None, None


def conform(answer, path, query_names=()):
    """Check an answer against docs/openapi.yaml: its status is documented for
    the route, its content type too, a JSON body matches the schema, and a
    successful request used only declared parameters."""
    doc = openapi()
    what = f"{answer.method} {answer.target} -> {answer.status}"
    template, op = operation_for(path)
    error_schema = doc["components"]["schemas"]["Error"]
    if answer.method != "GET" or op is None:
        # 405 for other methods and 404 for unknown routes: the Error shape.
        if answer.status >= 400 and answer.body:
            assert_valid(answer.json(), error_schema, what)
        return
    responses = op["responses"]
    response = responses.get(str(answer.status))
    if response is None:
        if answer.status in (403, 404, 405, 413) and answer.body:
            assert_valid(answer.json(), error_schema, what)
            return
        raise AssertionError(f"{what}: status {answer.status} is not documented for {template}")
    response = deref(doc, response)
    content = response.get("content", {})
    if content and answer.body:
        if answer.media_type not in content:
            raise AssertionError(f"{what}: content type {answer.media_type} is not documented "
                                 f"({sorted(content)})")
        if answer.media_type == "application/json":
            assert_valid(answer.json(), content["application/json"]["schema"], what)
    if 200 <= answer.status < 300:
        declared = {deref(doc, p)["name"] for p in op.get("parameters", [])
                    if deref(doc, p)["in"] == "query"}
        undeclared = set(query_names) - declared
        if undeclared:
            raise AssertionError(f"{what}: parameters {sorted(undeclared)} are not declared "
                                 f"for {template}")


class Api:
    """A stdlib HTTP client of one daemon; every answer checked by conform()."""

    def __init__(self, daemon, token=None):
        host, port = daemon.settings["http.listen"].rsplit(":", 1)
        self.host, self.port = host, int(port)
        self.token = token

    @property
    def address(self):
        return (self.host, self.port)

    def request(self, method, target, headers=None, body=None, timeout=60):
        headers = dict(headers or {})
        if self.token and "Authorization" not in headers:
            headers["Authorization"] = f"Bearer {self.token}"
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, target, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            return Answer(method, target, response.status, response.headers, data)
        finally:
            conn.close()

    def get(self, path, params=None, headers=None, check=True):
        pairs = list(params.items()) if isinstance(params, dict) else list(params or [])
        target = path + ("?" + urllib.parse.urlencode(pairs) if pairs else "")
        answer = self.request("GET", target, headers)
        if check:
            conform(answer, path, [k for k, _ in pairs])
        return answer

    def get_json(self, path, params=None, headers=None, status=200):
        answer = self.get(path, params, headers)
        if answer.status != status:
            raise AssertionError(f"expected {status}: {answer!r}")
        return answer.json()

    def raw(self, data, timeout=30):
        """Send bytes as they are; read one answer (the server may close)."""
        sock = socket.create_connection(self.address, timeout=timeout)
        try:
            try:
                sock.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused early: the answer may still be there to read
            response = http.client.HTTPResponse(sock, method="GET")
            response.begin()
            body = response.read()
            return Answer("GET", data[:60].decode(errors="replace"), response.status,
                          response.headers, body)
        finally:
            sock.close()


# ---------------------------------------------------------------- daemons and data

def sample_day(patients=300, seed=None, date="2026-05-11"):
    args = [os.path.join(ROOT, "tools", "sample-day"), "--date", date, "--patients", str(patients)]
    if seed is not None:
        args += ["--seed", seed]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return [json.loads(line) for line in out.splitlines()]


ODD_NAME = 'Care home "The Elms", Lewes'


def second_icb_and_odd_cases():
    """A trust in another ICB (QNQ), so that filters have something to drop;
    a care home with quotes and a comma in its name; a service closed
    without consultation (governance/closures)."""
    events = [
        {"source": "ods", "eventId": "QNQ-trust", "occurredAt": "1767225600000",
         "organisationRegistered": {"code": "RDU", "role": "ORG_ROLE_TRUST", "name": "Provider RDU",
                                    "parentCode": "QNQ"}},
        {"source": "ods", "eventId": "QNQ-site", "occurredAt": "1767225600000",
         "organisationRegistered": {"code": "RDU01", "role": "ORG_ROLE_TRUST_SITE",
                                    "name": "Site RDU01", "parentCode": "RDU"}},
        {"source": "ods", "eventId": "odd-home", "occurredAt": "1767225600000",
         "organisationRegistered": {"code": "1-999000111", "role": "ORG_ROLE_CARE_HOME",
                                    "name": ODD_NAME, "parentCode": "E10000011"}},
        {"source": "capacity", "eventId": "QNQ-line", "occurredAt": "1778500800000",
         "capacityReported": {"organisation": "RDU01", "sector": "SECTOR_MATERNITY",
                              "bedsAvailable": "40", "bedsOccupied": "41",
                              "asOf": "1778500800000"}},
        {"source": "commissioner", "eventId": "closed-day-centre", "occurredAt": "1778486400000",
         "serviceStatusChanged": {
             "serviceId": "SVC-DAY-CENTRE", "commissioner": "E10000032",
             "provider": "1-104938271", "category": "SERVICE_CATEGORY_ADULT_SOCIAL_CARE",
             "fromStatus": "SERVICE_STATUS_COMMISSIONED", "toStatus": "SERVICE_STATUS_CLOSED",
             "effectiveDate": "2026-05-11", "places": "20",
             "proposedChange": {"type": "PROPOSED_CHANGE_TYPE_CLOSE"}}},
    ]
    for n in (9001, 9002, 9003):
        event = admission(n, source="hl7:RDU")
        event["patientAdmitted"].update(provider="RDU", site="RDU01")
        events.append(event)
    return events


def http_settings(**extra):
    # These tests ask flow as of the sample day, before the daemon's running
    # totals, many times in a row: no wait between its folds here
    # (test_http_figures.py checks the wait).
    settings = {"http.listen": f"127.0.0.1:{free_port()}", "http.fold_wait_factor": "0"}
    settings.update(extra)
    return settings


class SharedDaemon(unittest.TestCase):
    """One daemon for the tests of a class that only read; it must stop
    cleanly and quietly at the end, as DaemonTestCase's do."""

    settings = {}
    token = None

    @classmethod
    def events(cls):
        return []

    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="cd-http-")
        cls.daemon = Daemon(cls.workdir, **http_settings(**cls.settings))
        try:
            cls.daemon.start()
            cls.api = Api(cls.daemon, cls.token)
            events = cls.events()
            if events:
                acks, proc = cls.daemon.send(events)
                if proc.returncode != 0:
                    raise AssertionError(f"commissionctl send: {proc.stderr}")
                cls.acks = acks
        except BaseException:
            if cls.daemon.proc is not None:
                cls.daemon.kill9()
            shutil.rmtree(cls.workdir, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            rc = cls.daemon.stop()
            report = cls.daemon.sanitizer_report()
            if report or rc != 0:
                raise AssertionError(f"commissiond exit {rc}, {report}:\n{cls.daemon.log_text()}")
        finally:
            shutil.rmtree(cls.workdir, ignore_errors=True)


def show(daemon, area, *args):
    proc = daemon.ctl("show", area, *args)
    if proc.returncode != 0:
        raise AssertionError(f"commissionctl show {area} {args}: {proc.stderr}")
    return json.loads(proc.stdout)


# ---------------------------------------------------------------- the tables

AREAS = ("flow", "discharges", "capacity", "services", "finance", "governance", "organisations")

def canonical(rows):
    return sorted(json.dumps(r, sort_keys=True) for r in rows)


def flatten(row, prefix=""):
    out = {}
    for k, v in row.items():
        name = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict):
            out.update(flatten(v, name))
        else:
            out[name] = v
    return out


def csv_rows(text):
    return list(csv.reader(io.StringIO(text, newline="")))


def without_as_of(figures):
    return {k: v for k, v in figures.items() if k != "as_of"}


# ---------------------------------------------------------------- the tests

class OpenApiDocument(unittest.TestCase):
    """docs/openapi.yaml covers the contract, and the validator is not vacuous."""

    ROUTES = {"/healthz", "/readyz", "/metrics", "/", "/api/v1/stream",
              "/api/v1/organisations/{code}"} | {f"/api/v1/{a}" for a in AREAS} | {
        f"/api/v1/{t}" for t in TABLES}

    def test_every_route_of_the_contract_is_described_get_only(self):
        doc = openapi()
        self.assertTrue(str(doc["openapi"]).startswith("3."))
        self.assertEqual(set(doc["paths"]), self.ROUTES)
        for path, item in doc["paths"].items():
            with self.subTest(path):
                methods = {m for m in item if m in ("get", "put", "post", "delete", "options",
                                                    "head", "patch", "trace")}
                self.assertEqual(methods, {"get"})
                op = item["get"]
                names = {deref(doc, p)["name"] for p in op.get("parameters", [])}
                if path.startswith("/api/v1/") and path != "/api/v1/stream":
                    self.assertIn("as_of", names)
                if path.removeprefix("/api/v1/") in TABLES:
                    self.assertLessEqual({"limit", "cursor", "format", "icb", "org", "council"},
                                         names)
                if path.removeprefix("/api/v1/") in AREAS:
                    self.assertLessEqual({"icb", "org", "council"}, names)
                responses = set(op["responses"])
                self.assertIn("200", responses)
                self.assertIn("413", responses)
                if path in ("/healthz", "/"):
                    self.assertEqual(op.get("security"), [])
                else:
                    self.assertNotIn("security", op)  # the global bearer scheme
                    self.assertIn("401", responses)
        self.assertEqual(doc["security"], [{"bearer": []}])
        self.assertEqual(doc["components"]["securitySchemes"]["bearer"],
                         {"type": "http", "scheme": "bearer",
                          "description": doc["components"]["securitySchemes"]["bearer"][
                              "description"]})

    def test_every_ref_resolves_and_every_schema_uses_only_the_validated_keywords(self):
        doc = openapi()

        def walk(node, where, in_schema):
            if isinstance(node, dict):
                if "$ref" in node:
                    resolve(doc, node["$ref"])
                if in_schema:
                    unknown = set(node) - SCHEMA_KEYWORDS - SCHEMA_ANNOTATIONS
                    self.assertFalse(unknown, f"{where}: {unknown}")
                for k, v in node.items():
                    if in_schema:
                        if k in ("properties",):
                            for name, sub in v.items():
                                walk(sub, f"{where}.{name}", True)
                        elif k in ("items", "additionalProperties"):
                            walk(v, f"{where}.{k}", isinstance(v, dict))
                        elif k in ("allOf", "oneOf", "anyOf"):
                            for i, sub in enumerate(v):
                                walk(sub, f"{where}.{k}[{i}]", True)
                    else:
                        walk(v, f"{where}.{k}", k in ("schema",) or where.endswith(
                            "components.schemas") or where.endswith("x-sse-events"))
            elif isinstance(node, list):
                for i, v in enumerate(node):
                    walk(v, f"{where}[{i}]", False)

        walk(doc, "", False)

    def test_the_validator_finds_what_is_wrong(self):
        schemas = openapi()["components"]["schemas"]
        good = {"error": {"status": 400, "message": "as_of: bad", "parameter": "as_of"}}
        assert_valid(good, schemas["Error"], "a good error")
        for bad in ({}, {"error": {"status": "400", "message": "x"}},
                    {"error": {"status": 418, "message": "x"}}, {"error": {"status": 400}}):
            with self.subTest(bad):
                with self.assertRaises(AssertionError):
                    assert_valid(bad, schemas["Error"], "a bad error")
        page = {"table": "capacity/lines", "as_of": 1, "last_sequence": 0, "last_event_time": None,
                "total": 1, "next_cursor": None,
                "items": [{"organisation": "X", "sector": "beds", "icb": "Q", "available": 1,
                           "occupied": 1, "vacant": 0, "over_capacity": False, "as_of": 1,
                           "council": None}]}
        with self.assertRaises(AssertionError):  # "beds" is no sector
            assert_valid(page, schemas["CapacityLinesPage"], "a bad page")
        page["items"][0]["sector"] = "maternity"
        assert_valid(page, schemas["CapacityLinesPage"], "a good page")
        with self.assertRaises(AssertionError):  # true is not an integer
            page["total"] = True
            assert_valid(page, schemas["CapacityLinesPage"], "a bad total")


class Figures(SharedDaemon):
    """One daemon fed the sample day (and a second ICB) for read-only checks."""

    @classmethod
    def events(cls):
        return sample_day(300) + second_icb_and_odd_cases()

    def area(self, area, **params):
        return self.api.get_json(f"/api/v1/{area}", params)

    def table(self, route, **params):
        params.setdefault("limit", 1000)
        answer = self.api.get_json(f"/api/v1/{route}", params)
        self.assertIsNone(answer["next_cursor"], "more than 1000 rows: page on")
        return answer["items"]

    # ---- health

    def test_healthz_and_readyz_say_ok_and_ready(self):
        self.assertEqual(self.api.get_json("/healthz"), {"status": "ok"})
        self.assertEqual(self.api.get_json("/readyz"),
                         {"ready": True, "store": "open", "sockets": "bound",
                          "refusing_input": False})

    def test_answers_are_not_cached(self):
        answer = self.api.get("/api/v1/flow")
        self.assertEqual(answer.media_type, "application/json")
        self.assertIn("no-store", answer.headers.get("Cache-Control", ""))
        for path in ("/metrics", "/healthz", "/api/v1/flow/providers"):
            with self.subTest(path):
                answer = self.api.get(path)
                self.assertEqual(answer.status, 200, answer)
                self.assertIn("no-store", answer.headers.get("Cache-Control", ""))
                self.assertEqual(answer.headers.get("X-Content-Type-Options"), "nosniff")

    def test_no_other_site_may_frame_the_dashboard(self):
        """The page holds the token: a page of another site framing it
        could have its user click on what they do not see. A meta's policy
        cannot say frame-ancestors; the header does, for every answer."""
        for path in ("/", "/dashboard.js", "/api/v1/flow", "/healthz"):
            with self.subTest(path):
                answer = self.api.get(path)
                self.assertEqual(answer.status, 200, answer)
                policy = answer.headers.get("Content-Security-Policy", "")
                self.assertIn("frame-ancestors 'none'", policy)
                self.assertIn("script-src 'self'", policy)
                self.assertEqual(answer.headers.get("Referrer-Policy"), "no-referrer")

    # ---- areas

    def test_every_area_is_commissionctl_show_for_the_same_as_of_and_filter(self):
        filters = [(), ("icb", "QNQ"), ("icb", "QNX"), ("org", "RXC"), ("council", "E10000011")]
        for area in AREAS:
            for f in filters:
                with self.subTest(area=area, filter=f):
                    params = {"as_of": END_OF_DAY}
                    args = ["--as-of", str(END_OF_DAY)]
                    if f:
                        params[f[0]] = f[1]
                        args += [f"--{f[0]}", f[1]]
                    answer = self.area(area, **params)
                    self.assertEqual(answer["area"], area)
                    self.assertEqual(answer["as_of"], END_OF_DAY)
                    self.assertEqual(without_as_of(answer["figures"]),
                                     without_as_of(show(self.daemon, area, *args)))

    def test_an_area_is_as_of_the_instant_asked_and_now_by_default(self):
        morning = self.area("flow", as_of=MORNING)
        evening = self.area("flow", as_of=END_OF_DAY)
        self.assertEqual(morning["as_of"], MORNING)
        self.assertNotEqual(morning["figures"]["flow"]["icbs"]["QNX"]["in_hospital"],
                            evening["figures"]["flow"]["icbs"]["QNX"]["in_hospital"])
        self.assertEqual(without_as_of(morning["figures"]),
                         without_as_of(show(self.daemon, "flow", "--as-of", str(MORNING))))
        before = time.time() * 1000
        now = self.area("capacity")
        self.assertLessEqual(before - 1000, now["as_of"])
        self.assertLessEqual(now["as_of"], time.time() * 1000 + 1000)

    def test_area_figures_are_not_a_table_so_csv_is_refused(self):
        answer = self.api.get("/api/v1/flow", {"format": "csv"})
        self.assertEqual(answer.status, 400)
        self.assertEqual(answer.json()["error"]["parameter"], "format")

    # ---- organisations

    def test_one_organisation_is_its_record_with_freshness(self):
        record = show(self.daemon, "organisations", "--as-of", str(END_OF_DAY))["organisations"]
        for code in ("RXC", "E10000011", "1-123039495", "Y59", "RDU"):
            with self.subTest(code):
                answer = self.api.get_json(f"/api/v1/organisations/{code}", {"as_of": END_OF_DAY})
                self.assertEqual(answer["organisation"], record[code])
                self.assertEqual(answer["as_of"], END_OF_DAY)
                self.assertEqual(answer["last_sequence"], self.daemon.status()["lastSequence"])
                self.assertIsInstance(answer["last_event_time"], int)
        self.assertEqual(self.api.get_json("/api/v1/organisations/RDU")["organisation"]["icb"],
                         "QNQ")

    def test_an_unregistered_organisation_is_404(self):
        for code in ("ZZZ99", "QNQ"):  # QNQ is used as a parent but never registered
            with self.subTest(code):
                answer = self.api.get(f"/api/v1/organisations/{code}")
                self.assertEqual(answer.status, 404, answer)
                self.assertEqual(answer.json()["error"]["status"], 404)
                self.assertIn(code, answer.json()["error"]["message"])

    def test_organisations_is_the_area_unpaged_and_a_table_when_paged_or_csv(self):
        area = self.api.get_json("/api/v1/organisations", {"as_of": END_OF_DAY})
        self.assertEqual(area["area"], "organisations")
        paged = self.api.get_json("/api/v1/organisations", {"as_of": END_OF_DAY, "limit": 1000})
        self.assertEqual(paged["table"], "organisations")
        self.assertEqual(canonical(paged["items"]),
                         canonical(area["figures"]["organisations"].values()))
        csv_answer = self.api.get("/api/v1/organisations", {"format": "csv"})
        self.assertEqual(csv_answer.media_type, "text/csv")
        accept = self.api.get("/api/v1/organisations", headers={"Accept": "text/csv"})
        self.assertEqual(accept.media_type, "text/csv")

    # ---- tables

    def test_every_table_is_its_area_items_with_the_key_columns_added(self):
        for route, (area, _, _, keys) in TABLES.items():
            with self.subTest(route):
                figures = show(self.daemon, area, "--as-of", str(END_OF_DAY))
                answer = self.api.get_json(f"/api/v1/{route}", {"as_of": END_OF_DAY,
                                                                 "limit": 1000})
                expected = table_rows(route, figures)
                self.assertEqual(answer["table"], route)
                self.assertEqual(answer["total"], len(expected))
                self.assertIsNone(answer["next_cursor"])
                self.assertEqual(canonical(answer["items"]), canonical(expected))
                for row in answer["items"]:
                    self.assertEqual(list(row)[:len(keys)], list(keys), "key columns first")
                self.assertGreater(len(expected), 0, "a table with nothing to check")

    def test_the_default_page_is_100_rows(self):
        answer = self.api.get_json("/api/v1/discharges/cases", {"as_of": END_OF_DAY})
        total = answer["total"]
        self.assertEqual(len(answer["items"]), min(total, 100))
        if total > 100:
            self.assertIsNotNone(answer["next_cursor"])

    def test_limit_and_cursor_walk_every_row_exactly_once(self):
        for route, limit in (("discharges/cases", 7), ("discharges/cases", 1),
                             ("organisations", 4), ("flow/providers", 2),
                             ("capacity/lines", 1000), ("governance/register", 1)):
            with self.subTest(route=route, limit=limit):
                whole = self.api.get_json(f"/api/v1/{route}", {"as_of": END_OF_DAY,
                                                                "limit": 1000})
                rows, cursor, pages = [], None, 0
                while True:
                    params = {"as_of": END_OF_DAY, "limit": limit}
                    if cursor is not None:
                        params["cursor"] = cursor
                    page = self.api.get_json(f"/api/v1/{route}", params)
                    pages += 1
                    self.assertEqual(page["total"], whole["total"])
                    self.assertLessEqual(len(page["items"]), limit)
                    rows += page["items"]
                    cursor = page["next_cursor"]
                    if cursor is None:
                        break
                    self.assertEqual(len(page["items"]), limit, "a short page before the end")
                    self.assertLessEqual(pages, whole["total"] + 1, "the cursor does not advance")
                self.assertEqual(pages, max(1, math.ceil(whole["total"] / limit)))
                self.assertEqual(rows, whole["items"], "every row once, in one order")

    def test_csv_pages_walk_with_x_next_cursor(self):
        whole = self.api.get("/api/v1/discharges/cases", {"as_of": END_OF_DAY, "limit": 1000,
                                                          "format": "csv"})
        header, *expected = csv_rows(whole.text)
        self.assertNotIn("X-Next-Cursor", whole.headers)
        rows, cursor = [], None
        while True:
            params = {"as_of": END_OF_DAY, "limit": 10, "format": "csv"}
            if cursor:
                params["cursor"] = cursor
            page = self.api.get("/api/v1/discharges/cases", params)
            self.assertEqual(page.status, 200, page)
            page_header, *page_rows = csv_rows(page.text)
            self.assertEqual(page_header, header)
            rows += page_rows
            cursor = page.headers.get("X-Next-Cursor")
            if not cursor:
                break
        self.assertEqual(rows, expected)

    def test_csv_is_the_json_rows_flattened_with_a_header(self):
        for route, (_, _, _, keys) in TABLES.items():
            for how in ("format", "accept"):
                with self.subTest(route=route, how=how):
                    params = {"as_of": END_OF_DAY, "limit": 1000}
                    js = self.api.get_json(f"/api/v1/{route}", params)
                    if how == "format":
                        answer = self.api.get(f"/api/v1/{route}", dict(params, format="csv"))
                    else:
                        answer = self.api.get(f"/api/v1/{route}", params,
                                              headers={"Accept": "text/csv"})
                    self.assertEqual(answer.status, 200, answer)
                    self.assertEqual(answer.headers["Content-Type"].replace(" ", "").lower(),
                                     "text/csv;charset=utf-8")
                    self.assertEqual(answer.headers["X-Last-Sequence"], str(js["last_sequence"]))
                    self.assertEqual(answer.headers["X-Last-Event-Time"],
                                     str(js["last_event_time"]))
                    self.assertEqual(answer.headers["X-As-Of"], str(END_OF_DAY))
                    text = answer.text
                    flat = [flatten(r) for r in js["items"]]
                    columns = sorted({c for r in flat for c in r} - set(keys))
                    columns = [k for k in keys if any(k in r for r in flat)] + columns
                    lines = csv_rows(text)
                    if not flat:
                        self.assertLessEqual(len([l for l in lines if l]), 1)
                        continue
                    self.assertTrue(text.endswith("\r\n"), "RFC 4180 lines end in CRLF")
                    self.assertEqual(lines[0], columns, "the header: key columns, then sorted")
                    self.assertEqual(len(lines) - 1, len(flat))
                    for row, line in zip(flat, lines[1:]):
                        self.assertEqual(len(line), len(columns))
                        for column, cell in zip(columns, line):
                            value = row.get(column)
                            if value is None:
                                self.assertEqual(cell, "", column)
                            elif isinstance(value, str):
                                self.assertEqual(cell, value, column)
                            else:
                                self.assertTrue(same_json(json.loads(cell), value),
                                                f"{column}: {cell!r} is not {value!r}")

    def test_accept_asks_for_csv_only_when_it_prefers_text_csv_to_json(self):
        browser = ("text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,"
                   "image/webp,*/*;q=0.8")
        cases = [
            ("text/csv", "text/csv"),
            ("TEXT/CSV", "text/csv"),
            ("text/*", "text/csv"),                        # JSON is not acceptable to it
            ("text/csv;q=0.5", "text/csv"),
            ("text/csv;header=present;charset=utf-8", "text/csv"),
            ("application/json;q=0.4, text/csv;q=0.5", "text/csv"),
            ("text/csv, */*;q=0.1", "text/csv"),
            ("text/csv, */*", "text/csv"),                 # named, against a wildcard
            ('text/csv;x="a,b;q=0", application/json;q=0.9', "text/csv"),
            ("text/csv;q=0", "application/json"),
            ("text/csv; q=0", "application/json"),
            ("text/csv ;q=0", "application/json"),
            ("text/csv;Q=0.000", "application/json"),
            ("text/csv;q = 0", "application/json"),
            ("text/csv;q=0, application/json", "application/json"),
            ("text/csv;q=0.5, application/json", "application/json"),
            ("text/csv, application/json", "application/json"),  # a tie: the default
            ("text/*;q=0.5, application/json", "application/json"),
            ("*/*", "application/json"),
            (browser, "application/json"),
            ("application/json", "application/json"),
            ("text/csv;q=2", "application/json"),          # no weight: left out
            ("text/csv;q=abc", "application/json"),
            ("text/csvx", "application/json"),
            ("text", "application/json"),
            ("image/png", "application/json"),             # none acceptable: JSON, no 406
            ("", "application/json"),
        ]
        for accept, media_type in cases:
            for path in ("/api/v1/capacity/lines", "/api/v1/services"):
                with self.subTest(accept=accept, path=path):
                    answer = self.api.get(path, headers={"Accept": accept})
                    self.assertEqual(answer.status, 200, answer)
                    self.assertEqual(answer.media_type, media_type, answer)
        # format= says it, whatever Accept says.
        answer = self.api.get("/api/v1/capacity/lines", {"format": "json"},
                              headers={"Accept": "text/csv"})
        self.assertEqual(answer.media_type, "application/json")
        # Two Accept fields are one list (RFC 9110 5.3).
        answer = self.api.raw(b"GET /api/v1/capacity/lines HTTP/1.1\r\nHost: localhost\r\n"
                              b"Accept: application/json;q=0.1\r\nAccept: text/csv\r\n"
                              b"Connection: close\r\n\r\n")
        self.assertEqual(answer.media_type, "text/csv", answer)
        answer = self.api.raw(b"GET /api/v1/capacity/lines HTTP/1.1\r\nHost: localhost\r\n"
                              b"Accept: application/json\r\nAccept: text/csv;q=0\r\n"
                              b"Connection: close\r\n\r\n")
        self.assertEqual(answer.media_type, "application/json", answer)

    def test_csv_quotes_commas_quotes_and_lists_as_rfc_4180_says(self):
        orgs = self.api.get("/api/v1/organisations", {"format": "csv", "org": "1-999000111"})
        self.assertIn('"Care home ""The Elms"", Lewes"', orgs.text)
        header, row = csv_rows(orgs.text)
        self.assertEqual(dict(zip(header, row))["name"], ODD_NAME)
        contracts = self.api.get("/api/v1/finance/contracts", {"format": "csv"})
        header, *rows = csv_rows(contracts.text)
        self.assertEqual(header[0], "contract_id")
        segments = [json.loads(dict(zip(header, r))["segments"]) for r in rows]
        self.assertIn([{"first": "2026-04-01", "last": "2027-01-31", "annual_value": 45000000}],
                      segments)
        self.assertIn('"[{""first"":', contracts.text)
        # A nested object is flattened to dotted names; a day is a column.
        flow = self.api.get("/api/v1/flow/providers", {"format": "csv", "as_of": END_OF_DAY})
        header = csv_rows(flow.text)[0]
        self.assertEqual(header[0], "provider")
        self.assertIn("days.2026-05-11.admissions", header)
        self.assertIn("sites.RXC01.in_hospital", header)
        commissioners = self.api.get("/api/v1/finance/commissioners", {"format": "csv"})
        self.assertEqual(csv_rows(commissioners.text)[0][:2], ["commissioner", "financial_year"])

    # ---- filters

    def keys_of(self, route, **params):
        keys = TABLES[route][3]
        return sorted(tuple(r[k] for k in keys) if len(keys) > 1 else r[keys[0]]
                      for r in self.table(route, as_of=END_OF_DAY, **params))

    def test_icb_keeps_only_that_icbs_figures(self):
        self.assertEqual(self.keys_of("flow/providers"), ["NMJ", "RDU", "RPC", "RXC", "RYR"])
        self.assertEqual(self.keys_of("flow/providers", icb="QNQ"), ["RDU"])
        self.assertEqual(self.keys_of("flow/providers", icb="QNX"), ["NMJ", "RPC", "RXC", "RYR"])
        self.assertEqual(self.keys_of("flow/icbs"), ["QNQ", "QNX"])
        self.assertEqual(self.keys_of("flow/icbs", icb="QNQ"), ["QNQ"])
        self.assertEqual(self.keys_of("capacity/icbs", icb="QNX"), ["QNX"])
        self.assertEqual(self.keys_of("discharges/icbs", icb="QNX"), ["QNX"])
        lines = self.table("capacity/lines", as_of=END_OF_DAY)
        qnq = self.table("capacity/lines", as_of=END_OF_DAY, icb="QNQ")
        self.assertEqual([l["organisation"] for l in qnq], ["RDU01"])
        self.assertEqual(canonical(self.table("capacity/lines", as_of=END_OF_DAY, icb="QNX")),
                         canonical([l for l in lines if l["icb"] == "QNX"]))
        cases = self.table("discharges/cases", as_of=END_OF_DAY)
        self.assertEqual(canonical(self.table("discharges/cases", as_of=END_OF_DAY, icb="QNX")),
                         canonical([c for c in cases if c["icb"] == "QNX"]))
        self.assertEqual(self.table("discharges/cases", as_of=END_OF_DAY, icb="QNQ"), [])
        # Read as an analyst would: an ICB's services are those whose icb is it.
        self.assertEqual(self.keys_of("services", icb="QNX"), ["SVC-DAY-CENTRE", "SVC-EMI-RESPITE"])
        self.assertEqual(self.keys_of("services", icb="QNQ"), [])

    def test_org_keeps_only_that_organisation(self):
        with self.subTest("providers"):
            self.assertEqual(self.keys_of("flow/providers", org="RXC"), ["RXC"])
        with self.subTest("commissioners"):
            self.assertEqual(self.keys_of("finance/commissioners", org="QNX"),
                             [("QNX", "2026-27")])
        with self.subTest("register"):
            self.assertEqual(self.keys_of("governance/register", org="QNX"), ["QNX"])
        with self.subTest("councils"):
            self.assertEqual(self.keys_of("capacity/councils", org="E10000011"), ["E10000011"])
            self.assertEqual(self.keys_of("discharges/councils", org="E10000011"), ["E10000011"])
        with self.subTest("organisations"):
            self.assertEqual([r["code"] for r in self.table("organisations", org="RXC")], ["RXC"])
        with self.subTest("lines"):
            lines = self.table("capacity/lines", as_of=END_OF_DAY, org="RXC01")
            self.assertEqual([(l["organisation"], l["sector"]) for l in lines],
                             [("RXC01", "general_and_acute")])
        with self.subTest("cases"):
            # Read as an analyst would: a provider's cases are those at it.
            cases = self.table("discharges/cases", as_of=END_OF_DAY)
            rxc = self.table("discharges/cases", as_of=END_OF_DAY, org="RXC")
            self.assertEqual(canonical(rxc), canonical([c for c in cases
                                                        if c["provider"] == "RXC"]))
        with self.subTest("a provider keeps its sites"):
            # The organisation's own figures stay whole.
            whole = {r["provider"]: r for r in self.table("flow/providers", as_of=END_OF_DAY)}
            rxc = self.table("flow/providers", as_of=END_OF_DAY, org="RXC")[0]
            self.assertEqual(sorted(rxc["sites"]), ["RXC01", "RXC02"])
            self.assertEqual(rxc, whole["RXC"])

    def test_council_keeps_only_that_council(self):
        council = "E10000011"
        self.assertEqual(self.keys_of("discharges/councils", council=council), [council])
        self.assertEqual(self.keys_of("capacity/councils", council=council), [council])
        cases = self.table("discharges/cases", as_of=END_OF_DAY)
        mine = self.table("discharges/cases", as_of=END_OF_DAY, council=council)
        self.assertGreater(len(mine), 0)
        self.assertEqual(canonical(mine),
                         canonical([c for c in cases if c["rollup_council"] == council]))
        lines = self.table("capacity/lines", as_of=END_OF_DAY, council=council)
        self.assertEqual(sorted(l["organisation"] for l in lines), ["1-123039495"])

    def test_as_of_moves_tables_too(self):
        before = self.table("services", as_of=DAY_BEFORE)
        after = self.table("services", as_of=END_OF_DAY)
        status = lambda rows: {r["service_id"]: r["status"] for r in rows}
        self.assertEqual(status(before)["SVC-EMI-RESPITE"], None)
        self.assertEqual(status(after)["SVC-EMI-RESPITE"], "consultation")
        self.assertEqual(status(after)["SVC-DAY-CENTRE"], "closed")
        morning = {r["icb"]: r["in_hospital"] for r in self.table("flow/icbs", as_of=MORNING)}
        evening = {r["icb"]: r["in_hospital"] for r in self.table("flow/icbs", as_of=END_OF_DAY)}
        self.assertNotEqual(morning["QNX"], evening["QNX"])
        expected = show(self.daemon, "flow", "--as-of", str(MORNING))["flow"]["icbs"]["QNX"]
        self.assertEqual(morning["QNX"], expected["in_hospital"])

    # ---- errors

    def test_a_bad_or_unknown_parameter_is_400_naming_it(self):
        cases = [
            ("/api/v1/flow", {"as_of": "x"}, "as_of"),
            ("/api/v1/flow", {"as_of": "-5"}, "as_of"),
            ("/api/v1/flow", {"as_of": "12.5"}, "as_of"),
            ("/api/v1/flow", {"as_of": "99999999999999999999999"}, "as_of"),
            ("/api/v1/flow", {"colour": "red"}, "colour"),
            ("/api/v1/flow", {"limit": "5"}, "limit"),
            ("/api/v1/flow", {"format": "csv"}, "format"),
            ("/api/v1/flow/providers", {"limit": "0"}, "limit"),
            ("/api/v1/flow/providers", {"limit": "1001"}, "limit"),
            ("/api/v1/flow/providers", {"limit": "ten"}, "limit"),
            ("/api/v1/flow/providers", {"cursor": "not-a-cursor"}, "cursor"),
            ("/api/v1/flow/providers", {"format": "xml"}, "format"),
            ("/api/v1/flow/providers", {"topic": "flow."}, "topic"),
            ("/api/v1/discharges/cases", {"as_of": ""}, "as_of"),
            ("/api/v1/organisations/RXC", {"icb": "QNX"}, "icb"),
            ("/api/v1/organisations/RXC", {"as_of": "soon"}, "as_of"),
            ("/api/v1/stream", {"as_of": "1"}, "as_of"),
            ("/api/v1/stream", {"last_event_id": "abc"}, "last_event_id"),
            # One value a name: two is not "the last one wins".
            ("/api/v1/flow/providers", [("icb", "QNX"), ("icb", "QNQ")], "icb"),
            ("/api/v1/flow/providers", [("format", "csv"), ("format", "json")], "format"),
            ("/api/v1/capacity", [("as_of", "1"), ("as_of", "1")], "as_of"),
            # The operations routes take no parameter at all.
            ("/healthz", {"as_of": "1"}, "as_of"),
            ("/readyz", {"as_of": "1"}, "as_of"),
            ("/metrics", {"name[]": "commissiond_last_sequence"}, "name[]"),
            ("/metrics", {"format": "json"}, "format"),
        ]
        for path, params, name in cases:
            with self.subTest(path=path, params=params):
                answer = self.api.get(path, params)
                self.assertEqual(answer.status, 400, answer)
                error = answer.json()["error"]
                self.assertEqual(error["status"], 400)
                self.assertEqual(error["parameter"], name)
                said = error["message"].lower().replace("-", "_")
                self.assertIn(name, said)

    def test_a_parameter_name_is_percent_decoded_as_its_value_is(self):
        # as%5Fof is as_of, as a value's %5F is '_'.
        answer = self.api.request("GET", "/api/v1/capacity?as%5Fof=1")
        self.assertEqual(answer.status, 200, answer)
        self.assertEqual(answer.json()["as_of"], 1)
        page = self.api.request("GET", "/api/v1/flow/providers?%6Cimit=1&%63ursor=1")
        self.assertEqual(page.status, 200, page)
        self.assertEqual(len(page.json()["items"]), 1)
        self.assertEqual(page.json()["next_cursor"], "2")
        # Paged by a decoded name, an area that is a table too is the table.
        services = self.api.request("GET", "/api/v1/services?%6Cimit=2")
        self.assertEqual(services.status, 200, services)
        self.assertEqual(services.json()["table"], "services")
        csv_answer = self.api.request("GET", "/api/v1/services?form%61t=csv")
        self.assertEqual(csv_answer.media_type, "text/csv", csv_answer)
        cases = [
            # Decoded, a name given twice is given twice.
            ("/api/v1/capacity?as_of=1&as%5Fof=2", "as_of", "more than once"),
            ("/api/v1/capacity?co%6Cour=red", "colour", "no such parameter"),
            ("/api/v1/capacity?as+of=1", "as of", "no such parameter"),
            ("/api/v1/capacity?%66ormat=csv", "format", "for tables"),
            # %00 would cut the name short: refused, the name as sent.
            ("/api/v1/capacity?as_of%00x=1", "as_of%00x", "NUL"),
            ("/api/v1/capacity?as%5Fof=1%00", "as_of", "NUL"),
            ("/api/v1/capacity?%FF=1", "?", "not UTF-8"),
        ]
        for target, name, said in cases:
            with self.subTest(target):
                answer = self.api.request("GET", target)
                self.assertEqual(answer.status, 400, answer)
                error = answer.json()["error"]
                assert_valid(answer.json(), openapi()["components"]["schemas"]["Error"], target)
                self.assertEqual(error["parameter"], name)
                self.assertIn(said, error["message"])

    def test_an_as_of_past_the_year_9999_is_400_naming_the_range(self):
        # Past 9999-12-31T23:59:59.999Z the day numbers the figures are
        # worked out with wrap (from day 2^31): refused, not answered wrong.
        for as_of in (LAST_MS + 1, 185542587187200000, 10**18, 2**63 - 1):
            for path in ("/api/v1/services", "/api/v1/discharges", "/api/v1/flow",
                         "/api/v1/capacity/lines", "/api/v1/organisations/RXC"):
                with self.subTest(path=path, as_of=as_of):
                    answer = self.api.get(path, {"as_of": as_of})
                    self.assertEqual(answer.status, 400, answer)
                    error = answer.json()["error"]
                    self.assertEqual(error["parameter"], "as_of")
                    self.assertIn(str(LAST_MS), error["message"])
                    self.assertIn("9999-12-31", error["message"])
        # The last millisecond of the calendar is answered, as the fold
        # gives it.
        for area in ("services", "discharges"):
            with self.subTest(area=area, as_of=LAST_MS):
                answer = self.area(area, as_of=LAST_MS)
                self.assertEqual(answer["as_of"], LAST_MS)
                self.assertEqual(without_as_of(answer["figures"]),
                                 without_as_of(show(self.daemon, area, "--as-of", str(LAST_MS))))

    def test_commissionctl_show_refuses_an_as_of_past_the_year_9999(self):
        for as_of in (LAST_MS + 1, 2**63 - 1):
            with self.subTest(as_of=as_of):
                proc = self.daemon.ctl("show", "services", "--as-of", str(as_of))
                self.assertNotEqual(proc.returncode, 0, proc.stdout)
                self.assertEqual(proc.stdout, "")
                self.assertIn("--as-of", proc.stderr)
                self.assertIn(str(LAST_MS), proc.stderr)

    def http_count(self, status, route=None):
        """commissiond_http_requests_total of status, on route or on all."""
        text = self.api.get("/metrics").text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("commissiond_http_requests_total{")
                   and (route is None or f'route="{route}"' in line)
                   and f'status="{status}"' in line)

    def test_a_value_or_path_not_utf_8_or_holding_nul_is_a_json_400_or_404(self):
        before = self.http_count(500)
        cases = [
            ("/api/v1/capacity?as_of=%FF", 400, "as_of"),
            ("/api/v1/flow/providers?icb=%C0%AF", 400, "icb"),
            ("/api/v1/organisations?org=%ED%A0%80", 400, "org"),
            ("/api/v1/stream?topic=flow.%FF", 400, "topic"),
            ("/api/v1/capacity?as_of=1%00abc", 400, "as_of"),
            ("/api/v1/flow?icb=QNX%00", 400, "icb"),
            ("/api/v1/%FF", 404, None),
            ("/api/v1/organisations/%FF", 404, None),
            ("/%FF", 404, None),
            ("/healthz%00junk", 400, None),
            ("/api/v1/organisations/RXC%00zz", 400, None),
        ]
        for target, status, name in cases:
            with self.subTest(target):
                # A short time-out: a stream taken would never end.
                answer = self.api.request("GET", target, timeout=10)
                self.assertEqual(answer.status, status, answer)
                self.assertEqual(answer.media_type, "application/json", answer)
                error = answer.json()["error"]
                assert_valid(answer.json(), openapi()["components"]["schemas"]["Error"], target)
                self.assertEqual(error["status"], status)
                self.assertEqual(error.get("parameter"), name)
                if name is not None:
                    self.assertIn(name, error["message"])
                if "%00" in target:
                    self.assertIn("NUL", error["message"])
        # Quoted in a message as sent, bytes that are not UTF-8 come out
        # as '?' rather than turn the answer into a 500.
        for request, status in ((b"GET /api/v1/stream HTTP/1.1\r\nHost: localhost\r\n"
                                 b"Last-Event-ID: 1\xff\r\nConnection: close\r\n\r\n", 400),
                                (b"GET /api/v1/\xff HTTP/1.1\r\nHost: localhost\r\n"
                                 b"Connection: close\r\n\r\n", 404)):
            with self.subTest(request):
                answer = self.api.raw(request)
                self.assertEqual(answer.status, status, answer)
                self.assertEqual(answer.json()["error"]["status"], status)
        # A client's typo is not a server fault on the dashboards.
        self.assertEqual(self.http_count(500), before)

    def test_an_unknown_route_is_404(self):
        for path in ("/api/v1/beds", "/api/v1/flow/providers/RXC", "/api/v2/flow", "/nothing",
                     "/api/v1/", "/api/v1/organisations/RXC/sites"):
            with self.subTest(path):
                answer = self.api.get(path)
                self.assertEqual(answer.status, 404, answer)
                self.assertEqual(answer.json()["error"]["status"], 404)

    def test_methods_other_than_get_are_405_with_allow_get(self):
        for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"):
            for path in ("/api/v1/flow", "/api/v1/flow/providers", "/healthz", "/metrics",
                         "/api/v1/stream"):
                with self.subTest(method=method, path=path):
                    body = b'{"x":1}' if method in ("POST", "PUT", "PATCH") else None
                    answer = self.api.request(method, path, body=body)
                    self.assertEqual(answer.status, 405, answer)
                    self.assertEqual(answer.headers.get("Allow"), "GET")
                    if method != "HEAD":
                        conform(answer, path)
                        self.assertEqual(answer.json()["error"]["status"], 405)

    def read_until_closed(self, request, seconds=3):
        """Send raw bytes; (everything read, whether the server closed)."""
        sock = socket.create_connection(self.api.address, timeout=seconds)
        data = b""
        try:
            sock.sendall(request)
            while True:
                got = sock.recv(65536)
                if not got:
                    return data, True
                data += got
        except socket.timeout:
            return data, False
        finally:
            sock.close()

    def test_a_client_that_shuts_down_its_writing_side_is_let_go_cleanly_and_counted(self):
        # As `printf 'GET ...' | nc -N` does. The routes read in slices
        # take it as a client gone: no answer at all (not a bare 503 with
        # no body), the connection closed, and the request counted.
        for route, target in (("/api/v1/discharges", "/api/v1/discharges"),
                              ("/api/v1/discharges/cases", "/api/v1/discharges/cases?limit=5"),
                              ("/api/v1/flow", f"/api/v1/flow?as_of={DAY_BEFORE}")):
            with self.subTest(target):
                before = self.http_count(499, route)
                sock = socket.create_connection(self.api.address, timeout=10)
                try:
                    # Corked, the request and the FIN leave in one segment
                    # (Linux tacks the FIN on to data not yet sent): the
                    # server cannot begin the reading before it sees the
                    # FIN, which is what the test is about.
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
                    sock.sendall(f"GET {target} HTTP/1.0\r\n\r\n".encode())
                    sock.shutdown(socket.SHUT_WR)
                    data = b""
                    while True:
                        got = sock.recv(65536)
                        if not got:
                            break
                        data += got
                finally:
                    sock.close()
                self.assertEqual(data, b"", "an answer no one asked to read")
                self.assertEqual(self.http_count(499, route), before + 1)
        # An answer made at once is still made (no slice to notice it in).
        self.assertEqual(self.api.get_json("/healthz"), {"status": "ok"})

    def test_the_405_to_head_has_no_body_and_the_connection_goes_on(self):
        data, _ = self.read_until_closed(
            b"HEAD /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"
            b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        # The answer to HEAD ends with its headers: the next bytes are the
        # next answer's status line, as a client keeping the connection
        # reads them.
        head, _, rest = data.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 405 "), data)
        self.assertIn(b"\r\nAllow: GET\r\n", head)
        self.assertTrue(rest.startswith(b"HTTP/1.1 200 OK\r\n"), data)
        self.assertTrue(rest.endswith(b'\r\n\r\n{"status":"ok"}\n'), data)

    def test_trace_connect_and_unknown_methods_are_a_json_405_with_allow_get(self):
        for method in ("TRACE", "CONNECT", "FOO", "PROPFIND"):
            with self.subTest(method):
                data, closed = self.read_until_closed(
                    f"{method} /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
                head, _, body = data.partition(b"\r\n\r\n")
                self.assertTrue(head.startswith(b"HTTP/1.1 405 "), data)
                self.assertIn(b"\r\nAllow: GET\r\n", head)
                self.assertIn(b"\r\nContent-Type: application/json", head)
                error = json.loads(body)
                assert_valid(error, openapi()["components"]["schemas"]["Error"], method)
                self.assertEqual(error["error"]["status"], 405)
                if method != "TRACE":
                    # What follows may not be HTTP: the connection goes.
                    self.assertTrue(closed, f"{method}: the connection stayed open")

    def test_a_request_line_or_headers_over_max_request_bytes_is_413(self):
        host = f"{self.api.host}:{self.api.port}"
        fits = self.api.raw(f"GET /healthz HTTP/1.1\r\nHost: {host}\r\nX-Pad: {'a' * 8000}\r\n"
                            f"Connection: close\r\n\r\n".encode())
        self.assertEqual(fits.status, 200)
        cases = {
            "a long header": f"GET /healthz HTTP/1.1\r\nHost: {host}\r\nX-Pad: {'a' * 20000}\r\n"
                             f"Connection: close\r\n\r\n",
            "many headers": f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n" +
                            "".join(f"X-Pad-{i}: {'b' * 90}\r\n" for i in range(200)) +
                            "Connection: close\r\n\r\n",
            "a long request line": f"GET /api/v1/flow?as_of={'1' * 20000} HTTP/1.1\r\n"
                                   f"Host: {host}\r\nConnection: close\r\n\r\n",
        }
        for name, request in cases.items():
            with self.subTest(name):
                answer = self.api.raw(request.encode())
                self.assertEqual(answer.status, 413, answer)
                self.assertEqual(answer.media_type, "application/json", answer)
                assert_valid(answer.json(), openapi()["components"]["schemas"]["Error"], name)
                self.assertEqual(answer.json()["error"]["status"], 413)
        self.assertEqual(self.api.get_json("/healthz"), {"status": "ok"})

    def test_two_content_lengths_that_differ_are_a_json_400_and_the_connection_closes(self):
        # RFC 9112 6.3: where the request ends is not known. libevent reads
        # the first length's worth; "fg" would be taken for the next request.
        for lengths, body in (((5, 7), b"abcdefg"), ((7, 5), b"abcdefg"), ((0, 3), b"abc"),
                              ((5, "x"), b"abcde")):
            with self.subTest(lengths):
                data, closed = self.read_until_closed(
                    b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n" +
                    b"".join(f"Content-Length: {n}\r\n".encode() for n in lengths) +
                    b"\r\n" + body)
                head, _, rest = data.partition(b"\r\n\r\n")
                self.assertTrue(head.startswith(b"HTTP/1.1 400 "), data)
                self.assertIn(b"\r\nContent-Type: application/json", head)
                self.assertIn(b"\r\nConnection: close", head)
                error = json.loads(rest)
                assert_valid(error, openapi()["components"]["schemas"]["Error"], str(lengths))
                self.assertIn("Content-Length", error["error"]["message"])
                self.assertTrue(closed, "the connection stayed open")
        # The same length twice is one length.
        data, _ = self.read_until_closed(
            b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\ncontent-length: 05\r\n"
            b"Connection: close\r\n\r\nabcde")
        self.assertTrue(data.startswith(b"HTTP/1.1 200 "), data)
        # libevent refuses itself (its HTML 400, before the daemon's code) a
        # first length that is not a number, and Transfer-Encoding with one.
        for request in (b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5, 7\r\n\r\nabcdefg",
                        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: -1\r\n\r\n",
                        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
                        b"Content-Length: 5\r\n\r\n0\r\n\r\n"):
            with self.subTest(request):
                data, closed = self.read_until_closed(request)
                self.assertTrue(data.startswith(b"HTTP/1.1 400 "), data)
                self.assertTrue(closed, "the connection stayed open")

    def test_the_dashboard_page_is_served(self):
        answer = self.api.get("/", {"icb": "QNX"})
        self.assertEqual(answer.status, 200, answer)
        self.assertEqual(answer.media_type, "text/html")


class FoldTooSoon(SharedDaemon):
    """A past flow fold asked too soon after the last is 429, so named."""

    settings = {"http.fold_wait_factor": "1000000"}

    @classmethod
    def events(cls):
        return sample_day(20, seed="fold")

    def test_a_fold_too_soon_is_429_too_many_requests(self):
        self.assertEqual(self.api.get("/api/v1/flow", {"as_of": MORNING}).status, 200)
        conn = http.client.HTTPConnection(self.api.host, self.api.port, timeout=30)
        try:
            conn.request("GET", f"/api/v1/flow?as_of={DAY_BEFORE}")
            answer = conn.getresponse()
            body = answer.read()
        finally:
            conn.close()
        self.assertEqual(answer.status, 429, body)
        self.assertEqual(answer.reason, "Too Many Requests")
        self.assertTrue(answer.getheader("Retry-After"))
        self.assertEqual(json.loads(body)["error"]["parameter"], "as_of")


class Freshness(DaemonTestCase):

    def setUp(self):
        self.settings = http_settings()
        super().setUp()
        self.api = Api(self.daemon)

    def test_freshness_is_null_before_any_event_and_moves_after_each_send(self):
        empty = self.api.get_json("/api/v1/flow")
        self.assertEqual((empty["last_sequence"], empty["last_event_time"]), (0, None))
        table = self.api.get("/api/v1/flow/providers", {"format": "csv"})
        self.assertEqual(table.headers["X-Last-Sequence"], "0")
        self.assertEqual(table.headers["X-Last-Event-Time"], "")

        before = int(time.time() * 1000)
        acks, proc = self.daemon.send(event_mix(20))
        after = int(time.time() * 1000)
        last = max(int(a["sequence"]) for a in acks)
        first = self.api.get_json("/api/v1/capacity/lines")
        self.assertEqual(first["last_sequence"], last)
        self.assertIsInstance(first["last_event_time"], int)
        self.assertLessEqual(before - 1000, first["last_event_time"])
        self.assertLessEqual(first["last_event_time"], after + 1000)
        organisation = self.api.get("/api/v1/organisations/RXC")
        self.assertEqual(organisation.status, 404)  # never registered here

        time.sleep(0.05)
        acks, proc = self.daemon.send([admission(n) for n in range(100, 105)])
        second = self.api.get_json("/api/v1/flow")
        self.assertEqual(second["last_sequence"], last + 5)
        self.assertGreater(second["last_event_time"], first["last_event_time"])
        csv_answer = self.api.get("/api/v1/flow/providers", {"format": "csv"})
        self.assertEqual(csv_answer.headers["X-Last-Sequence"], str(last + 5))
        self.assertEqual(csv_answer.headers["X-Last-Event-Time"], str(second["last_event_time"]))

        # A repeat stores nothing: the figures are as fresh as they were.
        acks, proc = self.daemon.send([admission(n) for n in range(100, 105)])
        self.assertEqual({a["status"] for a in acks}, {"ACK_STATUS_DUPLICATE"})
        third = self.api.get_json("/api/v1/flow")
        self.assertEqual((third["last_sequence"], third["last_event_time"]),
                         (second["last_sequence"], second["last_event_time"]))

    def test_every_table_as_csv_on_an_empty_store_is_its_key_columns_alone(self):
        # finance/commissioners has two key columns: its empty CSV once
        # wrote past the list of column names (a heap overflow).
        for route, (_, _, _, keys) in TABLES.items():
            with self.subTest(route=route):
                answer = self.api.get(f"/api/v1/{route}", {"format": "csv"})
                self.assertEqual(answer.status, 200, answer)
                self.assertEqual(answer.body.decode(), ",".join(keys) + "\r\n")
        self.assertEqual(self.api.get("/healthz").status, 200)

    def test_freshness_survives_a_restart(self):
        self.daemon.send(event_mix(10))
        before = self.api.get_json("/api/v1/flow")
        self.daemon.stop()
        self.daemon.start()
        after = self.api.get_json("/api/v1/flow")
        self.assertEqual((after["last_sequence"], after["last_event_time"]),
                         (before["last_sequence"], before["last_event_time"]))


class StoreUnreadable(DaemonTestCase):
    """A store that cannot be read (fail_read_txn.c under LD_PRELOAD: the
    reader table full) fails every figures route and /readyz with 503 naming why,
    rather than answer figures with a last_sequence of 0, which says the
    store is empty; once it reads again the answers are as before."""

    def daemon_env(self):
        self.trigger = os.path.join(self.workdir, "fail-read-txn")
        return preload_env(self.workdir, "fail_read_txn", FAIL_READ_TXN_FILE=self.trigger)

    def setUp(self):
        self.settings = http_settings()
        super().setUp()
        self.api = Api(self.daemon)

    def test_every_figures_route_fails_naming_the_store(self):
        acks, proc = self.daemon.send(sample_day(patients=20))
        self.assertEqual({a["status"] for a in acks}, {"ACK_STATUS_ACCEPTED"}, proc.stderr)
        last = max(int(a["sequence"]) for a in acks)
        code = min(self.api.get_json("/api/v1/organisations")["figures"]["organisations"])
        routes = ["/api/v1/" + area for area in AREAS] + \
            ["/api/v1/" + route for route in TABLES] + [f"/api/v1/organisations/{code}"]
        open(self.trigger, "w").close()
        for route in routes:
            for params in ({}, {"format": "csv"}) if route[8:] in TABLES else ({},):
                with self.subTest(route=route, params=params):
                    answer = self.api.get(route, params)
                    self.assertEqual(answer.status, 503, answer)
                    self.assertEqual(answer.headers["Retry-After"], "1")
                    self.assertIn("MDB_READERS_FULL", answer.json()["error"]["message"])
        # Not ready either (it said ready, with the store "open").
        answer = self.api.get("/readyz")
        self.assertEqual(answer.status, 503, answer)
        ready = answer.json()
        self.assertEqual((ready["ready"], ready["store"], ready["refusing_input"]),
                         (False, "unreadable", False))
        self.assertIn("MDB_READERS_FULL", ready["store_error"])
        os.unlink(self.trigger)
        for route in routes:
            with self.subTest(route=route, readable=True):
                self.assertEqual(self.api.get_json(route)["last_sequence"], last)
        self.assertEqual(self.api.get_json("/readyz"),
                         {"ready": True, "store": "open", "sockets": "bound",
                          "refusing_input": False})


TOKEN = "s3cret-Token_123"


class Token(SharedDaemon):
    settings = {"http.token": TOKEN}
    token = TOKEN

    def test_without_the_token_every_route_but_healthz_is_401(self):
        anonymous = Api(self.daemon)
        self.assertEqual(anonymous.get_json("/healthz"), {"status": "ok"})
        wrong = [None, "Bearer", "Bearer ", f"Bearer {TOKEN[:-1]}x", f"Bearer {TOKEN}x",
                 f"bearer{TOKEN}", f"Basic {TOKEN}", TOKEN, f"Bearer {TOKEN.lower()}"]
        for path in ("/readyz", "/metrics", "/api/v1/flow", "/api/v1/flow/providers",
                     "/api/v1/organisations/QNX", "/api/v1/stream"):
            for auth in wrong:
                with self.subTest(path=path, auth=auth):
                    headers = {"Authorization": auth} if auth is not None else {}
                    answer = anonymous.get(path, headers=headers)
                    self.assertEqual(answer.status, 401, answer)
                    self.assertEqual(answer.headers.get("WWW-Authenticate", "").split()[0],
                                     "Bearer")
                    self.assertEqual(answer.json()["error"]["status"], 401)
                    self.assertNotIn(TOKEN, answer.text)

    def test_the_scheme_is_read_whatever_its_case_and_the_token_is_not(self):
        # RFC 9110 11.1: the scheme is case-insensitive; one or more
        # spaces before the token (11.4). The token itself is compared
        # exactly.
        anonymous = Api(self.daemon)
        for auth in (f"bearer {TOKEN}", f"BEARER {TOKEN}", f"BeArEr {TOKEN}",
                     f"Bearer  {TOKEN}"):
            for path in ("/api/v1/flow", "/metrics"):
                with self.subTest(auth=auth, path=path):
                    answer = anonymous.get(path, headers={"Authorization": auth})
                    self.assertEqual(answer.status, 200, answer)
        for auth in (f"bearer {TOKEN.upper()}", f"BEARER {TOKEN.lower()}", f"bearer{TOKEN}",
                     f"bearer\t{TOKEN}", f"Bearers {TOKEN}", f"bear {TOKEN}", "bearer "):
            with self.subTest(auth=auth):
                answer = anonymous.get("/api/v1/flow", headers={"Authorization": auth})
                self.assertEqual(answer.status, 401, answer)

    def test_the_token_given_twice_is_401_whichever_is_right(self):
        good, bad = f"Bearer {TOKEN}", f"Bearer {TOKEN[:-1]}x"
        for first, second in ((good, good), (good, bad), (bad, good)):
            with self.subTest(first=first, second=second):
                answer = self.api.raw(f"GET /api/v1/flow HTTP/1.1\r\nHost: localhost\r\n"
                                      f"Authorization: {first}\r\nauthorization: {second}\r\n"
                                      f"Connection: close\r\n\r\n".encode())
                self.assertEqual(answer.status, 401, answer)

    def test_with_the_token_the_routes_answer(self):
        self.assertEqual(self.api.get_json("/readyz")["ready"], True)
        self.assertEqual(self.api.get_json("/api/v1/flow")["area"], "flow")
        self.assertEqual(self.api.get("/api/v1/organisations/QNX").status, 404)  # not 401
        self.assertEqual(self.api.get("/metrics").status, 200)
        # The stream too (only its head is read).
        sock = socket.create_connection(self.api.address, timeout=10)
        try:
            sock.sendall(f"GET /api/v1/stream HTTP/1.1\r\nHost: localhost\r\n"
                         f"Authorization: Bearer {TOKEN}\r\n\r\n".encode())
            response = http.client.HTTPResponse(sock, method="GET")
            response.begin()
            self.assertEqual(response.status, 200)
            self.assertEqual(response.headers["Content-Type"].split(";")[0], "text/event-stream")
        finally:
            sock.close()

    def test_the_token_is_never_printed(self):
        from harness import DAEMON
        printed = subprocess.run([DAEMON, "--config", self.daemon.config, "--print-config"],
                                 capture_output=True, text=True).stdout
        self.assertIn("(set)", printed)
        self.assertNotIn(TOKEN, printed)
        self.assertNotIn(TOKEN, self.daemon.log_text())


class HostHeader(SharedDaemon):
    """DNS rebinding: a page whose name resolves to 127.0.0.1 sends its own
    name in Host, and must not read the API (no token on loopback)."""

    PATHS = ("/healthz", "/readyz", "/metrics", "/", "/api/v1/flow",
             "/api/v1/discharges/cases", "/api/v1/stream")

    def answer(self, host, path="/api/v1/flow"):
        """One GET with Host exactly as given (None: no Host, HTTP/1.0)."""
        if host is None:
            request = f"GET {path} HTTP/1.0\r\n\r\n"
        else:
            request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        if path == "/api/v1/stream":
            # Only the head of a stream: it does not end.
            sock = socket.create_connection(self.api.address, timeout=10)
            try:
                sock.sendall(request.encode())
                response = http.client.HTTPResponse(sock, method="GET")
                response.begin()
                return response.status, b""
            finally:
                sock.close()
        answer = self.api.raw(request.encode())
        conform(answer, path)
        return answer.status, answer.body

    def test_names_of_this_host_are_served(self):
        port = self.api.port
        for host in ("localhost", f"localhost:{port}", "LocalHost", "localhost.",
                     f"127.0.0.1:{port}", "127.1.2.3", f"[::1]:{port}", "[::1]", None):
            with self.subTest(host=host):
                self.assertEqual(self.answer(host)[0], 200)

    def test_another_name_is_403_on_every_route_and_learns_nothing(self):
        for host in ("evil.example", f"evil.example:{self.api.port}", "127.0.0.1.evil.example",
                     "localhost.evil.example", "[::2]", "10.0.0.1", ""):
            for path in self.PATHS:
                with self.subTest(host=host, path=path):
                    status, body = self.answer(host, path)
                    self.assertEqual(status, 403)
                    if path != "/api/v1/stream":
                        error = json.loads(body)["error"]
                        self.assertIn(f'Host "{host.split(":")[0] if host[:1] != "[" else host}"'
                                      " is not a name of this daemon", error["message"])
                        self.assertIn("[http] hosts", error["message"])
        metrics = self.api.get("/metrics").text
        self.assertRegex(metrics, r'commissiond_http_requests_total\{route="other",'
                                  r'status="403"\} [1-9]')

    def test_a_target_in_absolute_form_is_judged_by_its_own_host(self):
        # RFC 9112 3.2.2: the target's authority is the host; Host is ignored.
        port = self.api.port
        for target, host, status in (
                ("http://evil.example/api/v1/flow", "localhost", 403),
                (f"http://evil.example:{port}/metrics", f"127.0.0.1:{port}", 403),
                (f"http://localhost:{port}/api/v1/flow", "evil.example", 200),
                ("http://[::1]/api/v1/flow", "localhost", 200)):
            with self.subTest(target=target, host=host):
                answer = self.api.raw(f"GET {target} HTTP/1.1\r\nHost: {host}\r\n"
                                      "Connection: close\r\n\r\n".encode())
                self.assertEqual(answer.status, status, answer)

    def test_two_host_lines_are_400_whichever_comes_first(self):
        # RFC 9112 3.2: a proxy in front may have judged the other one.
        for hosts in (("localhost", "evil.example"), ("evil.example", "localhost"),
                      ("localhost", "localhost")):
            with self.subTest(hosts=hosts):
                answer = self.api.raw(("GET /api/v1/flow HTTP/1.1\r\n" + "".join(
                    f"Host: {host}\r\n" for host in hosts) +
                    "Connection: close\r\n\r\n").encode())
                self.assertEqual(answer.status, 400, answer)
                self.assertEqual(json.loads(answer.body)["error"]["message"],
                                 "Host is given more than once")

    def test_a_path_that_begins_with_two_slashes_names_no_route(self):
        # libevent reads "//healthz" as the host healthz and an empty path,
        # which was served as the dashboard page.
        for target in ("//healthz", "//api/v1/flow", "//"):
            with self.subTest(target=target):
                answer = self.api.raw(f"GET {target}?as_of=1 HTTP/1.1\r\nHost: localhost\r\n"
                                      "Connection: close\r\n\r\n".encode())
                self.assertEqual(answer.status, 404, answer)
                self.assertEqual(json.loads(answer.body)["error"]["message"],
                                 f"no such route: {target}")


class HostsListed(SharedDaemon):
    """[http] hosts: the name a proxy passes on is served too."""

    settings = {"http.hosts": "dash.ics.example, other.example"}

    def test_the_listed_names_and_this_host_are_served_and_no_other(self):
        api = Api(self.daemon)
        for host, status in (("dash.ics.example", 200), ("DASH.ics.example:443", 200),
                             ("dash.ics.example.", 200), ("other.example", 200),
                             ("localhost", 200), ("ics.example", 403),
                             ("dash.ics.example.evil", 403)):
            with self.subTest(host=host):
                answer = api.get("/api/v1/flow", headers={"Host": host})
                self.assertEqual(answer.status, status, answer)


LONG_HOST = "a" * 60 + "." + "b" * 39 + ".example"   # 108 characters


class HostsLong(SharedDaemon):
    """A listed name is matched whole, however long: never cut short, so
    that one past a bound is neither refused nor matched by its start."""

    settings = {"http.hosts": LONG_HOST}

    def test_a_long_listed_name_is_served_and_longer_names_are_not(self):
        api = Api(self.daemon)
        for host, status in ((LONG_HOST, 200), (f"{LONG_HOST}:443", 200),
                             (LONG_HOST[:95] + ".evil.example", 403),
                             (LONG_HOST + ".evil.example", 403),
                             ("x" * 300 + ".example", 403)):
            with self.subTest(host=host):
                answer = api.get("/api/v1/flow", headers={"Host": host})
                self.assertEqual(answer.status, status, answer)


class HostsOf95(SharedDaemon):
    """A name that fills what a Host's name was once cut to (95
    characters): a longer name that begins with it is not it."""

    NAME = "c" * 60 + "." + "d" * 26 + ".example"

    settings = {"http.hosts": NAME}

    def test_a_name_that_begins_with_a_listed_one_is_refused(self):
        api = Api(self.daemon)
        self.assertEqual(len(self.NAME), 95)
        for host, status in ((self.NAME, 200), (self.NAME + ".evil.example", 403),
                             (self.NAME + "x", 403)):
            with self.subTest(host=host):
                answer = api.get("/api/v1/flow", headers={"Host": host})
                self.assertEqual(answer.status, status, answer)


class HostsBeyondLoopback(SharedDaemon):
    """Listening beyond loopback, the daemon is reached by names of its
    own that it cannot know: with [http] hosts empty, any is served."""

    @classmethod
    def setUpClass(cls):
        cls.settings = {"http.listen": f"0.0.0.0:{free_port()}"}
        super().setUpClass()

    def test_any_name_is_served(self):
        for host in ("ics-integration.example", "localhost", "10.1.2.3"):
            with self.subTest(host=host):
                answer = Api(self.daemon).get("/api/v1/flow", headers={"Host": host})
                self.assertEqual(answer.status, 200, answer)


class HostsAny(SharedDaemon):
    settings = {"http.hosts": "*"}

    def test_star_serves_any_name(self):
        answer = Api(self.daemon).get("/api/v1/flow", headers={"Host": "evil.example"})
        self.assertEqual(answer.status, 200, answer)


class NotReady(DaemonTestCase):
    """A map that cannot grow: once the store refuses input, /readyz is 503."""

    def setUp(self):
        self.settings = http_settings(**{"store.map_size": "262144",
                                         "store.map_max": "262144"})
        super().setUp()
        self.api = Api(self.daemon)

    def test_readyz_is_503_while_the_store_refuses_input_and_healthz_stays_200(self):
        self.assertEqual(self.api.get("/readyz").status, 200)
        refused = False
        for round_ in range(10):
            acks, proc = self.daemon.send(event_mix(3000 * (round_ + 1))[3000 * round_:])
            if any(a["status"] == "ACK_STATUS_RETRY_LATER" for a in acks):
                refused = True
                break
        self.assertTrue(refused, "the store never answered RETRY_LATER")
        answer = self.api.get("/readyz")
        self.assertEqual(answer.status, 503, answer)
        self.assertEqual(answer.json(), {"ready": False, "store": "open", "sockets": "bound",
                                         "refusing_input": True})
        self.assertEqual(answer.headers.get("Retry-After"), "1")  # as every 503
        self.assertEqual(self.api.get_json("/healthz"), {"status": "ok"})
        # The figures still answer: reading does not need room.
        self.assertGreater(self.api.get_json("/api/v1/flow")["last_sequence"], 0)


if __name__ == "__main__":
    unittest.main()
