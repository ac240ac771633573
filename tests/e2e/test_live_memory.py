"""The daemon's live figures when memory runs out (fail_history.c under
LD_PRELOAD: the next history unpacked into a picture finds no memory).

Running out of memory is no fault of the stored data: the live picture of
the small kinds must not go on without the thing it could not take in, as
if the history did not decode; it is worked out again from the store."""
import json
import os
import unittest

from harness import (DaemonTestCase, capacity, http_get, json_lines, preload_env,
                     start_refused)


def capacity_at(organisation, n):
    event = capacity(n)
    event["capacityReported"]["organisation"] = organisation
    event["eventId"] = f"C{organisation}{n}"
    return event


def lines_of(daemon):
    status, body = http_get(daemon, "/api/v1/capacity/lines")
    if status != 200:
        raise AssertionError(f"/api/v1/capacity/lines: {status} {body}")
    return sorted(line["organisation"] for line in json.loads(body)["items"])


class OutOfMemoryFollowingAHistory(DaemonTestCase):
    """A history the picture could not take in for want of memory, as a
    batch applies it, was logged as "does not decode" and left out: the
    daemon's figures lacked that thing until it restarted."""

    def daemon_env(self):
        self.trigger = os.path.join(self.workdir, "fail-history")
        return preload_env(self.workdir, "fail_history", FAIL_HISTORY_FILE=self.trigger)

    def test_the_picture_is_worked_out_again_from_the_store(self):
        """The batch in hand fails too: its updates would be cut from the
        picture short of the history (RXC02's ICB "unmapped", its line
        missing), stored and replayed."""
        acks, proc = self.daemon.send([capacity_at("RXC01", 1)])
        self.assertEqual([a["status"] for a in acks], ["ACK_STATUS_ACCEPTED"], proc.stderr)
        open(self.trigger, "w").close()
        acks, proc = self.daemon.send([capacity_at("RXC02", 2)])
        self.assertFalse(os.path.exists(self.trigger), "no history was unpacked")
        self.assertEqual([a["status"] for a in acks], ["ACK_STATUS_RETRY_LATER"], proc.stderr)
        self.assertEqual(acks[0]["field"], "store", acks)
        log = self.daemon.log_text()
        self.assertNotIn("does not decode", log)
        self.assertIn("answered RETRY_LATER: live: out of memory taking a history", log)
        acks, proc = self.daemon.send([capacity_at("RXC02", 2)])
        self.assertEqual([a["status"] for a in acks], ["ACK_STATUS_ACCEPTED"], proc.stderr)
        self.assertEqual(lines_of(self.daemon), ["RXC01", "RXC02"], log)

    def test_a_picture_read_again_short_of_memory_is_not_taken(self):
        """Reading the picture again from the store, a history it could not
        take for want of memory was skipped as not decoding: the picture
        then lacked it for good."""
        acks, proc = self.daemon.send([capacity_at("RXC01", 1)])
        self.assertEqual([a["status"] for a in acks], ["ACK_STATUS_ACCEPTED"], proc.stderr)
        open(self.trigger, "w").close()
        acks, proc = self.daemon.send([capacity_at("RXC02", 2)])
        self.assertEqual([a["status"] for a in acks], ["ACK_STATUS_RETRY_LATER"], proc.stderr)
        # The picture is read again at the next request: RXC01's history,
        # the first, finds no memory.
        open(self.trigger, "w").close()
        status, body = http_get(self.daemon, "/api/v1/capacity/lines")
        self.assertFalse(os.path.exists(self.trigger), "no history was unpacked")
        self.assertNotEqual(status, 200, body)
        log = self.daemon.log_text()
        self.assertNotIn("does not decode", log)
        self.assertIn("live: the reference data could not be read: out of memory loading "
                      "the reference data", log)
        acks, proc = self.daemon.send([capacity_at("RXC02", 2)])
        self.assertEqual([a["status"] for a in acks], ["ACK_STATUS_ACCEPTED"], proc.stderr)
        self.assertEqual(lines_of(self.daemon), ["RXC01", "RXC02"], log)

    def test_a_start_short_of_memory_says_so(self):
        """A start whose picture could not be loaded for want of memory
        said "cannot load the state: " and the store's last message, which
        was about nothing (empty)."""
        acks, proc = self.daemon.send([capacity_at("RXC01", 1)])
        self.assertEqual([a["status"] for a in acks], ["ACK_STATUS_ACCEPTED"], proc.stderr)
        self.assertEqual(self.daemon.stop(), 0)
        open(self.trigger, "w").close()
        _, stderr = start_refused(self, self.daemon, "short of memory", env=self.daemon_env())
        self.assertFalse(os.path.exists(self.trigger), "no history was unpacked")
        self.assertIn("live: cannot load the state: out of memory loading the reference data",
                      stderr)


def org(n, code, role, parent):
    return {"source": "ods", "eventId": f"O{n}", "occurredAt": "1767225600000",
            "organisationRegistered": {"code": code, "role": role, "parentCode": parent}}


DECLARED = {"source": "governance", "eventId": "D1", "occurredAt": "1767225600000",
            "interestDeclared": {"declarationId": "DOI-1", "person": "S7", "organisation": "QNX",
                                 "type": "INTEREST_TYPE_FINANCIAL", "interestIn": "RXC",
                                 "fromDate": "2026-01-01"}}
AWARD = {"source": "commissioner", "eventId": "A1", "occurredAt": "1778407200000",
         "contractAwarded": {"contractId": "K-1", "commissioner": "QNX", "provider": "RXC01",
                             "annualValue": "1000", "startDate": "2026-04-01",
                             "endDate": "2027-03-31", "decidedOn": "2026-03-01",
                             "decisionMakers": ["S7", "S8"]}}


class OutOfMemoryNotingTheAlerts(DaemonTestCase):
    """The conflict alerts before a batch could not be worked out (the
    governance fold ran out of memory): they were taken as none, and the
    batch's update published every alert of its contract as raised."""

    def daemon_env(self):
        self.trigger = os.path.join(self.workdir, "fail-json")
        self.append_trigger = os.path.join(self.workdir, "fail-json-append")
        return preload_env(self.workdir, "fail_json", FAIL_JSON_FILE=self.trigger,
                           FAIL_JSON_APPEND_FILE=self.append_trigger)

    def governance_updates(self):
        last = self.daemon.status()["lastUpdateSequence"]
        out = self.daemon.ctl("tail", "--from", "1", "--count", str(last), timeout=60).stdout
        return [json.loads(u["stateChanged"]["figures"]) for u in json_lines(out)
                if u["topic"] == "governance.QNX.QNX"]

    def test_an_alert_already_raised_is_not_published_as_raised_again(self):
        declared = {"source": "governance", "eventId": "D1", "occurredAt": "1767225600000",
                    "interestDeclared": {"declarationId": "DOI-1", "person": "S7",
                                         "organisation": "QNX",
                                         "type": "INTEREST_TYPE_FINANCIAL", "interestIn": "RXC",
                                         "fromDate": "2026-01-01"}}
        award = {"source": "commissioner", "eventId": "A1", "occurredAt": "1778407200000",
                 "contractAwarded": {"contractId": "K-1", "commissioner": "QNX",
                                     "provider": "RXC01", "annualValue": "1000",
                                     "startDate": "2026-04-01", "endDate": "2027-03-31",
                                     "decidedOn": "2026-03-01", "decisionMakers": ["S7", "S8"]}}
        varied = {"source": "commissioner", "eventId": "V1", "occurredAt": "1778407300000",
                  "contractVaried": {"contractId": "K-1", "variationNumber": "1",
                                     "newAnnualValue": "1200", "effectiveDate": "2026-06-01",
                                     "decidedOn": "2026-05-01", "decisionMakers": ["S8"]}}
        for batch in ([org(1, "QNX", "ORG_ROLE_ICB", "Y59"),
                       org(2, "RXC", "ORG_ROLE_TRUST", "QNX")], [declared], [award]):
            acks, proc = self.daemon.send(batch)
            self.assertEqual({a["status"] for a in acks}, {"ACK_STATUS_ACCEPTED"}, proc.stderr)
        raised = self.governance_updates()[-1]["alerts_raised"]
        self.assertEqual([a["contract_id"] for a in raised], ["K-1"])
        open(self.trigger, "w").close()
        acks, proc = self.daemon.send([varied])
        self.assertFalse(os.path.exists(self.trigger), "no figures were worked out")
        self.assertEqual([a["status"] for a in acks], ["ACK_STATUS_ACCEPTED"], proc.stderr)
        figures = self.governance_updates()[-1]
        self.assertEqual(figures.get("alerts_raised", []), [], figures)
        self.assertIn("live: out of memory", self.daemon.log_text())

    def test_an_alert_raised_is_not_published_as_none_short_of_memory(self):
        """Listing the alerts a batch raised, an append that failed for want
        of memory left the list short: the award's update said it raised
        none."""
        for batch in ([org(1, "QNX", "ORG_ROLE_ICB", "Y59"),
                       org(2, "RXC", "ORG_ROLE_TRUST", "QNX")], [DECLARED]):
            acks, proc = self.daemon.send(batch)
            self.assertEqual({a["status"] for a in acks}, {"ACK_STATUS_ACCEPTED"}, proc.stderr)
        open(self.append_trigger, "w").close()
        acks, proc = self.daemon.send([AWARD])
        self.assertFalse(os.path.exists(self.append_trigger), "no alert was listed")
        self.assertEqual([a["status"] for a in acks], ["ACK_STATUS_ACCEPTED"], proc.stderr)
        figures = self.governance_updates()[-1]
        self.assertNotIn("alerts_raised", figures)
        self.assertNotIn("alerts_cleared", figures)
        self.assertEqual([d["declaration_id"] for d in figures["register"]], ["DOI-1"])
        self.assertIn("live: out of memory listing the conflict alerts", self.daemon.log_text())


class OutOfMemoryKeepingAnArea(DaemonTestCase):
    """An area's figures that the batch could not keep (jansson's
    json_object_set_new failed for want of memory, releasing them) were
    used all the same: a use after free as the update was cut."""

    def daemon_env(self):
        self.trigger = os.path.join(self.workdir, "fail-json-set")
        env = preload_env(self.workdir, "fail_json", FAIL_JSON_SET_FILE=self.trigger)
        # Freed memory filled (jansson's reads of it are not checked by
        # ASan: the library is not instrumented), so that a use shows.
        env["ASAN_OPTIONS"] += ":max_free_fill_size=65536:free_fill_byte=255"
        return env

    def test_the_update_is_cut_without_them_and_the_daemon_goes_on(self):
        open(self.trigger, "w").close()
        acks, proc = self.daemon.send([capacity_at("RXC01", 1)])
        self.assertFalse(os.path.exists(self.trigger), "no area's figures were kept")
        self.assertEqual([a["status"] for a in acks], ["ACK_STATUS_ACCEPTED"], proc.stderr)
        self.assertIn("live: out of memory", self.daemon.log_text())
        last = self.daemon.status()["lastUpdateSequence"]
        out = self.daemon.ctl("tail", "--from", "1", "--count", str(last), timeout=60).stdout
        self.assertEqual([u["stateChanged"]["figures"] for u in json_lines(out)
                          if "stateChanged" in u], ["{}"])
        acks, proc = self.daemon.send([capacity_at("RXC02", 2)])
        self.assertEqual([a["status"] for a in acks], ["ACK_STATUS_ACCEPTED"], proc.stderr)
        self.assertEqual(lines_of(self.daemon), ["RXC01", "RXC02"])


if __name__ == "__main__":
    unittest.main()
