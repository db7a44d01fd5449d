/**
 * monitor/: continuous monitoring. Drift against a baseline (drift.ts), failure
 * boundaries with error budgets and containment (objectives.ts), the loop that
 * runs both inside the gateway and records drift.* / slo.* signals (monitor.ts),
 * a cheap script guess for inputs (script.ts); alerts to webhooks (alerts.ts),
 * incidents (incidents.ts) and scheduled re-scans (schedules.ts).
 * May import store, policy, redteam and util; nothing imports monitor except
 * the gateway, cli and the library entry.
 */
export { BaselineCache, cusum, detectDrift, driftWindows, ksBinned, ksPValue, ksSamples, psi, type ChangePoint, type DriftFinding, type KsResult } from "./drift.js";
export { FALSE_POSITIVE_SIGNAL, evaluateObjectives, type ObjectiveStatus, type ObjectivesReport } from "./objectives.js";
export { Monitor, systemClock, type MonitorClock, type MonitorDeps, type MonitorSnapshot } from "./monitor.js";
export { guessScript, type ScriptName } from "./script.js";
export { AlertDispatcher, AlertsConfig, WebhookConfig, alertFromSignal, jsonBody, slackBody, type Alert, type AlertDelivery, type AlertHooks, type AlertOutcome, type AlertsSpec } from "./alerts.js";
export { BUILTIN_RULES, IncidentEngine, IncidentError, IncidentRuleConfig, IncidentsConfig, incidentJson, incidentMarkdown, type Incident, type IncidentStatus, type IncidentsSpec, type TimelineEntry } from "./incidents.js";
export { CronExpression, ScanScheduler, ScheduleConfig, type ScheduledRunResult, type ScheduleSpec, type SchedulerOptions } from "./schedules.js";
