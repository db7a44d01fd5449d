/** The posture report: built from a store, a scan and a threat model; rendered; and the CLI around it. */
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { defaultPolicy } from "../../src/policy/load.js";
import { parseScanResults } from "../../src/redteam/results.js";
import { alignPeriod, buildPostureReport } from "../../src/report/posture.js";
import { renderPostureHtml, renderPostureMarkdown } from "../../src/report/render.js";
import { MemoryEventStore } from "../../src/store/memory.js";
import { pgliteDriver } from "../../src/store/pglite.js";
import { SqlEventStore } from "../../src/store/sql.js";
import type { AuditEvent } from "../../src/store/types.js";
import { analyse } from "../../src/threats/analyse.js";
import { loadEvidenceFile } from "../../src/threats/evidence.js";
import { loadThreatModelFile } from "../../src/threats/load-model.js";
import { sortableId } from "../../src/util/sortable-id.js";
import { decision, pgliteDataDir } from "../store/fixtures.js";

const DAY = 86_400_000;
const UNTIL = new Date(Date.UTC(2026, 0, 31, 15, 30));
const SINCE = new Date(UNTIL.getTime() - 7 * DAY);
const MODEL = "docs/examples/support-bot.model.yaml";
const RESULTS = "docs/examples/support-bot.results.json";

/** 300 decisions over the week before UNTIL: every 10th a prompt-injection block, every 50th degraded (timeout, failed closed); two incidents. */
function events(): AuditEvent[] {
  const out: AuditEvent[] = [];
  for (let i = 0; i < 300; i++) {
    const block = i % 10 === 0;
    const degraded = i % 50 === 1;
    out.push(
      decision({
        time: new Date(UNTIL.getTime() - (300 - i) * 30 * 60_000).toISOString(),
        principal: i % 3 === 0 ? "app" : "intern",
        action: block || degraded ? "block" : "allow",
        categories: block ? ["prompt_injection"] : degraded ? ["guard_failure"] : [],
        degraded,
        layers: [{ name: "classifier", status: degraded ? "timeout" : "ok", durationUs: 50 }],
        latencyUs: 3_000,
      }),
    );
  }
  for (const type of ["incident.opened", "incident.resolved", "drift.score"]) {
    out.push({ kind: "signal", id: sortableId(), time: new Date(UNTIL.getTime() - DAY).toISOString(), type, severity: "high", summary: type, detail: {} });
  }
  return out.sort((a, b) => (a.time < b.time ? -1 : 1));
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe("the posture report", () => {
  it("maps decisions, scan cases and threats onto OWASP LLM, Agentic and ATLAS, with NIST and EU AI Act sections", async () => {
    const store = new MemoryEventStore();
    await store.append(events());
    const policy = defaultPolicy();
    const scan = { source: RESULTS, results: parseScanResults(readFileSync(RESULTS, "utf8"), RESULTS) };
    const threats = analyse({ model: await loadThreatModelFile(MODEL), policy, evidence: await loadEvidenceFile(RESULTS) });
    const report = await buildPostureReport({ since: SINCE, until: UNTIL, store: { aggregates: store, description: "memory" }, policy, threats, scan, generatedAt: "2026-01-31T16:00:00.000Z" });

    // Whole days: the series adds up to the totals, and covers every decision.
    expect(report.period).toEqual({ since: "2026-01-24T00:00:00.000Z", until: "2026-02-01T00:00:00.000Z" });
    expect(report.monitoring!.totals).toMatchObject({ decisions: 300, blocks: 36, degraded: 6 });
    expect(report.monitoring!.series).toHaveLength(8);
    expect(report.monitoring!.containment.byLayer).toEqual([{ layer: "classifier", status: "timeout", decisions: 6, blocked: 6, allowed: 0, other: 0 }]);

    const llm01 = report.owaspLlm.find((r) => r.id === "LLM01")!;
    expect(llm01.categories).toContain("prompt_injection");
    expect(llm01).toMatchObject({ decisions: 30, blocked: 30 });
    const llm01Cases = scan.results.cases.filter((c) => c.outcome !== "error" && c.owasp.includes("LLM01"));
    expect(llm01).toMatchObject({ scanned: llm01Cases.length, scanFailed: llm01Cases.filter((c) => c.outcome === "failed").length });
    const llm01Threats = threats.threats.filter((t) => t.owasp.includes("LLM01"));
    expect(llm01).toMatchObject({ threats: llm01Threats.length, openThreats: llm01Threats.filter((t) => t.risk.status === "open").length });
    expect(report.owaspAgentic.map((r) => r.id)).toEqual(["ASI01", "ASI02", "ASI03", "ASI04", "ASI05", "ASI06", "ASI07", "ASI08", "ASI09", "ASI10"]);
    expect(report.atlas.find((r) => r.id === "AML.T0051.000")?.decisions).toBe(30);
    expect(report.controls.find((c) => c.id === "monitor.drift")?.status).toBe("enforced");

    const md = renderPostureMarkdown(report);
    expect(md).toContain("| LLM01 | Prompt Injection |");
    expect(md).toMatch(/## NIST AI RMF[\s\S]*Govern[\s\S]*Map[\s\S]*Measure[\s\S]*Manage/);
    expect(md).toMatch(/## EU AI Act, article 15[\s\S]*accuracy[\s\S]*robustness[\s\S]*cybersecurity/i);
    expect(md).toContain("6 degraded decisions of 300: 6 failed closed (blocked), 0 failed open (allowed)");
    expect(md).toContain("Incidents: 1 opened, 1 resolved");
    const html = renderPostureHtml(report);
    expect(html).toContain("<td>LLM01</td><td>Prompt Injection</td>");
    expect(html).not.toMatch(/<script|https?:\/\//);
  });

  it("says which sources are missing rather than filling them in", async () => {
    const report = await buildPostureReport({ since: SINCE, until: UNTIL, store: null, policy: defaultPolicy(), threats: null, scan: null });
    expect(report.monitoring).toBeNull();
    expect(report.owaspLlm[0]).toMatchObject({ decisions: null, scanned: null, threats: null });
    const md = renderPostureMarkdown(report);
    expect(md).toContain("Scan results: none given (--results)");
    expect(md).toContain("Threat model: none given (--model)");
    expect(md).toContain("| LLM01 | Prompt Injection | prompt_injection");
    expect(md).toContain("| – | – | – | – |");
  });

  it("escapes what it quotes in HTML", async () => {
    const store = new MemoryEventStore();
    await store.append([decision({ time: new Date(UNTIL.getTime() - 60_000).toISOString(), principal: "<img src=x onerror=alert(1)>" })]);
    const html = renderPostureHtml(await buildPostureReport({ since: SINCE, until: UNTIL, store: { aggregates: store, description: "memory" }, policy: defaultPolicy(), threats: null, scan: null }));
    expect(html).toContain("&#60;img src=x onerror=alert(1)&#62;");
    expect(html).not.toContain("<img");
  });

  it("aligns short periods to hours and long ones to days", () => {
    expect(alignPeriod(new Date("2026-01-01T10:20:00Z"), new Date("2026-01-01T12:05:00Z"))).toEqual({ since: new Date("2026-01-01T10:00:00Z"), until: new Date("2026-01-01T13:00:00Z"), bucketSeconds: 3600 });
    expect(alignPeriod(new Date("2026-01-01T10:20:00Z"), new Date("2026-01-05T12:05:00Z")).bucketSeconds).toBe(86_400);
  });
});

describe("bulwark report", () => {
  it("writes Markdown, HTML and JSON from the embedded store offline, and refuses bad input with a clear message", async () => {
    // A copy of the template cluster (creating one takes seconds), as the gateway would have left it.
    const template = await pgliteDataDir();
    dirs.push(dirname(template));
    const dir = mkdtempSync(join(tmpdir(), "bulwark-report-"));
    dirs.push(dir);
    cpSync(template, join(dir, "events"), { recursive: true });
    const store = new SqlEventStore(await pgliteDriver(join(dir, "events")), "bulwark", "setup");
    await store.init();
    await store.append(events());
    await store.close();
    const errors: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => (errors.push(String(chunk)), true)) as typeof process.stderr.write;
    try {
      const out = join(dir, "out");
      const args = ["report", "--store", `pglite:${join(dir, "events")}`, "--since", SINCE.toISOString(), "--until", UNTIL.toISOString(), "--model", MODEL, "--results", RESULTS, "--out", out];
      expect(await main(["node", "bulwark", ...args])).toBe(0);
      expect(readFileSync(join(out, "report.md"), "utf8")).toContain("300 guard decisions; 36 blocked");
      expect(readFileSync(join(out, "report.html"), "utf8")).toMatch(/^<!doctype html>/);
      expect(JSON.parse(readFileSync(join(out, "posture.json"), "utf8")).monitoring.totals.decisions).toBe(300);
      expect(await main(["node", "bulwark", "report", "--since", "last tuesday", "--no-events"])).toBe(2);
      expect(errors.join("")).toMatch(/--since must be an ISO 8601 date or time .* got "last tuesday"/);
      expect(await main(["node", "bulwark", "report", "--store", `pglite:${join(dir, "nothing-here")}`])).toBe(2);
      expect(errors.join("")).toMatch(/no event store at .*nothing-here/);
    } finally {
      process.stderr.write = write;
      process.exitCode = 0;
    }
  }, 120_000);
});
