"""The worked examples of DOMAIN.md (tests/examples/, from shared/examples/)
in the project's wire format: the neutral notation of their events.jsonl
turned into proto3 JSON Envelopes for commissionctl send, and the
comparison of our figures with their expected.json."""
import base64
import json
import os
import re

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")

# Notation kind -> the Envelope's event field.
KINDS = {
    "org_registered": "organisation_registered", "org_updated": "organisation_updated",
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

# Fields whose values are enum names: the proto's prefix plus the value in capitals.
ENUM_PREFIX = {
    "role": "ORG_ROLE_", "category": "SERVICE_CATEGORY_", "from_status": "SERVICE_STATUS_",
    "to_status": "SERVICE_STATUS_", "cancels": "CANCEL_TARGET_", "service_type": "CARE_PACKAGE_TYPE_",
    "sector": "SECTOR_", "pool": "BUDGET_POOL_",
}
PATIENT_CLASS = {"I": "INPATIENT", "E": "EMERGENCY", "O": "OUTPATIENT", "P": "PREADMIT",
                 "R": "RECURRING", "B": "OBSTETRICS", "U": "UNKNOWN"}
PROPOSED = {"close": "CLOSE", "reduce": "REDUCE", "transfer": "TRANSFER", "other": "OTHER"}
UNKNOWN_ENUM = 99
# Every field of the notation (examples/README.md); others are ignored.
KNOWN_FIELDS = set("""code role name parent_code active_from active_to service_id commissioner
provider category from_status to_status effective_date places proposed_change contract_id
annual_value start_date end_date decided_on decision_makers recused variation_number
new_annual_value last_day_of_service financial_year pool amount contributors period
patient_pseudonym spell_pseudonym site ward patient_class treatment_function
discharge_destination cancels ready_date pathway council package_id service_type
hours_per_week weekly_cost organisation sector beds_available beds_occupied as_of
declaration_id person type interest_in from_date to_date""".split())  # a number no enum of ours has: the daemon must reject it


def enum_value(prefix, value, names=None):
    name = names.get(value) if names is not None else (value.upper() if isinstance(value, str) else None)
    if name is None or not re.fullmatch(r"[A-Z_]+", name):
        return UNKNOWN_ENUM
    return prefix + name


def pseudonym(value):
    """64 lowercase hex characters are the 32 bytes; anything else is sent
    as the bytes of its text, which is not 32 bytes long and so invalid."""
    if isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value):
        raw = bytes.fromhex(value)
    else:
        raw = str(value).encode()
    return base64.b64encode(raw).decode()


def to_envelope(event):
    """One notation event -> one proto3 JSON Envelope (proto field names)."""
    env = {"source": event["source"], "event_id": event["event_id"],
           "occurred_at": str(event["occurred_at"])}
    field = KINDS.get(event["kind"])
    if field is None:
        return env  # an unknown kind: no event set
    body = {}
    for key, value in event.items():
        if key in ("kind", "source", "event_id", "occurred_at", "schema_version"):
            continue
        if value is None or value == "" or key not in KNOWN_FIELDS:
            continue  # absent; empty text is missing; unknown fields are ignored
        if key in ("patient_pseudonym", "spell_pseudonym"):
            value = pseudonym(value)
        elif key == "patient_class":
            value = enum_value("PATIENT_CLASS_", value, PATIENT_CLASS)
        elif key == "type" and event["kind"] == "interest_declared":
            value = enum_value("INTEREST_TYPE_", value)
        elif key == "role" and not event["kind"].startswith("org_"):
            pass  # a declarant's role is free text
        elif key in ENUM_PREFIX:
            value = enum_value(ENUM_PREFIX[key], value)
        elif key == "proposed_change":
            change = {"type": enum_value("PROPOSED_CHANGE_TYPE_", value.get("type"), PROPOSED)}
            if "places" in value:
                change["places"] = value["places"]
            if value.get("to_provider"):
                change["to_provider"] = value["to_provider"]
            value = change
        elif key == "contributors":
            value = [{k: v for k, v in c.items() if k in ("code", "share")} for c in value]
        elif isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # int64 as proto3 JSON writes it
        body[key] = value
    env[field] = body
    return env


def load(name):
    folder = os.path.join(EXAMPLES, name)
    with open(os.path.join(folder, "events.jsonl")) as f:
        events = [json.loads(line) for line in f if line.strip()]
    with open(os.path.join(folder, "as_of.txt")) as f:
        as_of = int(f.read().strip())
    with open(os.path.join(folder, "expected.json")) as f:
        expected = json.load(f)
    return events, as_of, expected


def names():
    return sorted(d for d in os.listdir(EXAMPLES) if os.path.isdir(os.path.join(EXAMPLES, d)))


# ---------------------------------------------------------------- comparison

def _is_count_map(path):
    """The counts of a day (days.<date>) or of the wards of a site: the
    examples leave out zero counts there, so they must match exactly, zeros
    aside (examples/README.md). Elsewhere an example shows only the figures
    it is about."""
    parts = path.split(".")
    return parts[-1] == "wards" or (len(parts) >= 2 and parts[-2] in ("days", "closed_by_date"))


def differences(expected, actual, path="$"):
    """Where actual does not give the figures of expected, as a list of
    texts. Objects: every expected key must be there and match (more keys
    may be there: an example shows only the figures it is about), except
    that the counts of a day or of wards must match exactly, zero counts
    left out on both sides. Lists
    are sets: the same length, each expected item matching its own actual
    item."""
    out = []
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {json.dumps(actual)[:200]}"]
        if _is_count_map(path):
            want = {k: v for k, v in expected.items() if v != 0}
            got = {k: v for k, v in actual.items() if v != 0}
            if got != want:
                out.append(f"{path}: expected {want}, got {got}")
            return out
        for key, value in expected.items():
            if key not in actual:
                out.append(f"{path}.{key}: missing (expected {json.dumps(value)[:200]})")
            else:
                out.extend(differences(value, actual[key], f"{path}.{key}"))
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{path}: expected a list, got {json.dumps(actual)[:200]}"]
        if len(expected) != len(actual):
            out.append(f"{path}: expected {len(expected)} items, got {len(actual)}: "
                       f"{json.dumps(actual)[:400]}")
        unused = list(actual)
        for item in expected:
            match = next((a for a in unused if not differences(item, a)), None)
            if match is None:
                out.append(f"{path}: no item matches {json.dumps(item)}")
            else:
                unused.remove(match)
        return out
    if expected != actual:
        out.append(f"{path}: expected {json.dumps(expected)}, got {json.dumps(actual)}")
    return out
