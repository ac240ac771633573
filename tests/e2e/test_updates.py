"""Integrated-care updates: each accepted event is published on
<area>.<icb>.<code> for every place of the picture it changes, with the ICB
as the registrations stand when it is committed (DOMAIN.md, What the daemon
publishes)."""
import json

from harness import DaemonTestCase, admission, json_lines, pseudonym


def org(n, code, role, parent):
    return {"source": "ods", "eventId": f"O{n}", "occurredAt": "1767225600000",
            "organisationRegistered": {"code": code, "role": role, "parentCode": parent}}


def closure_to_consultation(service_id, commissioner, provider):
    """A service of 12 places whose closure goes to consultation."""
    return {"source": "commissioner", "eventId": "S1", "occurredAt": "1778407200000",
            "serviceStatusChanged": {
                "serviceId": service_id, "commissioner": commissioner, "provider": provider,
                "category": "SERVICE_CATEGORY_DEMENTIA_AND_RESPITE",
                "fromStatus": "SERVICE_STATUS_COMMISSIONED",
                "toStatus": "SERVICE_STATUS_CONSULTATION", "effectiveDate": "2026-05-10",
                "places": "12", "proposedChange": {"type": "PROPOSED_CHANGE_TYPE_CLOSE"}}}


class Updates(DaemonTestCase):

    def state_updates(self, prefix=""):
        status = self.daemon.status()
        out = self.daemon.ctl("tail", "--from", "1", "--count", str(status["lastUpdateSequence"]),
                              timeout=60).stdout
        return [u for u in json_lines(out) if "stateChanged" in u and u["topic"].startswith(prefix)]

    def test_a_provider_rolls_up_to_unmapped_until_it_is_registered_then_to_its_icb(self):
        first = admission(1)
        first["patientAdmitted"].update(provider="RCC", site="RCC01")
        self.daemon.send([first])
        self.daemon.send([org(1, "QNX", "ORG_ROLE_ICB", "Y59"), org(2, "RCC", "ORG_ROLE_TRUST", "QNX")])
        second = admission(2)
        second["patientAdmitted"].update(provider="RCC", site="RCC01")
        self.daemon.send([second])
        topics = [u["topic"] for u in self.state_updates("flow.")]
        self.assertEqual(topics, ["flow.unmapped.RCC", "flow.QNX.RCC"])
        update = self.state_updates("flow.QNX.")[0]
        self.assertEqual(update["stateChanged"]["area"], "flow")
        self.assertEqual(update["stateChanged"]["code"], "RCC")
        self.assertTrue(update["stateChanged"]["thing"].startswith("spell RCC/"))
        # The update carries the sequence number of the event that caused it.
        acks, _ = self.daemon.send([second])
        self.assertEqual(update["eventSequence"], acks[0]["sequence"])

    def test_a_service_going_to_consultation_publishes_services_and_capacity_at_risk(self):
        self.daemon.send([org(1, "QNX", "ORG_ROLE_ICB", "Y59"),
                          org(2, "E10000011", "ORG_ROLE_LOCAL_AUTHORITY", "QNX")])
        service = closure_to_consultation("EMI-1", "E10000011", "1-123039495")
        acks, proc = self.daemon.send([service])
        self.assertEqual(acks[0]["status"], "ACK_STATUS_ACCEPTED", proc.stderr)
        topics = sorted(u["topic"] for u in self.state_updates())
        self.assertIn("services.QNX.E10000011", topics)
        self.assertIn("capacity.QNX.E10000011", topics)

    def test_a_closure_without_consultation_is_published_on_governance_with_its_alert(self):
        # DOMAIN.md, Services: commissioned -> closed raises a governance
        # alert; What the daemon publishes: governance, alerts raised.
        self.daemon.send([org(1, "QNX", "ORG_ROLE_ICB", "Y59"),
                          org(2, "E10000011", "ORG_ROLE_LOCAL_AUTHORITY", "QNX")])
        to_consultation = closure_to_consultation("EMI-1", "E10000011", "1-123039495")
        closed = closure_to_consultation("EMI-1", "E10000011", "1-123039495")
        closed["eventId"] = "S2"
        closed["serviceStatusChanged"] = dict(closed["serviceStatusChanged"],
                                              toStatus="SERVICE_STATUS_CLOSED")
        closed["serviceStatusChanged"].pop("proposedChange")
        for event in (to_consultation, closed):
            acks, proc = self.daemon.send([event])
            self.assertEqual(acks[0]["status"], "ACK_STATUS_ACCEPTED", proc.stderr)
        updates = self.state_updates("governance.")
        self.assertEqual([u["topic"] for u in updates], ["governance.QNX.E10000011"])
        alerts = json.loads(updates[0]["stateChanged"]["figures"])["closure_without_consultation"]
        self.assertEqual([(a["service_id"], a["event_id"], a["to_status"]) for a in alerts],
                         [("EMI-1", "S2", "closed")])

    def test_a_spend_corrected_to_another_commissioner_is_published_where_it_was_too(self):
        # Order and repetition: the last spend for (contract, period) stands;
        # Finance: spent counts for the commissioner named on it. Moving it
        # changes the first commissioner's year: its update says so.
        self.daemon.send([org(1, "QNX", "ORG_ROLE_ICB", "Y59"),
                          org(2, "E10000011", "ORG_ROLE_LOCAL_AUTHORITY", "QNX")])
        spend = {"source": "finance", "eventId": "X1", "occurredAt": "1778407200000",
                 "spendRecorded": {"commissioner": "QNX", "contractId": "K-9",
                                   "period": "2026-04", "amount": "500"}}
        corrected = {"source": "finance", "eventId": "X2", "occurredAt": "1778410800000",
                     "spendRecorded": dict(spend["spendRecorded"], commissioner="E10000011")}
        budget = {"source": "nhse", "eventId": "B1", "occurredAt": "1778400000000",
                  "budgetAllocated": {"commissioner": "QNX", "financialYear": "2026-27",
                                      "pool": "BUDGET_POOL_CORE", "amount": "1000"}}
        for event in (budget, spend, corrected):
            acks, proc = self.daemon.send([event])
            self.assertEqual(acks[0]["status"], "ACK_STATUS_ACCEPTED", proc.stderr)
        updates = self.state_updates("finance.")
        self.assertEqual(sorted(u["topic"] for u in updates),
                         ["finance.QNX.E10000011", "finance.QNX.QNX", "finance.QNX.QNX",
                          "finance.QNX.QNX"])
        last_qnx = [u for u in updates if u["topic"] == "finance.QNX.QNX"][-1]
        self.assertEqual(json.loads(last_qnx["stateChanged"]["figures"])["years"]["2026-27"]["spent"], 0)
        council = [u for u in updates if u["topic"] == "finance.QNX.E10000011"][-1]
        self.assertEqual(json.loads(council["stateChanged"]["figures"])["years"]["2026-27"]["spent"], 500)

    def test_a_service_handed_to_another_commissioner_is_published_where_it_was_too(self):
        # How every figure is worked out: a service's commissioner on D is
        # its last event's effective on or before D, and its places roll up
        # to the commissioning council. Handing it over empties the first
        # council's roll-up: its updates say so.
        self.daemon.send([org(1, "QNX", "ORG_ROLE_ICB", "Y59"),
                          org(2, "E10000011", "ORG_ROLE_LOCAL_AUTHORITY", "QNX"),
                          org(3, "E10000012", "ORG_ROLE_LOCAL_AUTHORITY", "QNX")])
        first = {"source": "commissioner", "eventId": "S1", "occurredAt": "1778407200000",
                 "serviceStatusChanged": {
                     "serviceId": "EMI-1", "commissioner": "E10000011", "provider": "1-123039495",
                     "category": "SERVICE_CATEGORY_DEMENTIA_AND_RESPITE",
                     "toStatus": "SERVICE_STATUS_COMMISSIONED", "effectiveDate": "2026-05-10",
                     "places": "12"}}
        handed = {"source": "commissioner", "eventId": "S2", "occurredAt": "1778410800000",
                  "serviceStatusChanged": dict(first["serviceStatusChanged"],
                                               commissioner="E10000012",
                                               fromStatus="SERVICE_STATUS_COMMISSIONED",
                                               effectiveDate="2026-06-01")}
        for event in (first, handed):
            acks, proc = self.daemon.send([event])
            self.assertEqual(acks[0]["status"], "ACK_STATUS_ACCEPTED", proc.stderr)
        updates = self.state_updates("capacity.") + self.state_updates("services.")
        self.assertEqual(sorted(u["topic"] for u in updates),
                         ["capacity.QNX.E10000011", "capacity.QNX.E10000011",
                          "capacity.QNX.E10000012",
                          "services.QNX.E10000011", "services.QNX.E10000011",
                          "services.QNX.E10000012"])
        left = [u for u in updates if u["topic"] == "capacity.QNX.E10000011"][-1]
        council = json.loads(left["stateChanged"]["figures"])["council"]
        self.assertEqual(council["commissioned_places"], 0)
        taken = [u for u in updates if u["topic"] == "capacity.QNX.E10000012"][-1]
        self.assertEqual(json.loads(taken["stateChanged"]["figures"])["council"]["commissioned_places"], 12)
        service = [u for u in updates if u["topic"] == "services.QNX.E10000011"][-1]
        self.assertEqual(json.loads(service["stateChanged"]["figures"])["service"]["commissioner"],
                         "E10000012")

    def test_a_variation_before_its_award_is_published_under_the_contract_then_the_commissioner(self):
        self.daemon.send([org(1, "QNX", "ORG_ROLE_ICB", "Y59")])
        varied = {"source": "commissioner", "eventId": "V1", "occurredAt": "1778407200000",
                  "contractVaried": {"contractId": "K-9", "variationNumber": "1",
                                     "newAnnualValue": "100", "effectiveDate": "2026-06-01",
                                     "decidedOn": "2026-05-01", "decisionMakers": ["S1"]}}
        award = {"source": "commissioner", "eventId": "A1", "occurredAt": "1778407300000",
                 "contractAwarded": {"contractId": "K-9", "commissioner": "QNX", "provider": "RXC",
                                     "annualValue": "120", "startDate": "2026-04-01",
                                     "endDate": "2027-03-31", "decidedOn": "2026-03-01",
                                     "decisionMakers": ["S1"]}}
        later = dict(varied, eventId="V2")
        later["contractVaried"] = dict(varied["contractVaried"], variationNumber="2")
        for event in (varied, award, later):
            acks, proc = self.daemon.send([event])
            self.assertEqual(acks[0]["status"], "ACK_STATUS_ACCEPTED", proc.stderr)
        topics = [u["topic"] for u in self.state_updates("finance.")]
        self.assertEqual(topics, ["finance.unmapped.K-9", "finance.QNX.QNX", "finance.QNX.QNX"])


def figures_of(update):
    import json
    return json.loads(update["stateChanged"]["figures"])


class UpdateFigures(DaemonTestCase):
    """Each update carries its place's figures as of the commit."""

    def state_updates(self, prefix):
        status = self.daemon.status()
        out = self.daemon.ctl("tail", "--from", "1", "--count", str(status["lastUpdateSequence"]),
                              timeout=60).stdout
        return [u for u in json_lines(out) if "stateChanged" in u and u["topic"].startswith(prefix)]

    def test_flow_updates_carry_the_providers_and_icbs_patients_in_hospital_and_the_days_counts(self):
        self.daemon.send([org(1, "QNX", "ORG_ROLE_ICB", "Y59"), org(2, "RXC", "ORG_ROLE_TRUST", "QNX")])
        self.daemon.send([admission(1), admission(2)])
        last = figures_of(self.state_updates("flow.QNX.RXC")[-1])
        self.assertEqual(last["provider"]["code"], "RXC")
        self.assertEqual(last["provider"]["in_hospital"], 2)
        self.assertEqual(last["provider"]["day"], "2026-05-10")
        self.assertEqual(last["provider"]["counts"]["admissions"], 2)
        self.assertEqual(last["icb"]["code"], "QNX")
        self.assertEqual(last["icb"]["in_hospital"], 2)

    def test_capacity_at_risk_is_published_when_a_closure_reaches_consultation(self):
        self.daemon.send([org(1, "QNX", "ORG_ROLE_ICB", "Y59"),
                          org(2, "E10000011", "ORG_ROLE_LOCAL_AUTHORITY", "QNX")])
        service = closure_to_consultation("EMI-1", "E10000011", "1-123039495")
        self.daemon.send([service])
        capacity = figures_of(self.state_updates("capacity.QNX.E10000011")[-1])
        self.assertEqual(capacity["icb"]["at_risk_places"], 12)
        self.assertEqual(capacity["council"]["at_risk_places"], 12)
        services = figures_of(self.state_updates("services.QNX.E10000011")[-1])
        self.assertEqual(services["service"]["status"], "consultation")

    def test_a_care_homes_capacity_update_carries_the_roll_up_of_its_council(self):
        self.daemon.send([org(1, "QNX", "ORG_ROLE_ICB", "Y59"),
                          org(2, "E10000011", "ORG_ROLE_LOCAL_AUTHORITY", "QNX"),
                          org(3, "1-123039495", "ORG_ROLE_CARE_HOME", "E10000011")])
        report = {"source": "capacity", "eventId": "C1", "occurredAt": "1778407200000",
                  "capacityReported": {"organisation": "1-123039495", "sector": "SECTOR_RESIDENTIAL",
                                       "bedsAvailable": "30", "bedsOccupied": "25",
                                       "asOf": "1778407200000"}}
        # The ICB commissions the home's service: its places count in the
        # home's council (DOMAIN.md, services).
        service = closure_to_consultation("EMI-2", "QNX", "1-123039495")
        for event in (report, service):
            acks, proc = self.daemon.send([event])
            self.assertEqual(acks[0]["status"], "ACK_STATUS_ACCEPTED", proc.stderr)
        line = figures_of(self.state_updates("capacity.QNX.1-123039495")[-1])
        self.assertEqual([(x["organisation"], x["council"]) for x in line["lines"]],
                         [("1-123039495", "E10000011")])
        self.assertEqual((line["council"]["available"], line["council"]["occupied"],
                          line["council"]["vacant"]), (30, 25, 5))
        places = figures_of(self.state_updates("capacity.QNX.QNX")[-1])
        self.assertEqual(places["icb"]["at_risk_places"], 12)
        self.assertEqual(places["council"]["at_risk_places"], 12)
        self.assertEqual(places["council"]["available"], 30)

    def test_the_discharge_that_closes_a_delayed_discharge_case_publishes_the_case_closed(self):
        self.daemon.send([org(1, "QNX", "ORG_ROLE_ICB", "Y59"), org(2, "RXC", "ORG_ROLE_TRUST", "QNX"),
                          org(3, "E10000011", "ORG_ROLE_LOCAL_AUTHORITY", "QNX")])
        admitted = admission(1)
        ready = {"source": "sitrep", "eventId": "R1", "occurredAt": "1778403600000",
                 "readyForDischarge": {"patientPseudonym": admitted["patientAdmitted"]["patientPseudonym"],
                                       "provider": "RXC", "readyDate": "2026-05-08",
                                       "pathway": "1", "council": "E10000011"}}
        movement = dict(admitted["patientAdmitted"])
        discharged = {"source": "hl7:RXC", "eventId": "D1", "occurredAt": "1778407200000",
                      "patientDischarged": movement}
        other = admission(2)  # another patient, no case: nothing on discharges
        for batch in ([admitted, other], [ready], [discharged]):
            acks, proc = self.daemon.send(batch)
            self.assertEqual({a["status"] for a in acks}, {"ACK_STATUS_ACCEPTED"}, proc.stderr)
        updates = self.state_updates("discharges.")
        self.assertEqual([u["topic"] for u in updates], ["discharges.QNX.RXC"] * 2)
        opened, closed = (figures_of(u) for u in updates)
        self.assertEqual([c["status"] for c in opened["cases"]], ["open"])
        self.assertEqual(opened["icb"]["open"]["cases"], 1)
        acks, _ = self.daemon.send([discharged])
        self.assertEqual(updates[-1]["eventSequence"], acks[0]["sequence"])
        self.assertEqual([(c["status"], c["discharge_date"], c["days_delayed"])
                          for c in closed["cases"]], [("closed", "2026-05-10", 2)])
        self.assertEqual(closed["icb"]["open"]["cases"], 0)
        self.assertEqual(closed["icb"]["closed_by_date"]["2026-05-10"]["cases"], 1)
        self.assertEqual(closed["councils"]["E10000011"]["open"]["cases"], 0)

    def test_a_conflict_alert_is_published_when_raised_and_when_a_backdated_withdrawal_clears_it(self):
        self.daemon.send([org(1, "QNX", "ORG_ROLE_ICB", "Y59"), org(2, "RXC", "ORG_ROLE_TRUST", "QNX")])
        declared = {"source": "governance", "eventId": "D1", "occurredAt": "1767225600000",
                    "interestDeclared": {"declarationId": "DOI-1", "person": "S7", "organisation": "QNX",
                                         "type": "INTEREST_TYPE_FINANCIAL", "interestIn": "RXC",
                                         "fromDate": "2026-01-01"}}
        award = {"source": "commissioner", "eventId": "A1", "occurredAt": "1778407200000",
                 "contractAwarded": {"contractId": "K-1", "commissioner": "QNX", "provider": "RXC01",
                                     "annualValue": "1000", "startDate": "2026-04-01",
                                     "endDate": "2027-03-31", "decidedOn": "2026-03-01",
                                     "decisionMakers": ["S7", "S8"]}}
        withdrawn = {"source": "governance", "eventId": "W1", "occurredAt": "1778407300000",
                     "interestWithdrawn": {"declarationId": "DOI-1", "toDate": "2026-02-01"}}
        for event in (declared, award, withdrawn):
            acks, proc = self.daemon.send([event])
            self.assertEqual(acks[0]["status"], "ACK_STATUS_ACCEPTED", proc.stderr)
        updates = self.state_updates("governance.QNX.QNX")
        raised = figures_of(updates[-2])["alerts_raised"]  # the award's
        self.assertEqual([(a["contract_id"], a["decision_maker"], a["declaration_id"]) for a in raised],
                         [("K-1", "S7", "DOI-1")])
        cleared = figures_of(updates[-1])["alerts_cleared"]  # the withdrawal's
        self.assertEqual([a["declaration_id"] for a in cleared], ["DOI-1"])
        self.assertEqual(figures_of(updates[-1])["alerts_raised"], [])


def sample_day(seed, patients):
    import os
    import subprocess
    tool = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "sample-day")
    out = subprocess.run(["/usr/bin/python3", tool, "--patients", str(patients), "--seed", seed],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


class UpdatesFromRunningTotals(DaemonTestCase):
    """Flow and discharges updates are cut from running totals kept as events
    apply (projections/tallies.c), not from the whole state: after a restart
    and a `commissionctl rebuild` while the daemon runs, an update's figures
    are still those `commissionctl show` works out from the whole store for
    the update's commit time."""

    def update_of(self, ack, prefix):
        last = self.daemon.status()["lastUpdateSequence"]  # the event's are the last ones
        out = self.daemon.ctl("tail", "--from", str(last - 4), "--count", "5", timeout=60).stdout
        mine = [u for u in json_lines(out) if u["eventSequence"] == ack["sequence"]
                and u["topic"].startswith(prefix)]
        self.assertEqual(len(mine), 1, f"one {prefix} update of event {ack['sequence']}")
        return mine[0]

    def show(self, area, as_of):
        out = self.daemon.ctl("show", area, "--as-of", as_of, check=True).stdout
        return json.loads(out)[area]

    def send_one(self, event):
        acks, proc = self.daemon.send([event])
        self.assertEqual(acks[0]["status"], "ACK_STATUS_ACCEPTED", proc.stderr)
        return acks[0]

    def test_updates_after_a_restart_and_a_rebuild_give_the_figures_of_the_whole_store(self):
        events = sample_day("totals", 400)
        half = len(events) // 2
        self.daemon.send(events[:half])
        self.assertEqual(self.daemon.stop(), 0)
        self.daemon.start()
        self.daemon.send(events[half:half + 200])
        self.daemon.ctl("rebuild", check=True)
        acks, _ = self.daemon.send(events[half + 200:])
        self.assertEqual({a["status"] for a in acks}, {"ACK_STATUS_ACCEPTED"})

        # One more admission, then one more ready report, each its own
        # batch, the last ones: their figures are the whole store's.
        admitted = next(e for e in events if "patientAdmitted" in e
                        and e["patientAdmitted"]["patientClass"] == "PATIENT_CLASS_INPATIENT")
        admission_again = json.loads(json.dumps(admitted))
        admission_again["eventId"] = "late-admission"
        admission_again["patientAdmitted"]["spellPseudonym"] = pseudonym(1, "late-spell")
        admission_again["patientAdmitted"]["patientPseudonym"] = pseudonym(1, "late-patient")
        ready = next(e for e in reversed(events) if "readyForDischarge" in e)
        ready_again = json.loads(json.dumps(ready))
        ready_again["eventId"] = "late-ready"
        ready_again["readyForDischarge"]["pathway"] = "2"

        ack = self.send_one(admission_again)
        provider = admitted["patientAdmitted"]["provider"]
        update = self.update_of(ack, f"flow.QNX.{provider}")
        figures = json.loads(update["stateChanged"]["figures"])
        flow = self.show("flow", update["commitTime"])
        day = figures["provider"]["day"]
        for place, shown in (("provider", flow["providers"][provider]), ("icb", flow["icbs"]["QNX"])):
            self.assertEqual(figures[place]["in_hospital"], shown["in_hospital"], place)
            self.assertEqual(figures[place]["counts"], shown["days"].get(day, {}), place)
        self.assertGreater(figures["icb"]["in_hospital"], 0)

        ack = self.send_one(ready_again)
        rprovider = ready["readyForDischarge"]["provider"]
        update = self.update_of(ack, f"discharges.QNX.{rprovider}")
        figures = json.loads(update["stateChanged"]["figures"])
        discharges = self.show("discharges", update["commitTime"])
        import base64
        patient = base64.b64decode(ready["readyForDischarge"]["patientPseudonym"]).hex()
        self.assertEqual(figures["cases"], [c for c in discharges["cases"]
                                            if c["patient"] == patient and c["provider"] == rprovider])
        self.assertEqual(figures["icb"], discharges["icbs"]["QNX"])
        self.assertEqual(figures["councils"], discharges["councils"])
        self.assertGreater(figures["icb"]["open"]["cases"], 0)
