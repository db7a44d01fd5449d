/** How the page reads the other parts' admin APIs: every field checked, entries without what the page needs skipped. */
import { describe, expect, it } from "vitest";
import { parseApprovals, parseIncidents, parseMonitor, parseQuarantine, parseSchedules } from "../../src/ui/remote.js";
import { readViewState, viewSearch } from "../../src/ui/state.js";

describe("reading other parts' answers", () => {
  it("quarantine entries, with times as ISO or milliseconds", () => {
    expect(
      parseQuarantine({
        data: [
          { principal: "batch-job", reason: "rate anomaly", by: "automatic", since: "2026-01-01T11:40:00.000Z", until: null },
          { principal: "intern", reason: "", by: "admin:root", since: 1_767_267_600_000, until: 1_767_271_200_000 },
          { reason: "no principal" },
          "garbage",
          null,
        ],
      }),
    ).toEqual([
      { principal: "batch-job", reason: "rate anomaly", by: "automatic", since: "2026-01-01T11:40:00.000Z", until: null },
      { principal: "intern", reason: "", by: "admin:root", since: "2026-01-01T11:40:00.000Z", until: "2026-01-01T12:40:00.000Z" },
    ]);
    expect(parseQuarantine({ error: { message: "nope" } })).toEqual([]);
    expect(parseQuarantine(null)).toEqual([]);
  });

  it("incidents: known statuses only, runbook links only over http(s)", () => {
    const incidents = parseIncidents({
      data: [
        { id: "01A", rule: "quarantine", title: "Principal quarantined", severity: "high", status: "open", principal: "intern", openedAt: "2026-01-01T11:40:00Z", updatedAt: "2026-01-01T11:41:00Z", runbook: "https://runbooks.example/quarantine" },
        { id: "01B", rule: "drift", title: "Drift", severity: "medium", status: "acknowledged", runbook: "javascript:alert(1)" },
        { id: "01C", status: "exploded" },
        { status: "open" },
      ],
    });
    expect(incidents.map((incident) => [incident.id, incident.status, incident.runbook])).toEqual([
      ["01A", "open", "https://runbooks.example/quarantine"],
      ["01B", "acknowledged", null],
    ]);
    expect(incidents[0]).toMatchObject({ title: "Principal quarantined", principal: "intern", openedAt: "2026-01-01T11:40:00.000Z" });
  });

  it("approvals, with the held call's arguments", () => {
    expect(
      parseApprovals({
        data: [
          { id: "apr_1", object: "bulwark.approval", status: "pending", principal: "agent", tool: "send_email", reason: "needs approval", created_at: "2026-01-01T11:00:00Z", expires_at: "2026-01-01T11:15:00Z", tool_call: { id: "call_1", type: "function", function: { name: "send_email", arguments: '{"to":"ops@acme-travel.com"}' } } },
          { id: "apr_2", status: "pending", principal: "agent" },
        ],
      }),
    ).toEqual([{ id: "apr_1", status: "pending", principal: "agent", tool: "send_email", arguments: '{"to":"ops@acme-travel.com"}', reason: "needs approval", createdAt: "2026-01-01T11:00:00.000Z", expiresAt: "2026-01-01T11:15:00.000Z" }]);
  });

  it("the monitor's snapshot, before its first run and after", () => {
    expect(parseMonitor({ at: null, note: "not computed yet" })).toEqual({ at: null, note: "not computed yet", objectives: [], drift: [] });
    const snapshot = parseMonitor({
      at: "2026-01-01T12:00:00Z",
      objectives: { objectives: [{ name: "blocked-benign", metric: "blockedBenignRate", max: 0.005, windowHours: 168, observed: 0.01, spent: 2, budget: 1, budgetLeft: -1, status: "breached", decisions: 200 }, { name: "broken" }] },
      drift: [{ type: "drift.score", severity: "high", key: "batch-job", summary: "scores moved" }, { type: "drift.length" }],
    });
    expect(snapshot.objectives).toHaveLength(1);
    expect(snapshot.objectives[0]).toMatchObject({ name: "blocked-benign", budgetLeft: -1, status: "breached" });
    expect(snapshot.drift).toEqual([{ type: "drift.score", severity: "high", key: "batch-job", summary: "scores moved" }]);
  });

  it("schedules", () => {
    expect(parseSchedules({ data: [{ name: "nightly", cron: "0 3 * * *", principal: "scanner", nextRun: "2026-01-02T03:00:00Z" }, { cron: "x" }] })).toEqual([
      { name: "nightly", cron: "0 3 * * *", principal: "scanner", nextRun: "2026-01-02T03:00:00.000Z" },
    ]);
  });
});

describe("the view in the address bar", () => {
  it("reads window, filters and live, and ignores what is not valid", () => {
    expect(readViewState("?range=24h&principal=batch-job&action=block&category=jailbreak&live=0")).toEqual({
      range: "24h",
      until: null,
      zoom: null,
      filters: { principal: "batch-job", category: "jailbreak", action: "block" },
      live: false,
    });
    expect(readViewState("?range=1y&action=explode&until=not-a-time")).toEqual({ range: "1h", until: null, zoom: null, filters: {}, live: true });
    expect(readViewState("?since=2026-01-01T11:00:00Z&until=2026-01-01T12:00:00Z").zoom).toEqual({ since: "2026-01-01T11:00:00.000Z", until: "2026-01-01T12:00:00.000Z" });
    expect(readViewState("?since=2026-01-01T12:00:00Z&until=2026-01-01T11:00:00Z").zoom).toBeNull();
  });

  it("writes what it reads back", () => {
    for (const search of ["", "?range=24h&principal=batch-job&action=block&live=0", "?since=2026-01-01T11%3A00%3A00.000Z&until=2026-01-01T12%3A00%3A00.000Z", "?until=2026-01-01T12%3A00%3A00.000Z&category=pii"]) {
      expect(viewSearch(readViewState(search))).toBe(search);
    }
  });
});
