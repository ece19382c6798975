"""What follows a stored decision (a registry write, a fan-out) is mended by the timers when it did not happen, and
a company never goes back to an older terms version."""

from __future__ import annotations

from datetime import date

from functions.alerts.drafts import REPORT_DRAFTS, open_draft
from functions.alerts.models import AlertIn
from functions.alerts.workflow import alert_details, remind_alerts
from functions.core.model import CaseEvent, Channel, Process
from functions.core.services import Services
from functions.onboarding.workflow import register, remind_onboarding
from functions.terms.models import TermsVersion
from functions.terms.workflow import Publisher, accept, publish_terms
from tests.conftest import FakeClock
from tests.integration.test_onboarding_reminders import registration


def _event(services: Services, kind: str) -> CaseEvent:
    return CaseEvent(at=services.clock.now(), actor="test", channel=Channel.EMAIL, kind=kind, public=True, summary=kind)


async def test_a_registry_write_that_failed_is_mended_by_the_timer(services: Services) -> None:
    services.clock = FakeClock()
    case = await register(services, registration(), Channel.API)
    stored = await services.store.load(case.reference)
    assert stored is not None
    # Bits accepted and NAV and Altinn gave test access, but every registry write after them was lost.
    await services.store.transition(
        stored, stored.case.model_copy(update={"status": "test_access"}), _event(services, "test_access")
    )
    assert await services.registry_store.get_organisation("310000078") is None, "a registration writes nothing"
    await remind_onboarding(services)
    after = await services.registry_store.get_organisation("310000078")
    assert after is not None and after.status == "test_access" and after.environments == ["test"]
    assert after.services == ["aap"]


async def test_a_published_draft_whose_fan_out_stopped_is_sent_by_the_timer(services: Services) -> None:
    services.clock = FakeClock()
    alert = AlertIn(
        source_alert_id="X",
        kind="incident",
        environments=["production"],
        components=["ufore-api"],
        severity="high",
        title="Feil i uføre-API",
        description="Alle kall feiler.",
        starts_at=services.clock.now(),
    )
    draft = await open_draft(
        services,
        REPORT_DRAFTS,
        source_key="NAV",
        name="Bits",
        email="support@bits.example",
        title=alert.title,
        description=alert.description,
        proposal={
            "kind": "incident",
            "environments": ["production"],
            "components": ["ufore-api"],
            "severity": "high",
            "starts_at": alert.starts_at.isoformat(),
        },
        language="nb",
        markers=["draft-test"],
    )
    stored = await services.store.load(draft.reference)
    assert stored is not None
    published = stored.case.model_copy(
        update={"status": "published", "details": {**stored.case.details, **alert_details(alert, "NAV")}}
    )
    # Published, but the process stopped before the fan-out (the after-step of PUBLISER).
    await services.store.transition(stored, published, _event(services, "published"))
    assert not [m for m in await services.store.mails(draft.reference) if m.mail.purpose == "alert-r1"]
    await remind_alerts(services)
    sent_to = sorted(m.mail.to for m in await services.store.mails(draft.reference) if m.mail.purpose == "alert-r1")
    assert "teknisk@demo-forsikring.example" in sent_to and "support@bits.example" in sent_to
    await remind_alerts(services)
    again = [m for m in await services.store.mails(draft.reference) if m.mail.purpose == "alert-r1"]
    assert len(again) == len(sent_to), "never twice"


async def test_an_old_versions_link_does_not_undo_a_newer_acceptance(services: Services) -> None:
    services.clock = FakeClock()

    def version(number: str, effective: date) -> TermsVersion:
        return TermsVersion(
            title="Vilkår",
            version=number,
            effective_date=effective,
            summary="Endringer.",
            document_url="https://bits.example/vilkar.pdf",
        )

    admin = Publisher("admin@bits.example", "Bits admin")
    old = await publish_terms(services, version("2.0", date(2027, 1, 1)), Channel.API, admin)
    new = await publish_terms(services, version("3.0", date(2027, 6, 1)), Channel.API, admin)
    assert await accept(services, new, "310000019", "signatar@demo-forsikring.example", "link") == "accepted"
    await accept(services, old, "310000019", "signatar@demo-forsikring.example", "link")
    organisation = await services.registry_store.get_organisation("310000019")
    assert organisation is not None and organisation.terms_accepted is not None
    assert organisation.terms_accepted.version == "3.0"
    assert old.process == Process.CHANGE_REQUEST and old.kind == "terms"
