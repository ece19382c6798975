"""The domain's words for what is stored as codes: field names, statuses, choices, decisions, mail, dates (nb, en).

Pages for Bits show a case in these words, never its codes; one place, so that every page says the same thing.
A code the glossary does not know is shown as it is (`word` returns None, the caller decides), so a new status
shows up rather than breaking a page.
"""

from __future__ import annotations

from datetime import date, datetime

from .rendering import OSLO, PROCESS_NAMES, STATUS_NAMES

Words = tuple[str, str]  # (nb, en)


def pick(words: Words, language: str) -> str:
    return words[1] if language == "en" else words[0]


# -- the fields of a case, of its details and of its first event ---------------------------------------------------

FIELDS: dict[str, Words] = {
    # the case itself
    "reference": ("Saksnummer", "Case reference"),
    "process": ("Prosess", "Process"),
    "kind": ("Type", "Kind"),
    "status": ("Status", "Status"),
    "organisation_number": ("Organisasjonsnummer", "Organisation number"),
    "organisation": ("Virksomhet", "Company"),
    "submitter_name": ("Innsender", "Submitted by"),
    "submitter_email": ("Innsenders e-post", "Submitter's email"),
    "submitter_verified": ("Innsenders adresse bekreftet", "Submitter's address confirmed"),
    "environment": ("Miljø", "Environment"),
    "title": ("Tittel", "Title"),
    "language": ("Språk", "Language"),
    "created_at": ("Mottatt", "Received"),
    "updated_at": ("Sist endret", "Last changed"),
    # how it came in
    "intake": ("Kom inn via", "Came in through"),
    "source": ("Kilde", "Source"),
    "routed_by": ("Sortert etter", "Sorted by"),
    "filed_by": ("Registrert av Bits-ansatt", "Filed by Bits staff"),
    "confirmation_withheld": ("Bekreftelse ikke sendt (for mange forespørsler)", "Confirmation not sent (too many)"),
    "over_rate_limit": ("Over grensen for innsendinger", "Over the submission limit"),
    "verified": ("Avsender bekreftet", "Sender confirmed"),
    "identity_numbers_removed": ("Fødselsnumre fjernet", "Identity numbers removed"),
    "message_id": ("Meldings-ID (e-post)", "Message-ID (email)"),
    "sender_proven": ("Avsender bekreftet", "Sender proven"),
    "sender_evidence": ("Grunnlag for avsender", "Evidence of the sender"),
    "claimed_sender": ("Avsender (slik e-posten oppgir)", "Sender (as the email claims)"),
    "claimed_subject": ("Emne (slik e-posten oppgir)", "Subject (as the email claims)"),
    "held_message": ("Holdt melding", "Held message"),
    "from_held": ("Fra holdt melding", "From a held message"),
    # error reports
    "component": ("Komponent", "Component"),
    "components": ("Komponenter", "Components"),
    "severity": ("Alvorlighet", "Severity"),
    "occurred_at": ("Inntraff", "Occurred"),
    "http_status": ("HTTP-status", "HTTP status"),
    "correlation_id": ("Korrelasjons-ID", "Correlation ID"),
    "endpoint": ("Endepunkt", "Endpoint"),
    "customers_affected": ("Berørte kunder", "Customers affected"),
    "description": ("Beskrivelse", "Description"),
    # security breaches
    "phone": ("Telefon", "Phone"),
    "discovered_at": ("Oppdaget", "Discovered"),
    "breach_type": ("Type brudd", "Type of breach"),
    "data_categories": ("Berørte opplysninger", "Data concerned"),
    "persons_affected": ("Berørte personer", "Persons affected"),
    "containment": ("Tiltak for å begrense skaden", "Containment"),
    "datatilsynet_notified_at": ("Meldt til Datatilsynet", "Reported to Datatilsynet"),
    "finanstilsynet_notified_at": ("Meldt til Finanstilsynet", "Reported to Finanstilsynet"),
    "gdpr_deadline": ("Frist for melding til Datatilsynet (72 t)", "Deadline to report to Datatilsynet (72 h)"),
    "dora_initial_deadline": ("DORA: frist for første melding", "DORA: initial report due"),
    "dora_intermediate_deadline": ("DORA: frist for mellomrapport", "DORA: intermediate report due"),
    "dora_final_deadline": ("DORA: frist for sluttrapport", "DORA: final report due"),
    "confirmed_contact": ("Bekreftet av registrert kontaktperson", "Confirmed by a registered contact"),
    "sources_notified_at": ("NAV/Altinn/Digdir varslet", "NAV/Altinn/Digdir told"),
    "sources_notified_because": ("Varslet fordi", "Told because"),
    "acknowledged_at": ("Mottatt av Bits", "Acknowledged by Bits"),
    "acknowledged_by": ("Mottatt av", "Acknowledged by"),
    "dismissed_at": ("Avvist", "Dismissed"),
    "dismissed_by": ("Avvist av", "Dismissed by"),
    # retention (core/retention.py)
    "personal_data_erased_at": ("Personopplysninger slettet", "Personal data erased"),
    "retention_rule": ("Slettereglen som ble brukt", "The retention rule applied"),
    "retention_days": ("Oppbevaringstid (dager)", "Retention period (days)"),
    "last_activity_at": ("Siste aktivitet i saken", "The case's last activity"),
    "attachments_deleted": ("Vedlegg slettet", "Attachments deleted"),
    # questions
    "question": ("Spørsmål", "Question"),
    "service": ("Tjeneste", "Service"),
    "services": ("Tjenester", "Services"),
    "category": ("Hva gjelder det?", "What is it about?"),
    "faq": ("Merket som ofte stilt spørsmål", "Marked as a frequently asked question"),
    "linked_from": ("Kom fra sak", "Came from case"),
    # change requests
    "change_type": ("Type endring", "Kind of change"),
    "urgency": ("Hastegrad", "Urgency"),
    "need_and_benefit": ("Behov og nytte", "Need and benefit"),
    "products_affected": ("Berørte produkter", "Products affected"),
    "legal_impact": ("Juridiske konsekvenser", "Legal impact"),
    "recommendations": ("Anbefalinger", "Recommendations"),
    "decision": ("Beslutning", "Decision"),
    "decision_rounds": ("Beslutningsrunder", "Decision rounds"),
    "assessment_due": ("Frist for fagutvalget", "Committee's deadline"),
    "defer_until": ("Utsatt til", "Deferred until"),
    "outcome": ("Utfall", "Outcome"),
    "reason": ("Begrunnelse", "Reason"),
    "duplicate_of": ("Duplikat av", "Duplicate of"),
    "continued_from": ("Fortsettelse av", "Continued from"),
    "continued_in": ("Fortsetter i", "Continued in"),
    "reclassified_to": ("Omklassifisert til", "Reclassified as"),
    "reclassified": ("Omklassifisert", "Reclassified"),
    # onboarding
    "legal_name": ("Juridisk navn", "Legal name"),
    "supplier_organisation_number": ("Leverandørens organisasjonsnummer", "Supplier's organisation number"),
    "supplier_name": ("Leverandør", "Supplier"),
    "finans_norge_member": ("Medlem av Finans Norge", "Member of Finans Norge"),
    "desired_go_live": ("Ønsket oppstart", "Desired go-live"),
    "contacts": ("Kontaktpersoner", "Contacts"),
    "name": ("Navn", "Name"),
    "email": ("E-post", "Email"),
    "role": ("Rolle", "Role"),
    "roles": ("Roller", "Roles"),
    "comments": ("Kommentarer", "Comments"),
    "registry_status": ("Status i registeret", "Status in the registry"),
    "confirmation_sent_to": ("Bekreftelse bedt om fra", "Confirmation asked of"),
    "confirmation_withheld_for": ("Bekreftelse ikke sendt til", "Confirmation not sent to"),
    "confirmed_by": ("Bekreftet av", "Confirmed by"),
    "confirmed_at": ("Bekreftet", "Confirmed"),
    "production": ("Bestilling av produksjon", "Production request"),
    "integration_tests_passed_on": ("Integrasjonstester bestått", "Integration tests passed"),
    "test_report_reference": ("Testrapport", "Test report"),
    "production_redirect_domains": ("Domener for produksjon", "Production redirect domains"),
    "maskinporten_client_id": ("Klient-ID i Maskinporten", "Maskinporten client ID"),
    "consent_text_confirmed": ("Samtykketekst bekreftet", "Consent text confirmed"),
    "notices_subscribed": ("Abonnerer på varsler", "Subscribed to notices"),
    "production_approved": ("Produksjon godkjent av Bits", "Production approved by Bits"),
    "access_granted": ("Tilgang gitt av", "Access given by"),
    "terms_version_signed": ("Vilkårsversjon signert", "Terms version signed"),
    # notices (alerts)
    "source_alert_id": ("Kildens varsel-ID", "Source's alert ID"),
    "environments": ("Miljøer", "Environments"),
    "title_en": ("Tittel på engelsk", "Title in English"),
    "description_en": ("Beskrivelse på engelsk", "Description in English"),
    "starts_at": ("Starter", "Starts"),
    "ends_at": ("Slutter", "Ends"),
    "action_required": ("Tiltak som kreves", "Action required"),
    "action_deadline": ("Frist for tiltak", "Action deadline"),
    "link": ("Lenke", "Link"),
    "notify_security": ("Varsle sikkerhetskontakter", "Notify security contacts"),
    "revision": ("Revisjon", "Revision"),
    "changes": ("Endret", "Changed"),
    # terms
    "version": ("Versjon", "Version"),
    "effective_date": ("Gjelder fra", "Effective from"),
    "document_url": ("Dokument", "Document"),
    "summary": ("Hva er endret", "What changed"),
    "published_by": ("Publisert av", "Published by"),
    "published_by_id": ("Publisert av (Entra-ID)", "Published by (Entra ID)"),
    "content_sha256": ("Sjekksum for innholdet", "Checksum of the content"),
    "document_sha256": ("Sjekksum for dokumentet", "Checksum of the document"),
    "errors": ("Feil", "Errors"),
    # messages
    "message": ("Melding", "Message"),
    "text": ("Tekst", "Text"),
    "note_from_bits": ("Merknad fra Bits", "Note from Bits"),
    "attachments": ("Vedlegg", "Attachments"),
    "recipients": ("Mottakere", "Recipients"),
    "permanent": ("Permanent", "Permanent"),
    # mails
    "to": ("Til", "To"),
    "purpose": ("Formål (kode)", "Purpose (code)"),
    "resend_form": ("Skjemaets engangsnøkkel", "The form's one-time key"),
}

# -- codes, by what they are -------------------------------------------------------------------------------------


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


# The statuses' words are the ones the work queue shows (core/rendering.py), so that both pages say the same.
STATUSES: dict[str, Words] = {
    "implemented": ("Innført av NAV", "Implemented by NAV"),
    **{
        status: (_capitalised(nb), _capitalised(STATUS_NAMES["en"].get(status, nb)))
        for status, nb in STATUS_NAMES["nb"].items()
    },
}

VALUES: dict[str, dict[str, Words]] = {
    "status": STATUSES,
    "registry_status": STATUSES,
    "process": {k: (PROCESS_NAMES["nb"][k].capitalize(), PROCESS_NAMES["en"][k].capitalize()) for k in "ABCDE"},
    "environment": {"test": ("Test", "Test"), "production": ("Produksjon", "Production"), "both": ("Begge", "Both")},
    "component": {
        "ufore-api": ("Uføre-API-et", "The disability API"),
        "aap-api": ("AAP-API-et", "The AAP API"),
        "altinn-consent": ("Samtykke i Altinn", "Consent in Altinn"),
        "maskinporten": ("Maskinporten", "Maskinporten"),
        "nav-api-portal": ("NAVs API-portal", "NAV's API portal"),
    },
    "service": {
        "ufore": ("Uføretrygd", "Disability benefit"),
        "aap": ("Arbeidsavklaringspenger (AAP)", "Work assessment allowance (AAP)"),
        "both": ("Begge", "Both"),
        "other": ("Annet", "Other"),
    },
    "severity": {
        "low": ("Lav", "Low"),
        "medium": ("Middels", "Medium"),
        "high": ("Høy", "High"),
        "critical": ("Kritisk", "Critical"),
    },
    "breach_type": {
        "confidentiality": ("Konfidensialitet (uvedkommende fikk se data)", "Confidentiality (data seen by others)"),
        "integrity": ("Integritet (data endret)", "Integrity (data altered)"),
        "availability": ("Tilgjengelighet (data utilgjengelig)", "Availability (data unavailable)"),
    },
    "category": {
        "documentation": ("Dokumentasjon", "Documentation"),
        "data_interpretation": ("Tolking av data", "Reading the data"),
        "consent": ("Samtykke", "Consent"),
        "maskinporten": ("Maskinporten", "Maskinporten"),
        "test_data": ("Testdata", "Test data"),
        "terms": ("Vilkår", "Terms"),
        "other": ("Annet", "Other"),
    },
    "change_type": {
        "data_element": ("Nytt eller endret dataelement", "New or changed data element"),
        "api": ("API", "API"),
        "consent_text": ("Samtykketekst", "Consent text"),
        "terms": ("Vilkår", "Terms"),
        "other": ("Annet", "Other"),
    },
    "urgency": {"low": ("Lav", "Low"), "normal": ("Normal", "Normal"), "high": ("Høy", "High")},
    "kind": {
        "error_report": ("Feilmelding", "Error report"),
        "security_breach": ("Sikkerhetsbrudd", "Security breach"),
        "question": ("Spørsmål", "Question"),
        "change_request": ("Endringsønske", "Change request"),
        "registration": ("Innmelding", "Registration"),
        "contact_update": ("Endring av kontaktpersoner", "Change of contacts"),
        "terms": ("Vilkår", "Terms"),
        "notice": ("Varsel", "Notice"),
        "incident": ("Driftshendelse", "Incident"),
        "maintenance": ("Planlagt vedlikehold", "Planned maintenance"),
        "change": ("Endring", "Change"),
        "alert_draft": ("Utkast til varsel", "Draft notice"),
    },
    "language": {"nb": ("Norsk (bokmål)", "Norwegian (bokmål)"), "en": ("Engelsk", "English")},
    "role": {
        "business": ("Forretningskontakt", "Business contact"),
        "technical": ("Teknisk kontakt", "Technical contact"),
        "security": ("Sikkerhetskontakt", "Security contact"),
        "signatory": ("Signaturberettiget", "Signatory"),
        "support": ("Brukerstøtte", "Support"),
        "approver": ("Godkjenner", "Approver"),
        "admin": ("Administrator", "Administrator"),
        "operations": ("Drift", "Operations"),
        "onboarding": ("Tilknytning", "Onboarding"),
    },
    "channel": {
        "form": ("Skjema", "Form"),
        "email": ("E-post", "Email"),
        "api": ("API", "API"),
        "timer": ("Automatisk (frist)", "Automatic (deadline)"),
        "link": ("Lenke", "Link"),
        "agreement": ("Avtale", "Agreement"),
        "browser": ("Nettleser", "Browser"),
        "web": ("Arbeidsflaten (nettleser)", "The workspace (browser)"),
    },
    "intake": {
        "question-form": ("Skjema for spørsmål", "Question form"),
        "error-report-form": ("Skjema for feilmelding", "Error report form"),
        "security-breach-form": ("Skjema for sikkerhetsbrudd", "Security breach form"),
        "change-request-form": ("Skjema for endringsønske", "Change request form"),
        "onboarding-registration": ("Skjema for innmelding", "Registration form"),
        "onboarding-registration-known": ("Skjema for innmelding (kjent virksomhet)", "Registration form (known)"),
        "question.bits": ("Opprettet av Bits", "Opened by Bits"),
        "email-A": ("E-post (innmelding)", "Email (registration)"),
        "email-B": ("E-post (varsel)", "Email (notice)"),
        "email-C": ("E-post (feilmelding)", "Email (error report)"),
        "email-C-security": ("E-post (sikkerhetsbrudd)", "Email (security breach)"),
        "email-D": ("E-post (spørsmål)", "Email (question)"),
        "email-E": ("E-post (endringsønske)", "Email (change request)"),
    },
    "source": {
        "email": ("E-post", "Email"),
        "form": ("Skjema", "Form"),
        "reclassified": ("Omklassifisert fra en annen sak", "Reclassified from another case"),
        "NAV": ("NAV", "NAV"),
        "ALTINN": ("Altinn", "Altinn"),
        "DIGDIR": ("Digdir", "Digdir"),
    },
    "routed_by": {
        "address": ("Adressen den ble sendt til", "The address it was sent to"),
        "keywords": ("Ord i teksten", "Words in the text"),
        "default": ("Ingenting særskilt (spørsmål)", "Nothing in particular (a question)"),
    },
    "access_granted": {"NAV": ("NAV", "NAV"), "ALTINN": ("Altinn", "Altinn"), "DIGDIR": ("Digdir", "Digdir")},
    "outcome": {
        "resolved": ("Løst", "Resolved"),
        "completed": ("Fullført", "Completed"),
        "cancelled": ("Avlyst", "Cancelled"),
        "approved": ("Godkjent", "Approved"),
        "rejected": ("Avslått", "Rejected"),
        "deferred": ("Utsatt", "Deferred"),
        "refused": ("Avvist", "Refused"),
        "recommend": ("Anbefaler", "Recommends"),
        "not_recommended": ("Anbefaler ikke", "Does not recommend"),
        "neutral": ("Nøytral", "Neutral"),
    },
    "persons_affected": {"unknown": ("Ukjent", "Unknown")},
    # A component's state on the status page (alerts/status.py), worst last: the words Statuspage users know.
    "component_state": {
        "operational": ("Virker", "Working"),
        "maintenance": ("Vedlikehold", "Maintenance"),
        "degraded": ("Forstyrrelser", "Degraded"),
        "partial": ("Delvis nede", "Partial outage"),
        "major": ("Nede", "Major outage"),
    },
    "refused": {
        "size": ("for stor", "too large"),
        "type": ("filtypen tas ikke imot", "type not accepted"),
        "erased": ("slettet etter oppbevaringstiden", "erased after the retention period"),
    },
}
VALUES["environments"] = VALUES["environment"]
VALUES["components"] = VALUES["component"]
VALUES["services"] = VALUES["service"]
VALUES["roles"] = VALUES["role"]
VALUES["recommendations"] = VALUES["outcome"]

EVENTS: dict[str, Words] = {
    "received": ("Saken ble mottatt", "The case was received"),
    "submitter_confirmed": ("Innsender bekreftet e-postadressen", "The submitter confirmed their address"),
    "registration_confirmed": ("En kontaktperson bekreftet innmeldingen", "A contact confirmed the registration"),
    "contacts_confirmed": ("Kontaktlisten ble bekreftet", "The contact list was confirmed"),
    "message": ("Melding fra en deltaker", "Message from a participant"),
    "message_unverified": ("Melding fra ubekreftet avsender", "Message from an unconfirmed sender"),
    "message_set_aside": ("Melding holdt tilbake for Bits", "Message held for Bits"),
    "message_held": ("Melding holdt tilbake for Bits", "Message held for Bits"),
    "held_message_attached": ("Holdt melding lagt til saken av Bits", "Held message attached to the case by Bits"),
    "note": ("Internt notat", "Internal note"),
    "answered": ("Bits svarte", "Bits answered"),
    "resolved": ("Bits avsluttet saken", "Bits closed the case"),
    "personal_data_erased": (
        "Personopplysningene ble slettet etter at oppbevaringstiden var ute",
        "The personal data was erased after the retention period",
    ),
    "forwarded": ("Sendt videre", "Passed on"),
    "asked_source": ("Spørsmål sendt til NAV, Altinn eller Digdir", "Question sent to NAV, Altinn or Digdir"),
    "question_to_reporter": ("Bits stilte innsender et spørsmål", "Bits asked the submitter"),
    "alert_requested": ("Varsel bedt om", "Notice requested"),
    "alert_drafted": ("Utkast til varsel laget", "Draft notice made"),
    "reclassified": ("Omklassifisert", "Reclassified"),
    "continued": ("Videreført i ny sak", "Continued in a new case"),
    "marked_faq": ("Merket som ofte stilt spørsmål", "Marked as a frequently asked question"),
    "accepted": ("Bits godkjente innmeldingen", "Bits accepted the registration"),
    "agreement_signed": ("Tilknytningsavtalen ble signert", "The connection agreement was signed"),
    "signatory_signed": ("Signaturberettiget signerte", "The signatory signed"),
    "access_granted": ("Tilgang gitt", "Access given"),
    "test_access": ("Testtilgang gitt", "Test access given"),
    "production_requested": ("Produksjon bestilt", "Production requested"),
    "production_not_yet": ("Produksjon bestilt for tidlig", "Production requested too early"),
    "production_confirmation_sent": ("Bekreftelse av bestillingen sendt", "Confirmation of the request sent"),
    "production_approved": ("Bits godkjente produksjon", "Bits approved production"),
    "in_production": ("I produksjon", "In production"),
    "rejected": ("Avslått", "Rejected"),
    "withdrawn": ("Trukket", "Withdrawn"),
    "offboarded": ("Koblet fra", "Disconnected"),
    "complete": ("Bits gikk gjennom saken", "Bits reviewed the case"),
    "duplicate": ("Markert som duplikat", "Marked as a duplicate"),
    "recommendation": ("Anbefaling fra fagutvalget", "The committee's recommendation"),
    "approved": ("Godkjent", "Approved"),
    "deferred": ("Utsatt", "Deferred"),
    "planned": ("Planlagt av NAV", "Planned by NAV"),
    "implemented": ("Innført av NAV", "Implemented by NAV"),
    "assessment_closed": ("Fristen for fagutvalget gikk ut", "The committee's deadline passed"),
    "brought_back": ("Tatt opp igjen etter utsettelse", "Brought back after deferral"),
    "published": ("Publisert", "Published"),
    "publish_refused": ("Publisering avvist", "Publishing refused"),
    "discarded": ("Forkastet", "Discarded"),
    "revised": ("Varselet ble oppdatert", "The notice was revised"),
    "fanned_out": ("Sendt til virksomhetene", "Sent to the companies"),
    "fanned_out_all": ("Sendt til alle virksomhetene", "Sent to every company"),
    "terms": ("Vilkår publisert", "Terms published"),
    "terms_accepted": ("Vilkårene ble akseptert", "The terms were accepted"),
    "step_refused": ("Steget ble avvist", "The step was refused"),
    "escalated": ("Eskalert", "Escalated"),
    "reminded": ("Påminnelse sendt", "Reminder sent"),
    "acknowledged": ("Bits bekreftet mottak", "Bits acknowledged"),
    "dismissed": ("Avvist av Bits", "Dismissed by Bits"),
    "reported": ("Meldt til myndighetene", "Reported to the authorities"),
    "automatic_reply": ("Automatisk svar", "Automatic reply"),
    "mail_bounced": ("E-post kom i retur", "A mail bounced"),
    "mail_failed": ("E-post kunne ikke sendes", "A mail could not be sent"),
    "mail_resent": ("Bits sendte e-posten på nytt", "Bits sent the mail again"),
    "decision_refused": ("Et svar ble avvist som beslutning", "A reply was refused as a decision"),
    "decision_too_late": ("Et svar kom etter at saken var avgjort", "A reply came after the case was decided"),
    "decision_unclear": ("Et svar var uklart", "A reply was unclear"),
    "target_warning": ("Svarfristen nærmer seg", "The response target is near"),
    "target_breached": ("Svarfristen er passert", "The response target has passed"),
    "registry_changed": ("Bits endret registeret", "Bits changed the registry"),
    "registry_change_not_applied": (
        "Endringen ble ikke utført (registeret ble endret samtidig)",
        "The change was not made (the registry changed at the same time)",
    ),
}

# What a person is asked to decide by a token (its `decision`).
DECISIONS: dict[str, Words] = {
    "error_report.triage": ("behandle feilmeldingen", "handle the error report"),
    "security_breach.acknowledge": ("bekrefte mottak av sikkerhetsbruddet", "acknowledge the security breach"),
    "security_breach.reported": ("melde fra om rapportering til myndighetene", "say it was reported"),
    "question.bits": ("svare på spørsmålet", "answer the question"),
    "change.handle": ("behandle endringsønsket", "handle the change request"),
    "change.assess": ("gi fagutvalgets anbefaling", "give the committee's recommendation"),
    "change.decide": ("beslutte endringsønsket", "decide the change request"),
    "change.nav": ("melde NAVs oppfølging", "report NAV's follow-up"),
    "onboarding.bits": ("behandle innmeldingen", "handle the registration"),
    "onboarding.source.test": ("gi testtilgang", "give test access"),
    "onboarding.source.production": ("gi tilgang til produksjon", "give production access"),
    "onboarding.company": ("signere avtalen eller trekke innmeldingen", "sign the agreement or withdraw"),
    "terms.accept": ("akseptere vilkårene", "accept the terms"),
    "alert.draft": ("publisere eller forkaste varselet", "publish or discard the notice"),
}

# What an onboarding waits for (`onboarding.workflow.next_step`), as the end of "Det som gjenstår nå, er …" /
# "What remains now is …".
ONBOARDING_STEPS: dict[str, Words] = {
    "contact_confirms": (
        "at en av virksomhetens registrerte kontaktpersoner bekrefter innmeldingen, eller at Bits godkjenner den",
        "one of the company's registered contacts confirming the registration, or Bits approving it",
    ),
    "bits_accepts": ("at Bits godkjenner innmeldingen", "Bits accepting the registration"),
    "agreement_signed": (
        "at signataren signerer tilknytningsavtalen",
        "the signatory signing the connection agreement",
    ),
    "test_access": ("at NAV og Altinn gir testtilgang", "NAV and Altinn giving test access"),
    "production_request": ("at virksomheten bestiller påkobling til produksjon", "the company asking for production"),
    "bits_approves_production": ("at Bits godkjenner påkoblingen til produksjon", "Bits approving production"),
    "nav_opens_production": ("at NAV åpner produksjon", "NAV opening production"),
    "none": ("ingenting – saken er avsluttet", "nothing – the case is closed"),
}


# The next step on the submitter's case page (cases/views.py), by whose move it is (core/deadlines.py `whose_move`),
# said to the submitter: who acts now and what happens then.
NEXT_STEPS: dict[str, Words] = {
    "confirm_address": (
        "Din tur: åpne lenken i e-posten vi sendte deg, for å bekrefte at adressen er din. Da går saken til Bits.",
        "Your move: open the link in the email we sent you to confirm that the address is yours. Then the case "
        "goes to Bits.",
    ),
    "bits": (
        "Bits sin tur: Bits går gjennom saken og svarer deg på e-post. Du kan legge til noe under «Skriv til Bits» "
        "nedenfor.",
        'Bits\' move: Bits looks at the case and answers you by email. You can add something under "Write to Bits" '
        "below.",
    ),
    "insurer": (
        "Din tur: Bits venter på svar fra deg. Skriv under «Skriv til Bits» nedenfor, eller svar på e-posten fra Bits.",
        'Your move: Bits is waiting for your answer. Write under "Write to Bits" below, or reply to Bits\' email.',
    ),
    "sources": (
        "NAV, Altinn eller Digdir har saken nå. Bits følger opp og gir deg beskjed på e-post.",
        "NAV, Altinn or Digdir has the case now. Bits follows up and tells you by email.",
    ),
    "committee": (
        "Fagutvalget vurderer endringsønsket og gir sin anbefaling. Deretter beslutter referansegruppen.",
        "The expert committee assesses the change request and gives its recommendation. Then the reference group "
        "decides.",
    ),
    "approver": (
        "Referansegruppen beslutter endringsønsket. Du får beslutningen på e-post.",
        "The reference group decides the change request. You get the decision by email.",
    ),
    "breach": (
        "Bits behandler sikkerhetsbrudd fortløpende, også utenom åpningstid, og tar kontakt med deg.",
        "Bits handles security breaches at once, also outside office hours, and will contact you.",
    ),
    "finished": (
        "Saken er avsluttet. Har du noe å legge til, kan du skrive under «Skriv til Bits» nedenfor: Bits får det.",
        'The case is closed. If you have something to add, write under "Write to Bits" below: Bits gets it.',
    ),
}

# The commands of replies, by their name: as the person wrote them, in the page's language.
COMMANDS: dict[str, Words] = {
    "text": ("ingen – internt notat", "none – internal note"),
    "answer": ("SVAR", "ANSWER"),
    "forward": ("VIDERESEND", "FORWARD"),
    "ask": ("SPØRSMÅL", "ASK"),
    "resolve": ("LØST", "RESOLVED"),
    "alert": ("VARSEL", "ALERT"),
    "acknowledge": ("MOTTATT", "ACKNOWLEDGED"),
    "dismiss": ("AVVIST", "DISMISSED"),
    "reported": ("MELDT", "REPORTED"),
    "complete": ("KOMPLETT", "COMPLETE"),
    "duplicate": ("DUPLIKAT", "DUPLICATE"),
    "reject": ("AVSLÅTT", "REJECTED"),
    "recommend": ("ANBEFALER", "RECOMMEND"),
    "not_recommended": ("ANBEFALER IKKE", "NOT RECOMMENDED"),
    "neutral": ("NØYTRAL", "NEUTRAL"),
    "approve": ("GODKJENT", "APPROVED"),
    "defer": ("UTSATT", "DEFERRED"),
    "planned": ("PLANLAGT", "PLANNED"),
    "implemented": ("IMPLEMENTERT", "IMPLEMENTED"),
    "accepted": ("AKSEPTERT", "ACCEPTED"),
    "faq": ("FAQ", "FAQ"),
    "to_error_report": ("FEIL (til feilmelding)", "ERROR (to an error report)"),
    "to_change_request": ("ENDRING (til endringsønske)", "CHANGE (to a change request)"),
    "signed": ("SIGNERT", "SIGNED"),
    "offboard": ("AVSLUTT", "OFFBOARD"),
    "granted": ("TILGANG GITT", "ACCESS GRANTED"),
    "withdraw": ("TRUKKET", "WITHDRAWN"),
    "publish": ("PUBLISER", "PUBLISH"),
    "discard": ("FORKAST", "DISCARD"),
}

# What a command does, by decision and command name: what a reply that could not be read offers in its place.
_ANSWERS: Words = (
    "svarer innsenderen: teksten under går til den som meldte saken",
    "answers the submitter: the text below goes to them",
)
COMMAND_EFFECTS: dict[str, Words] = {
    "error_report.triage.answer": _ANSWERS,
    "error_report.triage.forward": (
        "sender feilmeldingen videre til datakilden, uten innsenderens navn; teksten under går med",
        "forwards the error report to the data source, without the reporter's name; the text below goes with it",
    ),
    "error_report.triage.ask": (
        "spør innsenderen: spørsmålet under går til dem",
        "asks the reporter the question below",
    ),
    "error_report.triage.resolve": (
        "lukker saken; teksten under går til innsenderen",
        "closes the case; the text below goes to the reporter",
    ),
    "error_report.triage.alert": (
        "lager et utkast til varsel fra feilmeldingen",
        "drafts an alert from the error report",
    ),
    "security_breach.acknowledge.acknowledge": (
        "bekrefter at Bits har tatt imot bruddet",
        "confirms that Bits has received the breach",
    ),
    "security_breach.acknowledge.dismiss": (
        "avviser meldingen som ikke et sikkerhetsbrudd",
        "dismisses the report as no security breach",
    ),
    "security_breach.acknowledge.answer": _ANSWERS,
    "security_breach.reported.reported": (
        "sier at Datatilsynet er varslet; påminnelsene stopper",
        "says Datatilsynet has been notified; the reminders stop",
    ),
    "question.bits.answer": _ANSWERS,
    "question.bits.resolve": (
        "lukker spørsmålet; teksten under går til den som spurte",
        "closes the question; the text below goes to the asker",
    ),
    "question.bits.faq": (
        "lukker spørsmålet og tar svaret med i ofte stilte spørsmål",
        "closes the question and adds the answer to the FAQ",
    ),
    "question.bits.forward": ("sender spørsmålet videre til datakilden", "forwards the question to the data source"),
    "question.bits.to_error_report": (
        "gjør spørsmålet om til en feilmelding",
        "turns the question into an error report",
    ),
    "question.bits.to_change_request": (
        "gjør spørsmålet om til et endringsønske",
        "turns the question into a change request",
    ),
    "change.handle.answer": _ANSWERS,
    "change.handle.complete": (
        "sender endringsønsket til fagutvalget, eller rett til beslutning når det ikke er noe fagutvalg",
        "sends the change request to the expert committee, or straight to decision when there is none",
    ),
    "change.handle.ask": ("spør innsenderen: spørsmålet under går til dem", "asks the submitter the question below"),
    "change.handle.duplicate": (
        "lukker saken som duplikat av saken du skriver (SSU-E-…)",
        "closes it as a duplicate of the case you name (SSU-E-…)",
    ),
    "change.handle.reject": (
        "avslår endringsønsket; begrunnelsen under går til innsenderen",
        "rejects the request; the reason below goes to the submitter",
    ),
    "change.assess.recommend": (
        "anbefaler endringen; kommentaren under går til referansegruppen",
        "recommends the change; the comment below goes to the reference group",
    ),
    "change.assess.not_recommended": (
        "anbefaler ikke endringen; kommentaren under går til referansegruppen",
        "does not recommend the change; the comment below goes to the reference group",
    ),
    "change.assess.neutral": (
        "verken for eller mot; kommentaren under går til referansegruppen",
        "neither for nor against; the comment below goes to the reference group",
    ),
    "change.decide.approve": (
        "godkjenner endringsønsket: innsenderen, NAV og alle tilknyttede virksomheter får beskjed",
        "approves the request: the submitter, NAV and every connected company are told",
    ),
    "change.decide.reject": (
        "avslår endringsønsket; begrunnelsen under går til innsenderen",
        "rejects the request; the reason below goes to the submitter",
    ),
    "change.decide.defer": (
        "utsetter saken til datoen du skriver (for eksempel 1.3.2027)",
        "defers it until the date you write (e.g. 2027-03-01)",
    ),
    "change.nav.planned": (
        "sier når endringen kommer: versjonen eller datoen under",
        "says when the change comes: the version or date below",
    ),
    "change.nav.implemented": (
        "sier at endringen er innført; saken lukkes",
        "says the change is implemented; the case closes",
    ),
    "onboarding.bits.answer": _ANSWERS,
    "onboarding.bits.approve": (
        "godkjenner innmeldingen, eller påkoblingen til produksjon",
        "approves the registration, or the connection to production",
    ),
    "onboarding.bits.reject": (
        "avslår innmeldingen; begrunnelsen under går til virksomheten",
        "rejects the registration; the reason below goes to the company",
    ),
    "onboarding.bits.ask": ("spør virksomheten: spørsmålet under går til dem", "asks the company the question below"),
    "onboarding.bits.signed": (
        "bekrefter at tilknytningsavtalen er signert",
        "confirms that the connection agreement is signed",
    ),
    "onboarding.bits.offboard": ("kobler virksomheten fra tjenesten", "disconnects the company from the service"),
    "onboarding.source.test.granted": ("bekrefter at testtilgangen er gitt", "confirms that test access is granted"),
    "onboarding.source.production.granted": (
        "bekrefter at tilgangen til produksjon er gitt",
        "confirms that production access is granted",
    ),
    "onboarding.company.withdraw": ("trekker innmeldingen", "withdraws the registration"),
    "onboarding.company.signed": ("sier at tilknytningsavtalen er signert", "says the connection agreement is signed"),
    "terms.accept.accepted": (
        "aksepterer vilkårene på vegne av virksomheten",
        "accepts the terms on the company's behalf",
    ),
    "alert.draft.publish": ("publiserer varselet til dem det gjelder", "publishes the alert to those it concerns"),
    "alert.draft.discard": ("forkaster utkastet", "discards the draft"),
}

MAIL_STATES: dict[str, Words] = {
    "pending": ("I kø", "Queued"),
    "sent": ("Sendt", "Sent"),
    "failed": ("Feilet", "Failed"),
    "bounced": ("Kom i retur", "Bounced"),
    "suppressed": ("Stoppet: adressen er sperret etter returer", "Stopped: the address is suppressed"),
}

# What a mail is for, by its purpose's start (purposes carry keys after the prefix: `forward-NAV-…`).
MAIL_PURPOSES: tuple[tuple[str, Words], ...] = (
    ("acknowledgement", ("Kvittering til innsender", "Receipt to the submitter")),
    ("notify-", ("Melding til Bits om ny sak", "Notice of the new case to Bits")),
    ("confirm-registration", ("Be kontaktperson bekrefte innmeldingen", "Asks a contact to confirm")),
    ("confirm-contacts", ("Be kontaktperson bekrefte ny kontaktliste", "Asks a contact to confirm the list")),
    ("confirm", ("Be innsender bekrefte e-postadressen", "Asks the submitter to confirm their address")),
    ("message-", ("Ny melding i saken", "New message on the case")),
    ("answer-", ("Svar til innsender", "Answer to the submitter")),
    ("resolved", ("Svar og avslutning til innsender", "Answer and closing to the submitter")),
    ("ask-", ("Spørsmål til NAV, Altinn eller Digdir", "Question to NAV, Altinn or Digdir")),
    ("forward-", ("Sendt videre til NAV, Altinn eller Digdir", "Passed on to NAV, Altinn or Digdir")),
    ("clarify-", ("Svaret var uklart – be om nytt svar", "The reply was unclear – asks again")),
    ("already-", ("Saken var allerede avgjort", "The case was already decided")),
    ("attachments-", ("Vedlegg som ikke ble tatt vare på", "Attachments not kept")),
    ("bounce-warning-", ("Varsel til Bits om returer", "Warning to Bits of bounces")),
    ("target-", ("Svarfrist", "Response target")),
    ("escalation-", ("Eskalering", "Escalation")),
    ("gdpr-reminder", ("Påminnelse om melding til Datatilsynet", "Reminder to report to Datatilsynet")),
    ("change-notice", ("Melding om endringsønsket", "Notice of the change request")),
    ("alert-closed", ("Varselet er avsluttet", "The notice is closed")),
    ("alert-", ("Varsel til virksomhetene", "Notice to the companies")),
    ("draft-refused-", ("Utkastet ble avvist", "The draft was refused")),
    ("terms-receipt", ("Kvittering for publiserte vilkår", "Receipt for the published terms")),
    ("terms-", ("Nye vilkår til virksomheten", "New terms to the company")),
    ("refused", ("Avvist", "Refused")),
    ("set-aside", ("Melding holdt tilbake for Bits", "Message held for Bits")),
    ("contact-update", ("Endring av kontaktpersoner", "Change of contacts")),
    ("registry-contacts-", ("Melding om endrede kontaktpersoner", "Notice of changed contacts")),
    ("production-request", ("Bestilling av produksjon", "Production request")),
)

_MONTHS = {
    "nb": (
        [
            "januar",
            "februar",
            "mars",
            "april",
            "mai",
            "juni",
            "juli",
            "august",
            "september",
            "oktober",
            "november",
            "desember",
        ],
        "{day}. {month} {year}",
        "{date} kl. {hour:02d}.{minute:02d}",
    ),
    "en": (
        [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ],
        "{day} {month} {year}",
        "{date}, {hour:02d}:{minute:02d}",
    ),
}


def field_label(key: str, language: str) -> str:
    """A field's name in words; an unknown one with its underscores read as spaces."""
    words = FIELDS.get(key)
    return pick(words, language) if words else key.replace("_", " ").capitalize()


def word(kind: str, code: object, language: str) -> str | None:
    """The word for `code` as a value of `kind` (a field name, or "process", "status", …); None when not known."""
    words = VALUES.get(kind, {}).get(str(code))
    return pick(words, language) if words else None


def status_words(status: str, language: str) -> str:
    return word("status", status, language) or status.replace("_", " ")


def event_words(kind: str, language: str) -> str | None:
    words = EVENTS.get(kind)
    if words is None and kind.startswith("target_"):
        words = ("Svarfrist", "Response target")
    return pick(words, language) if words else None


def decision_words(decision: str, language: str) -> str:
    words = DECISIONS.get(decision)
    return pick(words, language) if words else decision


def command_words(command: str, language: str) -> str:
    words = COMMANDS.get(command)
    return pick(words, language) if words else command.upper()


def command_effect(decision: str, command: str, language: str) -> str:
    """What `command` of `decision` does, in words; "" when the glossary does not say."""
    words = COMMAND_EFFECTS.get(f"{decision}.{command}")
    return pick(words, language) if words else ""


def mail_state_words(state: str, language: str) -> str:
    words = MAIL_STATES.get(state)
    return pick(words, language) if words else state


def mail_purpose_words(purpose: str, language: str) -> str | None:
    for prefix, words in MAIL_PURPOSES:
        if purpose == prefix or purpose.startswith(prefix):
            return pick(words, language)
    return None


def long_date(value: date, language: str) -> str:
    """30. november 2026 (nb), 30 November 2026 (en)."""
    months, date_format, _ = _MONTHS["en" if language == "en" else "nb"]
    return date_format.format(day=value.day, month=months[value.month - 1], year=value.year)


def long_time(value: datetime, language: str) -> str:
    """30. november 2026 kl. 09.15 (nb), 30 November 2026, 09:15 (en): Oslo time."""
    local = value.astimezone(OSLO) if value.tzinfo else value.replace(tzinfo=OSLO)
    _, _, time_format = _MONTHS["en" if language == "en" else "nb"]
    return time_format.format(date=long_date(local.date(), language), hour=local.hour, minute=local.minute)
