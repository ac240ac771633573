"""An independent, deliberately simple reference model of the integrated-care
figures of DOMAIN.md ("How every figure is worked out", with "Edges,
settled"), written from the docs and the worked examples only, to check
commissiond's projections against.

    figures(events, as_of_ms) -> dict

events are notation events (tests/examples/README.md) that were ACCEPTED:
the model does not validate. Of copies of one (source, event_id) the first
stands. The result uses the names of tests/examples/README.md: flow,
discharges, capacity, services, finance, governance, pending, unmapped,
organisations, events_accepted and as_of.

envelope_to_event(envelope) turns a proto3 JSON Envelope (camelCase or
snake_case keys) into the notation, the reverse of examples.to_envelope.

Clarity over speed: every figure is worked out from the whole set of events.
Python's standard library only.
"""
import base64
import datetime
import re
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

ADT_KINDS = ("patient_admitted", "patient_transferred", "patient_discharged",
             "patient_updated", "patient_cancelled")
INPATIENT_CLASSES = ("I", "B")
ATTENDANCE_CLASSES = ("E", "O")
RUNNING_STATUSES = ("commissioned", "consultation", "decision")


# ---------------------------------------------------------------- small helpers

def fold_key(event):
    """The usual order of a thing's events (DOMAIN.md, Order and repetition)."""
    return (event["occurred_at"], event["source"], event["event_id"])


def london_date(ms):
    """The Europe/London calendar date of a UTC millisecond instant."""
    return (EPOCH + datetime.timedelta(milliseconds=ms)).astimezone(LONDON).date()


def parse_date(text):
    return datetime.date.fromisoformat(text)


def days_between(first, last):
    """Midnights from first to last, never below 0."""
    return max((last - first).days, 0)


def round_half_away(numerator, denominator):
    """numerator / denominator to the nearest integer, halves away from zero
    (denominator > 0), in integers only."""
    sign = -1 if numerator < 0 else 1
    q, r = divmod(abs(numerator), denominator)
    if 2 * r >= denominator:
        q += 1
    return sign * q


def financial_year(day):
    """'2026-27' for a date from 1 April 2026 to 31 March 2027."""
    start = day.year if day.month >= 4 else day.year - 1
    return f"{start}-{(start + 1) % 100:02d}"


def year_bounds(year):
    start = int(year[:4])
    return datetime.date(start, 4, 1), datetime.date(start + 1, 3, 31)


def given(event, field):
    """A field's value, or None when absent or an empty text (missing)."""
    value = event.get(field)
    if value is None or value == "":
        return None
    return value


def is_icb(code):
    return bool(code) and re.fullmatch(r"Q[A-Z0-9]{2}", code) is not None


def is_council(code):
    return bool(code) and re.fullmatch(r"E0[6-9][0-9]{6}|E10[0-9]{6}", code) is not None


def is_care_home(code):
    return bool(code) and re.fullmatch(r"1-[0-9]{9,11}", code) is not None


def site_provider(code):
    """The provider a site code extends (RXC01 -> RXC, NMJ01 -> NMJ), or None."""
    if code and re.fullmatch(r"[RTN][A-Z0-9]{4}", code):
        return code[:3]
    return None


def covers(interest_in, provider):
    """A declaration naming a trust or independent provider covers every code
    that is its code plus two characters; any other code covers itself."""
    if interest_in == provider:
        return True
    return (re.fullmatch(r"[RTN][A-Z0-9]{2}", interest_in or "") is not None
            and len(provider) == 5 and provider.startswith(interest_in))


def group(events, key):
    out = {}
    for e in events:
        out.setdefault(key(e), []).append(e)
    for evts in out.values():
        evts.sort(key=fold_key)
    return out


def dedupe(events):
    """Of copies of one (source, event_id) the first to arrive stands."""
    seen, out = set(), []
    for e in events:
        k = (e["source"], e["event_id"])
        if k not in seen:
            seen.add(k)
            out.append(e)
    return out


# ---------------------------------------------------------------- hierarchy

class Hierarchy:
    """Organisations as registered: the last record of a code stands."""

    def __init__(self, events):
        self.records = {}
        for e in sorted((e for e in events if e["kind"] in ("org_registered", "org_updated")),
                        key=fold_key):
            self.records[e["code"]] = e

    def _chain(self, code):
        """The ICB reached through registered parents (an ICB-format code is
        its own ICB), or None."""
        seen = set()
        while code and code not in seen:
            if is_icb(code):
                return code
            seen.add(code)
            record = self.records.get(code)
            if record is None:
                return None
            code = given(record, "parent_code")
        return None

    def icb_of(self, code):
        """Where a code rolls up: its registered parent chain, else (a site)
        the provider its code extends. None when unknown."""
        icb = self._chain(code)
        if icb is None:
            record = self.records.get(code)
            if record is None or record.get("role") == "trust_site":
                provider = site_provider(code)
                if provider is not None:
                    icb = self._chain(provider)
        return icb

    def commissioner_icb(self, code):
        """A code in a commissioner field: its ICB from registered parents only."""
        return self._chain(code)

    def parent(self, code):
        record = self.records.get(code)
        return given(record, "parent_code") if record else None

    def care_home_council(self, code):
        """The council a care home is in (its registered parent), else 'unmapped'."""
        return self.parent(code) or "unmapped"


# ---------------------------------------------------------------- flow

def fold_spell(events):
    s = {"void": False, "admit_ms": None, "discharge_ms": None, "site": None, "ward": None,
         "class": None, "patient": None, "transfers": [], "has_admission": False,
         "has_discharge": False}
    for e in events:
        if given(e, "patient_pseudonym"):
            s["patient"] = e["patient_pseudonym"]
        kind = e["kind"]
        if kind == "patient_cancelled":
            target = e.get("cancels")
            if target == "admission":
                s["void"] = True
            elif target == "transfer":
                if s["transfers"]:
                    s["site"], s["ward"] = s["transfers"].pop()
            elif target == "discharge":
                s["discharge_ms"] = None
            continue
        if kind == "patient_transferred":
            s["transfers"].append((s["site"], s["ward"]))
        for field, key in (("patient_class", "class"), ("site", "site"), ("ward", "ward")):
            if given(e, field) is not None:
                s[key] = e[field]
        if kind == "patient_admitted":
            s["has_admission"] = True
            s["void"] = False  # an admission after a cancel-admission reopens it
            s["admit_ms"] = e["occurred_at"]
        elif kind == "patient_discharged":
            s["has_discharge"] = True
            s["discharge_ms"] = e["occurred_at"]
    return s


def _count(obj, key, n=1):
    obj[key] = obj.get(key, 0) + n


def spells_of(events):
    adt = [e for e in events if e["kind"] in ADT_KINDS]
    return {k: fold_spell(v) for k, v in
            group(adt, lambda e: (e["provider"], e["spell_pseudonym"])).items()}


def flow_figures(spells, hierarchy, as_of_ms):
    providers, icbs = {}, {}
    for (provider, _), s in sorted(spells.items()):
        if s["void"]:
            continue
        inpatient = s["class"] in INPATIENT_CLASSES
        attendance = s["class"] in ATTENDANCE_CLASSES
        if not (inpatient or attendance):
            continue  # other classes count nowhere
        icb = hierarchy.icb_of(provider) or "unmapped"
        p = providers.setdefault(provider, {"icb": icb, "in_hospital": 0, "days": {}, "sites": {}})
        i = icbs.setdefault(icb, {"in_hospital": 0, "days": {}})
        places = [p, i]
        site = None
        if s["site"] is not None:
            site = p["sites"].setdefault(s["site"], {"in_hospital": 0, "wards": {}, "days": {}})
            places.append(site)
        counts = []  # (date, what)
        if inpatient:
            if s["admit_ms"] is not None:
                counts.append((london_date(s["admit_ms"]), "admissions"))
            if s["discharge_ms"] is not None:
                counts.append((london_date(s["discharge_ms"]), "discharges"))
            inside = (s["admit_ms"] is not None and s["admit_ms"] <= as_of_ms
                      and not (s["discharge_ms"] is not None and s["discharge_ms"] <= as_of_ms))
            if inside:
                for place in places:
                    place["in_hospital"] += 1
                if site is not None and s["ward"] is not None:
                    _count(site["wards"], s["ward"])
        elif s["admit_ms"] is not None:
            counts.append((london_date(s["admit_ms"]), "attendances"))
        for day, what in counts:
            for place in places:
                _count(place["days"].setdefault(day.isoformat(), {}), what)
    return {"providers": providers, "icbs": icbs}


def discharge_only_spells(spells):
    return sorted(f"{provider}/{spell}" for (provider, spell), s in spells.items()
                  if s["has_discharge"] and not s["has_admission"]
                  and s["discharge_ms"] is not None)


# ---------------------------------------------------------------- delayed discharges

def packages_of(events):
    """(council, package id) -> {patient, start (the last 'started'), council, package_id}."""
    out = {}
    pk = [e for e in events if e["kind"] in ("care_package_started", "care_package_ended")]
    for (council, package_id), evts in sorted(group(pk, lambda e: (e["council"], e["package_id"])).items()):
        patient, start = None, None
        for e in evts:
            patient = e.get("patient_pseudonym") or patient
            if e["kind"] == "care_package_started":
                start = parse_date(e["start_date"])
        if start is not None:
            out[(council, package_id)] = {"patient": patient, "start": start,
                                          "council": council, "package_id": package_id}
    return out


def discharge_figures(events, spells, hierarchy, as_of_ms):
    as_of_day = london_date(as_of_ms)
    packages = packages_of(events)
    # Inpatient discharges standing, per (patient, provider), in time order.
    discharges = {}
    for (provider, spell), s in spells.items():
        if s["void"] or s["class"] not in INPATIENT_CLASSES or s["discharge_ms"] is None:
            continue
        discharges.setdefault((s["patient"], provider), []).append(
            (s["discharge_ms"], spell, london_date(s["discharge_ms"])))
    for d in discharges.values():
        d.sort()
    # Each report to its case: the first discharge on or after its ready date, else open.
    cases = {}
    reports = sorted((e for e in events if e["kind"] == "ready_for_discharge"), key=fold_key)
    for r in reports:
        ready = parse_date(r["ready_date"])
        closing = next((d for d in discharges.get((r["patient_pseudonym"], r["provider"]), [])
                        if d[2] >= ready), None)
        key = (r["patient_pseudonym"], r["provider"], closing[1] if closing else None)
        case = cases.setdefault(key, {"reports": [], "discharge": closing})
        case["reports"].append(r)

    out_cases, icbs, councils = [], {}, {}
    for (patient, provider, _), case in sorted(cases.items(), key=lambda kv: (
            kv[0][0], kv[0][1], kv[1]["discharge"] is None, kv[1]["discharge"] or ())):
        rs = case["reports"]  # in fold order
        ready = min(parse_date(r["ready_date"]) for r in rs)
        pathway = int(rs[-1].get("pathway", 0))
        council = next((r["council"] for r in reversed(rs) if given(r, "council")), None)
        closed = case["discharge"] is not None
        discharge_day = case["discharge"][2] if closed else None
        end_day = discharge_day if closed else as_of_day
        days_delayed = days_between(ready, end_day)

        ended_by, package, waiting, days_waiting = None, None, False, None
        if pathway in (1, 2, 3):
            candidates = sorted((p for p in packages.values()
                                 if p["patient"] == patient and p["start"] >= ready),
                                key=lambda p: (p["start"], p["council"], p["package_id"]))
            first = candidates[0] if candidates else None
            limit = discharge_day if closed else as_of_day
            if first is not None and first["start"] <= limit:
                ended_by, package = "package", first
                days_waiting = days_between(ready, first["start"])
            elif closed:
                ended_by = "discharge"
                days_waiting = days_between(ready, discharge_day)
            else:
                waiting = True
                days_waiting = days_between(ready, as_of_day)
        rollup = council or (package["council"] if package else None) or "unattributed"
        out_cases.append({
            "patient": patient, "provider": provider, "status": "closed" if closed else "open",
            "ready_date": ready.isoformat(),
            "discharge_date": discharge_day.isoformat() if closed else None,
            "pathway": pathway, "council": council, "rollup_council": rollup,
            "days_delayed": days_delayed, "waiting_on_social_care": waiting,
            "social_care_wait_ended_by": ended_by,
            "package": ({"council": package["council"], "package_id": package["package_id"]}
                        if package else None),
            "days_waiting_for_social_care": days_waiting,
        })
        icb = hierarchy.icb_of(provider) or "unmapped"
        for rollups, where in ((icbs, icb), (councils, rollup)):
            r = rollups.setdefault(where, {
                "open": {"cases": 0, "waiting_on_social_care": 0, "days_delayed": 0,
                         "by_pathway": {}},
                "closed_by_date": {}})
            if closed:
                c = r["closed_by_date"].setdefault(discharge_day.isoformat(),
                                                   {"cases": 0, "days_delayed": 0})
                c["cases"] += 1
                c["days_delayed"] += days_delayed
            else:
                by = r["open"]["by_pathway"].setdefault(
                    str(pathway), {"cases": 0, "waiting_on_social_care": 0, "days_delayed": 0})
                for o in (r["open"], by):
                    o["cases"] += 1
                    o["waiting_on_social_care"] += 1 if waiting else 0
                    o["days_delayed"] += days_delayed
    return {"cases": out_cases, "icbs": icbs, "councils": councils}


# ---------------------------------------------------------------- services

def fold_service(events):
    """A service's events in (effective date, usual key) order, the history
    gap and the moves commissioned -> decommissioned or closed."""
    ordered = sorted(events, key=lambda e: (e["effective_date"],) + fold_key(e))
    gap, closures, previous = False, [], None
    for e in ordered:
        from_status = given(e, "from_status") or "new"
        if from_status != (previous["to_status"] if previous else "new"):
            gap = True
        if from_status == "commissioned" and e["to_status"] in ("decommissioned", "closed"):
            closures.append(e)
        previous = e
    return ordered, gap, closures


def service_on(ordered, day):
    """The last event effective on or before day, or None."""
    standing = None
    for e in ordered:
        if parse_date(e["effective_date"]) <= day:
            standing = e
    return standing


def service_places(event):
    """(commissioned, at risk, transfer) places of the event that stands."""
    if event is None or event["to_status"] not in RUNNING_STATUSES:
        return 0, 0, 0
    places = int(event.get("places") or 0)
    at_risk = transfer = 0
    change = event.get("proposed_change") or {}
    if event["to_status"] in ("consultation", "decision"):
        kind = change.get("type")
        if kind == "close":
            at_risk = places
        elif kind == "reduce":
            at_risk = max(places - int(change.get("places") or 0), 0)
        elif kind == "transfer":
            transfer = places
    return places, at_risk, transfer


def services_figures(events, hierarchy, as_of_ms):
    as_of_day = london_date(as_of_ms)
    out, closures, placed = {}, [], []
    svc = [e for e in events if e["kind"] == "service_status_changed"]
    for service_id, evts in sorted(group(svc, lambda e: e["service_id"]).items()):
        ordered, gap, moves = fold_service(evts)
        standing = service_on(ordered, as_of_day)
        commissioned, at_risk, transfer = service_places(standing)
        change = standing.get("proposed_change") if standing else None
        out[service_id] = {
            "status": standing["to_status"] if standing else None,
            "history_gap": gap,
            "closure_without_consultation": bool(moves),
            "commissioned_places": commissioned, "at_risk_places": at_risk,
            "at_risk_transfer_places": transfer,
            "effective_date": standing["effective_date"] if standing else None,
            "commissioner": standing["commissioner"] if standing else None,
            "provider": standing["provider"] if standing else None,
            "places": int(standing["places"]) if standing else None,
            "proposed_change": dict(change) if change else None,
        }
        for m in moves:
            closures.append({"service_id": service_id, "commissioner": m["commissioner"],
                             "provider": m["provider"], "from_status": m["from_status"],
                             "to_status": m["to_status"], "effective_date": m["effective_date"]})
        if standing is not None and standing["to_status"] in RUNNING_STATUSES:
            placed.append((standing, (commissioned, at_risk, transfer)))
    return out, closures, placed


def service_council(event, hierarchy):
    """Where a service's places roll up among councils: the commissioning
    council, else the provider's council (a care home with no known council:
    'unmapped'), else none."""
    if is_council(event["commissioner"]):
        return event["commissioner"]
    provider = event["provider"]
    parent = hierarchy.parent(provider)
    if parent is not None and (is_council(parent)
                               or hierarchy.records.get(parent, {}).get("role") == "local_authority"):
        return parent
    if is_care_home(provider):
        return "unmapped"
    return None


# ---------------------------------------------------------------- capacity

CAPACITY_FIELDS = ("available", "occupied", "vacant", "over_capacity_lines",
                   "commissioned_places", "at_risk_places", "at_risk_transfer_places")


def capacity_figures(events, hierarchy, placed):
    lines, icbs, councils = [], {}, {}

    def rollup(table, key):
        return table.setdefault(key, {f: 0 for f in CAPACITY_FIELDS})

    cap = [e for e in events if e["kind"] == "capacity_reported"]
    for (organisation, sector), evts in sorted(group(cap, lambda e: (e["organisation"], e["sector"])).items()):
        line = max(evts, key=lambda e: (e["as_of"],) + fold_key(e))
        available, occupied = int(line["beds_available"]), int(line["beds_occupied"])
        vacant = max(available - occupied, 0)
        icb = hierarchy.icb_of(organisation) or "unmapped"
        lines.append({"organisation": organisation, "sector": sector, "icb": icb,
                      "available": available, "occupied": occupied, "vacant": vacant})
        targets = [rollup(icbs, icb)]
        if is_care_home(organisation):
            targets.append(rollup(councils, hierarchy.care_home_council(organisation)))
        for t in targets:
            t["available"] += available
            t["occupied"] += occupied
            t["vacant"] += vacant
            t["over_capacity_lines"] += 1 if occupied > available else 0
    for event, (commissioned, at_risk, transfer) in placed:
        icb = hierarchy.commissioner_icb(event["commissioner"]) or "unmapped"
        targets = [rollup(icbs, icb)]
        council = service_council(event, hierarchy)
        if council is not None:
            targets.append(rollup(councils, council))
        for t in targets:
            t["commissioned_places"] += commissioned
            t["at_risk_places"] += at_risk
            t["at_risk_transfer_places"] += transfer
    return {"lines": lines, "icbs": icbs, "councils": councils}


# ---------------------------------------------------------------- finance

def contracts_of(events):
    """contract id -> {award, variations {number: event}, termination}, each
    the last of its kind in fold order (a correction)."""
    out = {}
    for e in sorted(events, key=fold_key):
        kind = e["kind"]
        if kind not in ("contract_awarded", "contract_varied", "contract_terminated"):
            continue
        c = out.setdefault(e["contract_id"], {"award": None, "variations": {}, "termination": None})
        if kind == "contract_awarded":
            c["award"] = e
        elif kind == "contract_varied":
            c["variations"][int(e["variation_number"])] = e
        else:
            c["termination"] = e
    return out


def segments_of(contract):
    """[(first, last, annual value)] inclusive, or [] (not awarded / never runs)."""
    award = contract["award"]
    if award is None:
        return []
    start, end = parse_date(award["start_date"]), parse_date(award["end_date"])
    if contract["termination"] is not None:
        end = min(end, parse_date(contract["termination"]["last_day_of_service"]))
    if end < start:
        return []
    # Open-ended pieces (from, value): each variation in number order replaces
    # the value from its effective date on (from the start when earlier).
    pieces = [(start, int(award["annual_value"]))]
    for number in sorted(contract["variations"]):
        v = contract["variations"][number]
        effective = max(parse_date(v["effective_date"]), start)
        pieces = [p for p in pieces if p[0] < effective] + [(effective, int(v["new_annual_value"]))]
    segments = []
    for i, (first, value) in enumerate(pieces):
        last = pieces[i + 1][0] - datetime.timedelta(days=1) if i + 1 < len(pieces) else end
        last = min(last, end)
        if first <= last:
            segments.append((first, last, value))
    return segments


def committed_by_year(segments):
    """{year: committed pence}: per segment and year, value x days / days in
    year, each term rounded half away from zero."""
    out = {}
    for first, last, value in segments:
        year = financial_year(first)
        while True:
            y0, y1 = year_bounds(year)
            if y0 > last:
                break
            lo, hi = max(first, y0), min(last, y1)
            if lo <= hi:
                days = (hi - lo).days + 1
                in_year = (y1 - y0).days + 1
                out[year] = out.get(year, 0) + round_half_away(value * days, in_year)
            year = financial_year(y1 + datetime.timedelta(days=1))
    return out


def finance_figures(events, contracts):
    commissioners = {}

    def year_entry(code, year):
        return commissioners.setdefault(code, {}).setdefault(
            year, {"allocated": 0, "committed": 0, "spent": 0, "variance": 0})

    contract_out = {}
    for contract_id, c in sorted(contracts.items()):
        if c["award"] is None:
            continue
        segments = segments_of(c)
        contract_out[contract_id] = {"segments": [
            {"first": f.isoformat(), "last": l.isoformat(), "annual_value": v}
            for f, l, v in segments]}
        for year, amount in committed_by_year(segments).items():
            year_entry(c["award"]["commissioner"], year)["committed"] += amount

    budgets = [e for e in events if e["kind"] == "budget_allocated"]
    for (code, year, pool), evts in sorted(group(budgets, lambda e: (
            e["commissioner"], e["financial_year"], e["pool"])).items()):
        last = evts[-1]
        entry = year_entry(code, year)
        entry["allocated"] += int(last["amount"])
        if pool == "better_care_fund":
            entry.setdefault("pools", {})["better_care_fund"] = {"contributors": [
                {"code": c["code"], "share": int(c["share"])} for c in last.get("contributors", [])]}

    spends = [e for e in events if e["kind"] == "spend_recorded"]
    for (contract_id, period), evts in sorted(group(spends, lambda e: (e["contract_id"], e["period"])).items()):
        last = evts[-1]
        year = financial_year(parse_date(period + "-01"))
        year_entry(last["commissioner"], year)["spent"] += int(last["amount"])

    for years in commissioners.values():
        for entry in years.values():
            entry["variance"] = entry["allocated"] - entry["committed"]
    return {"commissioners": commissioners, "contracts": contract_out}


# ---------------------------------------------------------------- governance

def declarations_of(events):
    """declaration id -> {declared (the last), to_date (the latest withdrawal's,
    else its own)}; and the ids withdrawn with no declaration."""
    decl = [e for e in events if e["kind"] in ("interest_declared", "interest_withdrawn")]
    out, orphans = {}, []
    for did, evts in sorted(group(decl, lambda e: e["declaration_id"]).items()):
        declared = [e for e in evts if e["kind"] == "interest_declared"]
        withdrawn = [e for e in evts if e["kind"] == "interest_withdrawn"]
        if not declared:
            orphans.append(did)
            continue
        d = declared[-1]
        to_date = given(withdrawn[-1], "to_date") if withdrawn else given(d, "to_date")
        out[did] = {"event": d, "from": parse_date(d["from_date"]),
                    "to": parse_date(to_date) if to_date else None}
    return out, orphans


def current_on(declaration, day):
    return declaration["from"] <= day and (declaration["to"] is None or day <= declaration["to"])


def governance_figures(contracts, declarations, closures, as_of_ms):
    as_of_day = london_date(as_of_ms)
    alerts = []
    for contract_id, c in sorted(contracts.items()):
        award = c["award"]
        if award is None:
            continue
        decisions = [("award", award)] + [(f"variation {n}", v) for n, v in sorted(c["variations"].items())]
        for decision, e in decisions:
            decided_on = parse_date(e["decided_on"])
            recused = set(e.get("recused") or [])
            for maker in e.get("decision_makers") or []:
                if maker in recused:
                    continue
                for did, d in sorted(declarations.items()):
                    if (d["event"]["person"] == maker and current_on(d, decided_on)
                            and covers(d["event"]["interest_in"], award["provider"])):
                        alerts.append({"contract_id": contract_id, "decision": decision,
                                       "decided_on": e["decided_on"], "decision_maker": maker,
                                       "declaration_id": did})
    register = {}
    for did, d in sorted(declarations.items()):
        e = d["event"]
        register.setdefault(e["organisation"], []).append({
            "declaration_id": did, "person": e["person"], "role": given(e, "role"),
            "type": e["type"], "interest_in": e["interest_in"],
            "from_date": e["from_date"], "to_date": d["to"].isoformat() if d["to"] else None,
            "current": current_on(d, as_of_day)})
    return {"conflict_alerts": alerts, "closure_without_consultation": closures,
            "register": register}


# ---------------------------------------------------------------- the whole picture

def unmapped_codes(events, hierarchy):
    """Codes used as ADT or ready-for-discharge provider, capacity organisation,
    commissioner or council whose ICB is not known."""
    out = set()
    for e in events:
        kind = e["kind"]
        used = []  # (code, how its ICB is found)
        if kind in ADT_KINDS or kind == "ready_for_discharge":
            used.append((e.get("provider"), hierarchy.icb_of))
        if kind in ("ready_for_discharge", "care_package_started", "care_package_ended"):
            used.append((given(e, "council"), hierarchy.commissioner_icb))
        if kind == "capacity_reported":
            used.append((e.get("organisation"), hierarchy.icb_of))
        if kind in ("service_status_changed", "contract_awarded", "budget_allocated",
                    "spend_recorded"):
            used.append((e.get("commissioner"), hierarchy.commissioner_icb))
        for code, icb_of in used:
            if code and icb_of(code) is None:
                out.add(code)
    return sorted(out)


def organisations_figures(hierarchy):
    out = {}
    for code, r in sorted(hierarchy.records.items()):
        entry = {"code": code, "role": r["role"]}
        if given(r, "name") is not None:
            entry["name"] = r["name"]
        if given(r, "parent_code") is not None:
            entry["parent"] = r["parent_code"]
        entry["icb"] = hierarchy.icb_of(code)
        out[code] = entry
    return out


def figures(events, as_of_ms):
    """Every figure of DOMAIN.md for the accepted events, as of as_of_ms."""
    events = dedupe(events)
    hierarchy = Hierarchy(events)
    spells = spells_of(events)
    contracts = contracts_of(events)
    declarations, orphan_withdrawals = declarations_of(events)
    services, closures, placed = services_figures(events, hierarchy, as_of_ms)
    return {
        "as_of": as_of_ms,
        "events_accepted": len(events),
        "flow": flow_figures(spells, hierarchy, as_of_ms),
        "discharges": discharge_figures(events, spells, hierarchy, as_of_ms),
        "capacity": capacity_figures(events, hierarchy, placed),
        "services": services,
        "finance": finance_figures(events, contracts),
        "governance": governance_figures(contracts, declarations, closures, as_of_ms),
        "pending": {
            "contracts_without_award": sorted(k for k, c in contracts.items()
                                              if c["award"] is None
                                              and (c["variations"] or c["termination"])),
            "spend_without_award": sorted({e["contract_id"] for e in events
                                           if e["kind"] == "spend_recorded"
                                           and (contracts.get(e["contract_id"]) or {}).get("award") is None}),
            "withdrawals_without_declaration": orphan_withdrawals,
            "discharge_only_spells": discharge_only_spells(spells),
        },
        "unmapped": unmapped_codes(events, hierarchy),
        "organisations": organisations_figures(hierarchy),
    }


# ---------------------------------------------------------------- envelopes -> notation

ENVELOPE_KINDS = {
    "organisation_registered": "org_registered", "organisation_updated": "org_updated",
    "service_status_changed": "service_status_changed", "contract_awarded": "contract_awarded",
    "contract_varied": "contract_varied", "contract_terminated": "contract_terminated",
    "budget_allocated": "budget_allocated", "spend_recorded": "spend_recorded",
    "patient_admitted": "patient_admitted", "patient_transferred": "patient_transferred",
    "patient_discharged": "patient_discharged", "patient_updated": "patient_updated",
    "patient_cancelled": "patient_cancelled", "ready_for_discharge": "ready_for_discharge",
    "care_package_started": "care_package_started", "care_package_ended": "care_package_ended",
    "capacity_reported": "capacity_reported", "interest_declared": "interest_declared",
    "interest_withdrawn": "interest_withdrawn",
}
ENUM_PREFIXES = ("ORG_ROLE_", "SERVICE_CATEGORY_", "SERVICE_STATUS_", "CANCEL_TARGET_",
                 "CARE_PACKAGE_TYPE_", "SECTOR_", "BUDGET_POOL_", "INTEREST_TYPE_",
                 "PROPOSED_CHANGE_TYPE_")
PATIENT_CLASSES = {"INPATIENT": "I", "EMERGENCY": "E", "OUTPATIENT": "O", "PREADMIT": "P",
                   "RECURRING": "R", "OBSTETRICS": "B", "UNKNOWN": "U"}
INTEGER_FIELDS = {"occurred_at", "places", "annual_value", "new_annual_value", "variation_number",
                  "amount", "share", "pathway", "weekly_cost", "beds_available", "beds_occupied",
                  "as_of"}


def snake(name):
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _value(key, value):
    if isinstance(value, dict):
        return {snake(k): _value(snake(k), v) for k, v in value.items()}
    if isinstance(value, list):
        return [_value(key, v) for v in value]
    if key in ("patient_pseudonym", "spell_pseudonym"):
        return base64.b64decode(value).hex()
    if key == "patient_class" and isinstance(value, str):
        return PATIENT_CLASSES.get(value[len("PATIENT_CLASS_"):], value)
    if key in INTEGER_FIELDS and isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value):
        return int(value)
    if key == "hours_per_week" and isinstance(value, str):
        return int(value) if re.fullmatch(r"-?[0-9]+", value) else float(value)
    if isinstance(value, str):
        for prefix in ENUM_PREFIXES:
            if value.startswith(prefix):
                return value[len(prefix):].lower()
    return value


def envelope_to_event(envelope):
    """A proto3 JSON Envelope -> a notation event (kind, source, event_id,
    occurred_at and the event's fields, snake_case)."""
    env = {snake(k): v for k, v in envelope.items()}
    event = {"source": env["source"], "event_id": env["event_id"],
             "occurred_at": int(env["occurred_at"])}
    for field, kind in ENVELOPE_KINDS.items():
        if field in env:
            event["kind"] = kind
            for key, value in env[field].items():
                key = snake(key)
                event[key] = _value(key, value)
            break
    else:
        event["kind"] = None
    return event
