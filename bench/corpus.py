"""The benchmarks' event mix: tools/sample-day, one day after another.

Day 0 is the whole sample day (reference data, commissioners' records,
patient flow, capacity); every later day is a further day of patient flow
and capacity reports for the same ICS with its own seed, so pseudonyms,
spells and event ids are new each day and the reference data is sent once,
as a real feed would. Care package ids are made unique per day (sample-day
numbers them per day only).
"""
import datetime
import importlib.machinery
import importlib.util
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE_DAY = os.path.join(ROOT, "tools", "sample-day")
FIRST_DATE = datetime.date(2026, 5, 11)


def _sample_day_module():
    loader = importlib.machinery.SourceFileLoader("sample_day", SAMPLE_DAY)
    spec = importlib.util.spec_from_loader("sample_day", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def days(patients_per_day=2000):
    """Yield each day's events (dicts), day 0 first, for ever."""
    sd = _sample_day_module()
    n = 0
    while True:
        date = FIRST_DATE + datetime.timedelta(days=n)
        day = sd.Day(date, "sample" if n == 0 else f"sample-{n}")
        if n == 0:
            sd.reference_data(day)
            sd.commissioners(day)
        sd.patient_flow(day, patients_per_day)
        sd.capacity(day)
        for event in day.events:
            package = event.get("carePackageStarted") or event.get("carePackageEnded")
            if package is not None and n > 0:
                package["packageId"] = f"{package['packageId']}-{date:%Y%m%d}"
            yield event
        n += 1


def write(path, count):
    """Write the first count events of the mix to path as JSON lines."""
    tmp = path + ".part"
    with open(tmp, "w") as f:
        written = 0
        for event in days():
            if written == count:
                break
            f.write(json.dumps(event, separators=(",", ":")) + "\n")
            written += 1
    os.replace(tmp, path)
