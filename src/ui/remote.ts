/**
 * The other admin APIs the page calls (quarantine from limits/, incidents from
 * the monitor), read defensively: their answers are checked field by field,
 * and an entry that does not have the fields the page needs is skipped.
 */
export interface QuarantineEntry {
  readonly principal: string;
  readonly reason: string;
  readonly by: string;
  /** ISO times. */
  readonly since: string | null;
  readonly until: string | null;
}

export interface Incident {
  readonly id: string;
  readonly rule: string;
  readonly status: "open" | "acknowledged" | "resolved";
  readonly severity: string;
  readonly title: string;
  readonly openedAt: string | null;
  readonly updatedAt: string | null;
  readonly runbook: string | null;
  readonly principal: string | null;
}

type Json = Record<string, unknown>;

function list(value: unknown): Json[] {
  const items = Array.isArray(value) ? value : value && typeof value === "object" ? ((value as Json).data ?? (value as Json).entries ?? (value as Json).incidents) : null;
  return Array.isArray(items) ? items.filter((item): item is Json => item !== null && typeof item === "object") : [];
}

const text = (value: unknown): string | null => (typeof value === "string" && value !== "" ? value : null);

function time(value: unknown): string | null {
  if (typeof value === "number" && Number.isFinite(value)) return new Date(value).toISOString();
  if (typeof value === "string" && !Number.isNaN(Date.parse(value))) return new Date(value).toISOString();
  return null;
}

export function parseQuarantine(value: unknown): QuarantineEntry[] {
  return list(value).flatMap((entry) => {
    const principal = text(entry.principal);
    if (!principal) return [];
    return [{ principal, reason: text(entry.reason) ?? "", by: text(entry.by) ?? "", since: time(entry.since ?? entry.at ?? entry.createdAt), until: time(entry.until ?? entry.expiresAt) }];
  });
}

const STATUSES = new Set(["open", "acknowledged", "resolved"]);

export function parseIncidents(value: unknown): Incident[] {
  return list(value).flatMap((entry) => {
    const id = text(entry.id);
    const status = text(entry.status);
    if (!id || !status || !STATUSES.has(status)) return [];
    const runbook = text(entry.runbook) ?? text(entry.runbookUrl);
    return [
      {
        id,
        rule: text(entry.rule) ?? "",
        status: status as Incident["status"],
        severity: text(entry.severity) ?? "",
        title: text(entry.title) ?? text(entry.summary) ?? text(entry.rule) ?? id,
        openedAt: time(entry.openedAt ?? entry.opened_at),
        updatedAt: time(entry.updatedAt ?? entry.updated_at),
        runbook: runbook && /^https?:\/\//.test(runbook) ? runbook : null,
        principal: text(entry.principal),
      },
    ];
  });
}

export interface Approval {
  readonly id: string;
  readonly status: string;
  readonly principal: string;
  readonly tool: string;
  readonly arguments: string;
  readonly reason: string;
  readonly createdAt: string | null;
  readonly expiresAt: string | null;
}

/** Tool calls held for a person's approval (access/: GET /admin/approvals). */
export function parseApprovals(value: unknown): Approval[] {
  return list(value).flatMap((entry) => {
    const id = text(entry.id);
    const principal = text(entry.principal);
    const tool = text(entry.tool);
    if (!id || !principal || !tool) return [];
    const call = entry.tool_call as { function?: { arguments?: unknown } } | undefined;
    const args = call?.function?.arguments;
    return [
      {
        id,
        status: text(entry.status) ?? "",
        principal,
        tool,
        arguments: typeof args === "string" ? args : args === undefined ? "" : JSON.stringify(args),
        reason: text(entry.reason) ?? "",
        createdAt: time(entry.created_at ?? entry.createdAt),
        expiresAt: time(entry.expires_at ?? entry.expiresAt),
      },
    ];
  });
}

export interface Objective {
  readonly name: string;
  readonly metric: string;
  readonly max: number;
  readonly windowHours: number;
  readonly observed: number | null;
  readonly spent: number | null;
  readonly budget: number | null;
  readonly budgetLeft: number | null;
  readonly status: string;
  readonly decisions: number;
}

export interface DriftFinding {
  readonly type: string;
  readonly severity: string;
  readonly key: string;
  readonly summary: string;
}

export interface MonitorSnapshot {
  /** When the monitor last ran; null before its first run. */
  readonly at: string | null;
  readonly note: string | null;
  readonly objectives: readonly Objective[];
  readonly drift: readonly DriftFinding[];
}

const num = (value: unknown): number | null => (typeof value === "number" && Number.isFinite(value) ? value : null);

/** The monitor's last snapshot (monitor/: GET /admin/monitor): objectives with their error budgets, drift findings. */
export function parseMonitor(value: unknown): MonitorSnapshot {
  const root = value && typeof value === "object" ? (value as Json) : {};
  const objectivesRoot = root.objectives && typeof root.objectives === "object" ? (root.objectives as Json).objectives : undefined;
  const objectives = list(objectivesRoot).flatMap((entry) => {
    const name = text(entry.name);
    const max = num(entry.max);
    if (!name || max === null) return [];
    return [
      {
        name,
        metric: text(entry.metric) ?? "",
        max,
        windowHours: num(entry.windowHours) ?? 0,
        observed: num(entry.observed),
        spent: num(entry.spent),
        budget: num(entry.budget),
        budgetLeft: num(entry.budgetLeft),
        status: text(entry.status) ?? "",
        decisions: num(entry.decisions) ?? 0,
      },
    ];
  });
  const drift = list(root.drift).flatMap((entry) => {
    const type = text(entry.type);
    const summary = text(entry.summary);
    return type && summary ? [{ type, severity: text(entry.severity) ?? "", key: text(entry.key) ?? "", summary }] : [];
  });
  return { at: time(root.at), note: text(root.note), objectives, drift };
}

export interface Schedule {
  readonly name: string;
  readonly cron: string;
  readonly principal: string;
  readonly nextRun: string | null;
}

/** Scheduled scans (monitor/: GET /admin/schedules). */
export function parseSchedules(value: unknown): Schedule[] {
  return list(value).flatMap((entry) => {
    const name = text(entry.name);
    return name ? [{ name, cron: text(entry.cron) ?? "", principal: text(entry.principal) ?? "", nextRun: time(entry.nextRun) }] : [];
  });
}
