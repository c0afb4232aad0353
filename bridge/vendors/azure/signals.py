"""What each kind of Azure Monitor alert puts in ``alertContext``, and the alarms it becomes.

Metric alerts and log search alerts from API 2021-08-01 and later ("V2") list their criteria in
``condition.allOf``; each criterion becomes its own alert (named by its metric; a log search criterion has
none, so by the rule). The rest are one alert each: log search alerts from API 2018-04-16 ("V1",
``SearchQuery`` at the top of the context), activity-log events, service health, resource health,
Prometheus rules, smart detection and budget alerts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridge.model import Alarm, AlarmState
from bridge.vendors._fields import text
from bridge.vendors.azure.common import (
    EVENT_TTL,
    HEALTH_TTL,
    MAX_DETAIL_LENGTH,
    Notice,
    json_text,
    merge_dimensions,
    name_values,
    plain,
    prefixed,
)

SERVICE_HEALTH_ENDED = frozenset({"resolved", "complete", "completed", "canceled", "cancelled", "rca"})
"""Service-health ``stage`` (or ``status``) values after which the event is over: an incident or advisory
Resolved, its post-incident review (RCA, sent after the resolution), maintenance Complete or Canceled."""


def _criteria(notice: Notice) -> list[dict[str, Any]]:
    condition = notice.context.get("condition")
    criteria = condition.get("allOf") if isinstance(condition, dict) else None
    return [c for c in criteria if isinstance(c, dict)] if isinstance(criteria, list) else []


def _window(notice: Notice) -> dict[str, str]:
    condition = notice.context.get("condition")
    condition = condition if isinstance(condition, dict) else {}
    return {
        "condition_type": text(notice.context.get("conditionType")),
        "window_size": text(condition.get("windowSize")),
        "window_start_time": text(condition.get("windowStartTime")),
        "window_end_time": text(condition.get("windowEndTime")),
        **({} if notice.custom else prefixed("custom", notice.context.get("properties"))),
    }


def _threshold(criterion: dict[str, Any], operator: str = "operator", threshold: str = "threshold") -> str:
    return " ".join(filter(None, (text(criterion.get(operator)), text(criterion.get(threshold)))))


def metric(notice: Notice, state: AlarmState) -> list[Alarm]:
    """Metric alerts (static and dynamic thresholds, availability tests): one alert per criterion."""
    targets = notice.targets()
    criteria = _criteria(notice) or [{}]
    alarms = []
    for criterion in criteria:
        name = text(criterion.get("metricName")) or notice.rule
        current, threshold = text(criterion.get("metricValue")), _threshold(criterion)
        details = {
            **_window(notice),
            "current_value": current,
            "threshold": threshold,
            "time_aggregation": text(criterion.get("timeAggregation")),
            "alert_sensitivity": text(criterion.get("alertSensitivity")),
            "failing_periods": json_text(criterion.get("failingPeriods")),
            "web_test_name": text(criterion.get("webTestName")),
        }
        alarms.append(notice.alarm(
            name=name, state=state, labels=merge_dimensions(targets, name_values(criterion.get("dimensions"))),
            details=details, summary=f"{current} ({threshold})" if current and threshold else current,
            namespace=text(criterion.get("metricNamespace"))))
    return alarms


def log_query(notice: Notice, state: AlarmState) -> list[Alarm]:
    """Log search alerts from API 2021-08-01 ("V2", ``LogQueryCriteria``): one alert per criterion and
    dimension set, named by the rule (a query has no metric name)."""
    targets = notice.targets()
    alarms = []
    for criterion in _criteria(notice) or [{}]:
        current, threshold = text(criterion.get("metricValue")), _threshold(criterion)
        details = {
            **_window(notice),
            "search_query": text(criterion.get("searchQuery"))[:MAX_DETAIL_LENGTH],
            "metric_measure_column": text(criterion.get("metricMeasureColumn")),
            "target_resource_types": text(criterion.get("targetResourceTypes")),
            "current_value": current,
            "threshold": threshold,
            "time_aggregation": text(criterion.get("timeAggregation")),
            "failing_periods": json_text(criterion.get("failingPeriods")),
            "link_to_search_results": text(criterion.get("linkToFilteredSearchResultsUI"))
            or text(criterion.get("linkToSearchResultsUI")),
            "link_to_search_results_api": text(criterion.get("linkToFilteredSearchResultsAPI"))
            or text(criterion.get("linkToSearchResultsAPI")),
        }
        alarms.append(notice.alarm(
            name=notice.rule, state=state,
            labels=merge_dimensions(targets, name_values(criterion.get("dimensions"))),
            details=details, summary=f"{current} ({threshold})" if current and threshold else current,
            link=details["link_to_search_results"]))
    return alarms


def log_search_v1(notice: Notice, state: AlarmState) -> list[Alarm]:
    """Log search alerts from API 2018-04-16 ("V1"): stateless, so each fires for :data:`EVENT_TTL`."""
    c = notice.context
    sources = (c.get("SearchResults") or {}).get("dataSources") if isinstance(c.get("SearchResults"), dict) else None
    source = sources[0] if isinstance(sources, list) and sources and isinstance(sources[0], dict) else {}
    count, threshold = text(c.get("ResultCount")), _threshold(c, "Operator", "Threshold")
    items = c.get("AffectedConfigurationItems")
    details = {
        "search_query": text(c.get("SearchQuery"))[:MAX_DETAIL_LENGTH],
        "alert_type": text(c.get("AlertType")),
        "current_value": count,
        "threshold": threshold,
        "search_interval_start_time": text(c.get("SearchIntervalStartTimeUtc")),
        "search_interval_end_time": text(c.get("SearchIntervalEndtimeUtc")),
        "search_interval_minutes": text(c.get("SearchIntervalInMinutes")),
        "severity_description": text(c.get("SeverityDescription")),
        "workspace_id": text(c.get("WorkspaceId")),
        "application_id": text(c.get("ApplicationId")),
        "affected_configuration_items": json_text(items),
        "included_search_results": text(c.get("IncludedSearchResults")),
        "link_to_search_results": text(c.get("LinkToFilteredSearchResultsUI")) or text(c.get("LinkToSearchResults")),
        "link_to_search_results_api": text(c.get("LinkToFilteredSearchResultsAPI"))
        or text(c.get("LinkToSearchResultsAPI")),
    }
    return [notice.alarm(
        name=notice.rule, state=state, labels=merge_dimensions(notice.targets(), name_values(c.get("Dimensions"))),
        details=details, summary=f"{count} results ({threshold})" if count and threshold else count,
        region=text(source.get("region")), ttl=EVENT_TTL, link=details["link_to_search_results"])]


def _activity_details(c: dict[str, Any]) -> dict[str, str]:
    authorization = c.get("authorization") if isinstance(c.get("authorization"), dict) else {}
    return {
        "operation_name": text(c.get("operationName")),
        "event_source": text(c.get("eventSource")),
        "event_level": text(c.get("level")),
        "event_status": text(c.get("status")),
        "event_sub_status": text(c.get("subStatus")),
        "event_timestamp": text(c.get("eventTimestamp")),
        "caller": text(c.get("caller")),
        "correlation_id": text(c.get("correlationId")),
        "authorization_action": text(authorization.get("action")),
        "authorization_scope": text(authorization.get("scope")),
        "event_description": text(c.get("Activity Log Event Description"))[:MAX_DETAIL_LENGTH],
    }


def _properties(c: dict[str, Any]) -> dict[str, Any]:
    return c["properties"] if isinstance(c.get("properties"), dict) else {}


def activity_log(notice: Notice, state: AlarmState) -> list[Alarm]:
    """Activity-log events (administrative, policy, autoscale, security, recommendation): named by their
    operation, each fires for :data:`EVENT_TTL` (Azure never sends their end). ``claims`` and
    ``httpRequest`` are left out: they describe the caller's token and client."""
    c = notice.context
    props = _properties(c)
    authorization = c.get("authorization") if isinstance(c.get("authorization"), dict) else {}
    name = text(c.get("operationName")) or notice.rule
    targets = notice.targets(text(props.get("entity")), text(authorization.get("scope")),
                             text(props.get("resourceName")))
    status = text(c.get("status"))
    return [notice.alarm(
        name=name, state=state, labels=targets, details={**_activity_details(c), **prefixed("property", props)},
        summary=status, region=text(props.get("resourceLocation")), ttl=EVENT_TTL)]


def service_health(notice: Notice, state: AlarmState) -> list[Alarm]:
    """Service-health events: one alert per event (``trackingId``) and subscription, named
    ``ServiceHealth:<incidentType>``. ``monitorCondition`` stays Fired for every communication; the one
    whose ``stage`` (or ``status``) is in :data:`SERVICE_HEALTH_ENDED` resolves it."""
    c = notice.context
    props = _properties(c)
    stage = text(props.get("stage")) or text(c.get("status"))
    if stage.lower() in SERVICE_HEALTH_ENDED or text(c.get("status")).lower() == "resolved":
        state = AlarmState.RESOLVED
    labels = {**notice.targets(), "tracking_id": text(props.get("trackingId"))}
    kind = text(props.get("incidentType"))
    details = {
        **_activity_details(c),
        "title": text(props.get("title")) or text(props.get("defaultLanguageTitle")),
        "service": text(props.get("service")),
        "impacted_region": text(props.get("region")),
        "impacted_services": json_text(props.get("impactedServices")),
        "stage": text(props.get("stage")),
        "incident_type": kind,
        "impact_start_time": text(props.get("impactStartTime")),
        "impact_mitigation_time": text(props.get("impactMitigationTime")),
        "communication": plain(props.get("communication")) or plain(props.get("defaultLanguageContent")),
        "communication_id": text(props.get("communicationId")),
        "maintenance_id": text(props.get("maintenanceId")),
        "is_hir": text(props.get("isHIR")),
    }
    return [_ended_by_notice(notice, state, name=f"ServiceHealth:{kind}" if kind else "ServiceHealth",
                             labels={k: v for k, v in labels.items() if v}, details=details,
                             summary=" ".join(filter(None, (details["title"], f"({stage})" if stage else ""))),
                             namespace="microsoft.resourcehealth/events")]


def resource_health(notice: Notice, state: AlarmState) -> list[Alarm]:
    """Resource-health events: one alert per resource, named ``ResourceHealth``. The event that says the
    resource is ``Available`` again (or the ``…/Resolved/action`` one) resolves it."""
    c = notice.context
    props = _properties(c)
    current = text(props.get("currentHealthStatus"))
    if current.lower() == "available" or text(c.get("operationName")).lower().endswith("/resolved/action"):
        state = AlarmState.RESOLVED
    details = {
        **_activity_details(c),
        "title": text(props.get("title")),
        "current_health_status": current,
        "previous_health_status": text(props.get("previousHealthStatus")),
        "health_event_type": text(props.get("type")),
        "health_event_cause": text(props.get("cause")),
        "health_event_details": text(props.get("details"))[:MAX_DETAIL_LENGTH],
    }
    return [_ended_by_notice(notice, state, name="ResourceHealth", labels=notice.targets(), details=details,
                             summary=": ".join(filter(None, (current, details["title"]))))]


def _ended_by_notice(notice: Notice, state: AlarmState, **fields: Any) -> Alarm:
    """An alarm that another Fired notification ends: that notification's ``firedDateTime`` dates the end."""
    return notice.alarm(state=state, ttl=HEALTH_TTL, ended_by_fired=True, **fields)


def prometheus(notice: Notice, state: AlarmState) -> list[Alarm]:
    """Azure Monitor managed Prometheus rules: named by the rule's ``alertname`` label (Azure's rule name is
    ``<rule group>/<alert>``), its other labels are labels, its annotations annotations."""
    c = notice.context
    annotations = c.get("annotations") if isinstance(c.get("annotations"), dict) else {}
    value = text(c.get("expressionValue"))
    details = {
        **{str(k): text(v)[:MAX_DETAIL_LENGTH] for k, v in list(annotations.items())[:32]},
        "expression": text(c.get("expression"))[:MAX_DETAIL_LENGTH],
        "current_value": value,
        "for": text(c.get("for")),
        "interval": text(c.get("interval")),
        "rule_group": text(c.get("ruleGroup")),
    }
    labels = name_values(c.get("labels"))
    name = labels.pop("alertname", "") or notice.rule
    summary = text(annotations.get("summary")) or value
    return [notice.alarm(name=name, state=state, labels=merge_dimensions(notice.targets(), labels),
                         details=details, summary=summary)]


def smart_detection(notice: Notice, state: AlarmState) -> list[Alarm]:
    """Application Insights smart detection: named by the rule; failure anomalies send Resolved, the
    other detectors never do, so a firing one lasts at most :data:`HEALTH_TTL`."""
    c = notice.context
    details = {
        "detection_summary": text(c.get("DetectionSummary"))[:MAX_DETAIL_LENGTH],
        "current_value": text(c.get("DetectedValue")),
        "normal_value": text(c.get("NormalValue")),
        "smart_detector_id": text(c.get("SmartDetectorId")),
        "smart_detector_name": text(c.get("SmartDetectorName")),
        "occurrence_time": text(c.get("FormattedOccurrenceTime")),
        "analysis_timestamp": text(c.get("AnalysisTimestamp")),
    }
    return [notice.alarm(name=notice.rule, state=state, labels=notice.targets(), details=details,
                         summary=details["detection_summary"], ttl=HEALTH_TTL)]


def budget(notice: Notice, state: AlarmState) -> list[Alarm]:
    """Cost Management budget alerts (``CostAlerts``: no rule, severity or ``monitorCondition``): named
    ``Budget``, one per budget and threshold type, firing for :data:`EVENT_TTL`."""
    data = notice.context.get("AlertData") if isinstance(notice.context.get("AlertData"), dict) else {}
    budget_id = text(data.get("BudgetId"))
    labels = {**notice.targets(budget_id or text(data.get("Scope"))),
              "threshold_type": text(data.get("ThresholdType"))}
    spent, limit = text(data.get("SpentAmount")), text(data.get("NotificationThresholdAmount"))
    details = {**prefixed("budget", data), "alert_category": text(notice.context.get("AlertCategory"))}
    return [notice.alarm(name="Budget", state=state, labels={k: v for k, v in labels.items() if v}, details=details,
                         summary=" ".join(filter(None, (spent, f"(threshold {limit})" if limit else ""))),
                         policy_id=text(data.get("BudgetName")), namespace="microsoft.consumption/budgets",
                         ttl=EVENT_TTL)]


def generic(notice: Notice, state: AlarmState) -> list[Alarm]:
    """A signal this module does not know: named by the rule (else the monitoring service), its
    context's top-level fields as annotations."""
    return [notice.alarm(name=notice.rule or notice.service or "AzureMonitorAlert", state=state,
                         labels=notice.targets(), details=prefixed("context", notice.context), summary="",
                         ttl=EVENT_TTL if not text(notice.essentials.get("monitorCondition")) else None)]


Reader = Callable[[Notice, AlarmState], list[Alarm]]


def reader_for(notice: Notice) -> Reader:
    """The reader of this notification's signal, chosen by the fields that tell them apart."""
    c, service = notice.context, notice.service.lower().replace(" ", "")
    source = text(c.get("eventSource")).lower()
    operation = text(c.get("operationName")).lower()
    signal = text(notice.essentials.get("signalType")).lower().replace(" ", "")
    if text(c.get("conditionType")) == "LogQueryCriteria":
        return log_query
    if _criteria(notice) or text(c.get("conditionType")):
        return metric
    if "SearchQuery" in c:
        return log_search_v1
    if service == "servicehealth" or operation.startswith("microsoft.servicehealth/") or source == "servicehealth":
        return service_health
    if service == "resourcehealth" or operation.startswith("microsoft.resourcehealth/") or source == "resourcehealth":
        return resource_health
    if "expression" in c and ("prometheus" in service or "ruleGroup" in c):
        return prometheus
    if service == "smartdetector" or "SmartDetectorId" in c:
        return smart_detection
    if service == "costalerts" or "AlertData" in c:
        return budget
    if signal == "activitylog" or operation:
        return activity_log
    return generic
