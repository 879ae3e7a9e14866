"""Message keys no literal ``t('key')`` names: families composed at run time and the page scripts' texts.

``pybabel extract`` (babel.cfg, docs/translation.md) finds them through the ``N_`` marker, so the catalogs
list every key the pages can show; tests/web/test_i18n.py checks each family against the engine's own
values (states, verdicts, incident kinds, refusals, check ids).
"""

from __future__ import annotations


def N_(key: str) -> str:
    """Marks a message key for extraction; returns it unchanged."""
    return key


#: the chair's banner (chair.js: T['verdict.' + view.verdict]; collector.engine.types.Verdict)
VERDICTS = (
    N_("verdict.not_started"),
    N_("verdict.equal_terms"),
    N_("verdict.at_risk"),
    N_("verdict.adjourn"),
    N_("verdict.substitute_due"),
    N_("verdict.monitoring_interrupted"),
    N_("verdict.ended"),
    N_("verdict.not_all_monitored"),
)
#: single words the page scripts and error pages use
PAGE_SCRIPTS = (
    N_("stale"),
    N_("reconnecting"),
    N_("charging"),
    N_("not_charging"),
    N_("unknown"),
    N_("passed"),
    N_("warned"),
    N_("not_run"),
    N_("seen_heard"),
    N_("not_seen_heard"),
    N_("no_check"),
    N_("since"),
    N_("substitute_pick"),
    N_("no_substitute"),
    N_("vote_running"),
    N_("agenda_item"),
    N_("adjourned_since"),
    N_("secret_meeting"),
    N_("forbidden"),
    N_("not_found"),
)
#: participant states (chair.js; collector.engine.types.ParticipantState)
STATES = (
    N_("state.expected"),
    N_("state.connected"),
    N_("state.ready"),
    N_("state.ok"),
    N_("state.degraded"),
    N_("state.failing"),
    N_("state.lost"),
    N_("state.replaced"),
    N_("state.excused"),
    N_("state.left"),
    N_("state.not_monitored"),
)
#: how a participant is watched (roster: monitoring)
MONITORING = (N_("mon.agent"), N_("mon.none"))
#: table columns the page scripts fill
COLUMNS = (N_("col.battery"),)
#: network link kinds (chair.js)
LINKS = (N_("link.wifi"), N_("link.ethernet"), N_("link.wwan"), N_("link.hotspot"), N_("link.none"), N_("link.unknown"))
#: actions and their outcome (chair.js; collector.engine.types.ActionKind)
ACTIONS = (
    N_("act.excuse"),
    N_("act.return"),
    N_("act.left"),
    N_("act.substitute"),
    N_("act.present"),
    N_("act.roll_call"),
    N_("act.unequal_terms"),
    # the report's timeline legend (collector/web/report.py legend)
    N_("rep.legend.good"),
    N_("rep.legend.warn"),
    N_("rep.legend.bad"),
    N_("rep.legend.neutral"),
    N_("rep.legend.info"),
    N_("rep.legend.adjourned"),
    N_("rep.legend.item"),
    N_("act.recorded"),
    N_("act.failed"),
)
#: the chair's page, issue 15 (chair.js): the banner after adjourning (H15/H16) and before the start
#: (H8), the roll call (H13), the confirmation of presence (H16) and what failed
CHAIR = (
    N_("banner.adjourned"),
    N_("banner.waiting_for"),
    N_("banner.waiting_for_nobody"),
    N_("banner.five_minutes_at"),
    N_("banner.connect_by"),
    N_("banner.not_connected_by"),
    N_("banner.more"),
    N_("present.reason"),
    N_("rc.legend"),
    N_("rc.answered"),
    N_("rc.seen"),
    N_("rc.heard"),
    N_("rc.no_answer"),
    N_("error.network"),
    N_("error.server"),
    N_("error.signed_out"),
    N_("error.invalid"),
)
#: roster roles (chair.js)
ROLES = (N_("role.ledamot"), N_("role.ersättare"), N_("role.serving"), N_("role.not_serving"))
#: the companion page (companion.js, collector.web.companion)
COMPANION = (
    N_("comp.no_contact"),
    N_("comp.state.ok"),
    N_("comp.state.degraded"),
    N_("comp.state.failing"),
    N_("comp.state.lost"),
    N_("comp.state.replaced"),
    N_("comp.state.expected"),
    N_("comp.state.connected"),
    N_("comp.state.ready"),
    N_("comp.state.excused"),
    N_("comp.state.left"),
    N_("comp.state.not_monitored"),
    N_("comp.watched"),
    N_("comp.not_watched"),
    N_("comp.rtt"),
    N_("comp.loss"),
)
#: the browser self-test (selftest.js)
SELFTEST = (
    N_("st.running"),
    N_("st.black"),
    N_("st.frozen"),
    N_("st.too_quiet"),
    N_("st.no_web_audio"),
    N_("st.done_pass"),
    N_("st.done_fail"),
    N_("st.done_warn"),
    N_("st.send_failed"),
    N_("st.chk.wifi"),
    N_("st.chk.battery"),
    N_("st.chk.place"),
    N_("st.chk.device"),
    N_("st.chk.silent"),
    N_("st.insecure"),
    N_("st.confirmed"),
    N_("st.not_confirmed"),
    N_("st.for"),
    # issue 15: plain words in the main text, figures and rule numbers in the details
    N_("st.denied"),
    N_("st.no_device"),
    N_("st.busy"),
    N_("st.media_error"),
    N_("st.camera_ok"),
    N_("st.camera_error"),
    N_("st.mic_ok"),
    N_("st.mic_error"),
    N_("st.path_needs_media"),
    N_("st.path_unsupported"),
    N_("st.path_no_connection"),
    N_("st.path_failed"),
    N_("st.why_path"),
    N_("st.why_camera"),
    N_("st.net_pass"),
    N_("st.net_warn"),
    N_("st.net_fail"),
    N_("st.net_error"),
    N_("st.limit"),
    N_("st.details"),
    N_("st.rule"),
    N_("st.own_check"),
    N_("st.unticked"),
    N_("st.causes"),
)
#: the browser self-test's check rows (selftest.js)
SELFTEST_CHECKS = (
    N_("chk.camera"),
    N_("chk.microphone"),
    N_("chk.mediapath"),
    N_("chk.rtt"),
    N_("chk.download"),
    N_("chk.upload"),
    N_("chk.pending"),
)
#: the meeting report (collector.web.report)
REPORT = (
    N_("rep.held"),
    N_("rep.not_held"),
    N_("rep.unknown"),
    N_("rep.unconfirmed"),
    N_("rep.item"),
    N_("rep.vote"),
    N_("rep.whole"),
)
#: incident kinds (collector.engine.debounce.incident_kind, decide.conditions)
INCIDENT_KINDS = (
    N_("incident.connection_lost"),
    N_("incident.network_degraded"),
    N_("incident.low_battery"),
    N_("incident.device_load"),
    N_("incident.mobile_data"),
    N_("incident.hotspot"),
    N_("incident.media_path_failed"),
    N_("incident.media_path_degraded"),
    N_("incident.no_face"),
    N_("incident.camera_black"),
    N_("incident.camera_frozen"),
    N_("incident.camera_absent"),
    N_("incident.camera_no_frames"),
    N_("incident.mic_silent"),
    N_("incident.mic_absent"),
    N_("incident.mic_clipping"),
)
#: incident severities (collector.engine.incidents.severity_name)
SEVERITIES = (N_("severity.warning"), N_("severity.failure"))
#: the engine's refusals of an action, by code (collector.web.refusals)
REFUSALS = (
    N_("refusal.unknown_meeting"),
    N_("refusal.not_taking_part"),
    N_("refusal.already_adjourned"),
    N_("refusal.not_adjourned"),
    N_("refusal.vote_running"),
    N_("refusal.no_vote"),
    N_("refusal.item_needed"),
    N_("refusal.member_needed"),
    N_("refusal.not_remote"),
    N_("refusal.cannot_excuse"),
    N_("refusal.not_excused"),
    N_("refusal.already_left"),
    N_("refusal.substitute_recorded"),
    N_("refusal.not_replaced"),
    N_("refusal.substitute_needed"),
    N_("refusal.substitute_not_on_roster"),
    N_("refusal.substitute_not_ersattare"),
    N_("refusal.substitute_serving"),
    N_("refusal.substitute_unavailable"),
    N_("refusal.substitute_no_contact"),
    N_("refusal.present_unavailable"),
    N_("refusal.present_has_contact"),
    N_("refusal.present_reason_needed"),
    N_("refusal.present_reason_too_long"),
    N_("refusal.roll_call_mark"),
    N_("refusal.other"),
)
#: self-test check ids, by id and by group (agent checks, selftest.js)
CHECKS = (
    N_("check.network"),
    N_("check.path"),
    N_("check.bandwidth"),
    N_("check.network.link"),
    N_("check.network.path"),
    N_("check.network.bandwidth"),
    N_("check.network.rtt"),
    N_("check.network.download"),
    N_("check.network.upload"),
    N_("check.battery"),
    N_("check.battery.level"),
    N_("check.host"),
    N_("check.host.cpu"),
    N_("check.host.memory"),
    N_("check.camera"),
    N_("check.camera.capture"),
    N_("check.microphone"),
    N_("check.microphone.level"),
    N_("check.media"),
    N_("check.media.path"),
    N_("check.mediapath"),
    N_("check.audio"),
    N_("check.audio.headphones"),
    N_("check.checklist"),
    N_("check.checklist.wifi"),
    N_("check.checklist.battery"),
    N_("check.checklist.place"),
    N_("check.checklist.device"),
    N_("check.checklist.silent"),
)
#: reasons the web layer words itself (chair.js)
REASONS = (N_("reason.selftest_failed"),)
#: a media path check that never connected (collector.peers.media: ``connected`` false), chair.js
MEDIAPATH = (N_("mediapath.not_connected"),)
#: who ran a self-test (wire.SelftestResult.source), in the chair's self-test column
SOURCES = (N_("source.agent"), N_("source.browser"))
