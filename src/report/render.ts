/** The posture report as Markdown and as one self-contained HTML page (no scripts, no external resources). */
import { EU_AI_ACT_15, NIST_FUNCTIONS } from "./frameworks.js";
import type { FrameworkRow, PostureReport } from "./posture.js";

type Block = { kind: "h"; level: number; text: string } | { kind: "p"; text: string } | { kind: "list"; items: string[] } | { kind: "table"; head: string[]; rows: string[][] };

const pct = (x: number | null | undefined, digits = 2): string => (x === null || x === undefined || !Number.isFinite(x) ? "n/a" : `${(100 * x).toFixed(digits)}%`);
const n = (x: number | null | undefined): string => (x === null || x === undefined ? "n/a" : x.toLocaleString("en"));
const ms = (us: number | null | undefined): string => (us === null || us === undefined ? "n/a" : `${(us / 1000).toFixed(us < 10_000 ? 2 : 1)} ms`);
const dash = (x: number | null): string => (x === null ? "–" : n(x));

function frameworkTable(rows: readonly FrameworkRow[]): Block {
  return {
    kind: "table",
    head: ["id", "name", "guard categories", "decisions (blocked)", "scan: attacks won / tried", "threats open / listed", "controls in place"],
    rows: rows.map((r) => [
      r.id,
      r.name,
      r.categories.join(", ") || "–",
      r.decisions === null ? "–" : `${n(r.decisions)} (${n(r.blocked)})`,
      r.scanned === null ? "–" : `${n(r.scanFailed)} / ${n(r.scanned)}`,
      r.threats === null ? "–" : `${dash(r.openThreats)} / ${dash(r.threats)}`,
      r.controlsListed === null ? "–" : `${dash(r.controlsInPlace)} / ${dash(r.controlsListed)}`,
    ]),
  };
}

function blocks(report: PostureReport): Block[] {
  const out: Block[] = [];
  const m = report.monitoring;
  const scan = report.scan;
  const threats = report.threats;
  const policyControls = report.controls.filter((c) => c.kind === "policy");
  const enforced = policyControls.filter((c) => c.status === "enforced");
  const objectives = m?.objectives.objectives ?? [];
  const signal = (prefix: string): number => m?.signals.filter((s) => s.type.startsWith(prefix)).reduce((sum, s) => sum + s.count, 0) ?? 0;
  const scanRate = scan && scan.summary.failed + scan.summary.held > 0 ? scan.summary.failed / (scan.summary.failed + scan.summary.held) : null;

  out.push({ kind: "h", level: 1, text: "Bulwark security posture report" });
  out.push({
    kind: "list",
    items: [
      `Period: ${report.period.since} to ${report.period.until} (whole ${m?.bucketSeconds === 3600 ? "hours" : "UTC days"})`,
      `Generated: ${report.generatedAt}`,
      `Guard policy: ${report.policy.name} from ${report.policy.source} (${report.policy.hash}), failure mode ${report.policy.failureMode}`,
      `Event store: ${m ? m.store : "none read (no monitoring statistics)"}`,
      `Scan results: ${scan ? `${scan.source}, target ${scan.target}, finished ${scan.finishedAt}` : "none given (--results)"}`,
      `Threat model: ${threats ? threats.model : "none given (--model)"}`,
    ],
  });

  out.push({ kind: "h", level: 2, text: "Summary" });
  out.push({
    kind: "list",
    items: [
      m
        ? `${n(m.totals.decisions)} guard decisions; ${n(m.totals.blocks)} blocked (${pct(m.totals.blockRate)}), ${n(m.totals.flags)} flagged, ${n(m.totals.redacts)} redacted; ${n(m.totals.degraded)} ran degraded; added latency p50 ${ms(m.latencyUs?.p50)}, p95 ${ms(m.latencyUs?.p95)}, p99 ${ms(m.latencyUs?.p99)}`
        : "No monitoring statistics: no event store was read.",
      scan ? `Latest scan: ${n(scan.summary.total)} attacks, ${n(scan.summary.failed)} succeeded (attack success rate ${pct(scanRate)}), ${n(scan.summary.errors)} without a verdict` : "No scan results.",
      threats ? `Threat model: ${threats.summary.threats} threats, ${threats.summary.open} open; residual ${["critical", "high", "medium", "low"].map((s) => `${threats.summary.residual[s as "low"]} ${s}`).join(", ")}` : "No threat model.",
      `Policy controls from the threat library enforced by this policy: ${enforced.length} of ${policyControls.length}`,
      m ? `Objectives: ${objectives.filter((o) => o.status === "breached").length} breached, ${objectives.filter((o) => o.status === "ok").length} within bounds, ${objectives.filter((o) => o.status === "no data").length} without data; signals in the period: ${signal("drift.")} drift, ${signal("slo.breach")} objective breaches, ${signal("anomaly.")} anomalies, ${signal("incident.opened")} incidents opened` : "Objectives not evaluated (no event store).",
    ],
  });

  out.push({ kind: "h", level: 2, text: "OWASP Top 10 for LLM Applications (2025)" });
  out.push({ kind: "p", text: "Per entry: the guard categories that map to it (src/policy/categories.ts), decisions in the period naming them (a decision naming two counts in each), scan attacks mapped to it and how many succeeded, the threat model's threats mapped to it, and the policy controls those threats list. – means the source was not given." });
  out.push(frameworkTable(report.owaspLlm));
  out.push({ kind: "h", level: 2, text: "OWASP Top 10 for Agentic Applications" });
  out.push(frameworkTable(report.owaspAgentic));
  out.push({ kind: "h", level: 2, text: "MITRE ATLAS" });
  out.push(frameworkTable(report.atlas));

  out.push({ kind: "h", level: 2, text: "NIST AI RMF" });
  out.push({ kind: "h", level: 3, text: NIST_FUNCTIONS.govern });
  out.push({
    kind: "list",
    items: [
      `Guard policy ${report.policy.name} (${report.policy.hash}) in force; default failure mode ${report.policy.failureMode}; layers on: ${report.policy.layers.filter((l) => l.enabled).map((l) => l.name).join(", ")}`,
      `Declared failure boundaries: ${report.policy.monitor.objectives.map((o) => `${o.name} (${o.metric} ≤ ${o.max} over ${o.windowHours} h)`).join("; ") || "none"}`,
      `Organisational controls declared in the threat model: ${threats ? report.controls.filter((c) => c.kind === "organisational" && c.status === "declared").length : "n/a (no model)"}`,
    ],
  });
  out.push({ kind: "h", level: 3, text: NIST_FUNCTIONS.map });
  out.push({
    kind: "list",
    items: threats
      ? [`${threats.summary.threats} threats identified across ${threats.summary.inherent.critical + threats.summary.inherent.high} critical or high inherent risks`, ...threats.top.map((t) => `open: ${t.title} (${t.residual}; ${t.owasp.join(" ") || "no OWASP id"})`)]
      : ["No threat model given: run with --model to include the system's threats (bulwark threats)."],
  });
  out.push({ kind: "h", level: 3, text: NIST_FUNCTIONS.measure });
  out.push({
    kind: "list",
    items: [
      scan ? `Adversarial testing: attack success rate ${pct(scanRate)} over ${n(scan.summary.failed + scan.summary.held)} attacks with a verdict` : "Adversarial testing: no scan results given.",
      m ? `Production monitoring: block rate ${pct(m.totals.blockRate)}, degraded ${pct(m.totals.decisions ? m.totals.degraded / m.totals.decisions : null, 3)}, p95 added latency ${ms(m.latencyUs?.p95)}` : "Production monitoring: no event store read.",
      m ? `Drift monitoring: ${report.policy.monitor.drift.enabled ? `on (window ${report.policy.monitor.drift.windowMinutes} min against ${report.policy.monitor.drift.baselineHours} h)` : "off"}; ${signal("drift.")} drift signals in the period` : "Drift: no event store read.",
    ],
  });
  out.push({ kind: "h", level: 3, text: NIST_FUNCTIONS.manage });
  out.push({
    kind: "list",
    items: [
      `Controls enforced: ${enforced.map((c) => c.id).join(", ") || "none"}`,
      `Controls missing: ${policyControls.filter((c) => c.status === "missing").map((c) => c.id).join(", ") || "none"}`,
      m ? `Incidents: ${signal("incident.opened")} opened, ${signal("incident.resolved")} resolved; quarantines: ${signal("quarantine.added")}; objective breaches: ${signal("slo.breach")}` : "Incidents: no event store read.",
    ],
  });

  out.push({ kind: "h", level: 2, text: "EU AI Act, article 15" });
  const benign = objectives.find((o) => o.metric === "blockedBenignRate");
  out.push({ kind: "h", level: 3, text: EU_AI_ACT_15.accuracy });
  out.push({
    kind: "list",
    items: [
      `Declared accuracy metrics (the policy's objectives): ${report.policy.monitor.objectives.filter((o) => o.metric === "blockedBenignRate").map((o) => `blocked-but-benign ≤ ${pct(o.max)} over ${o.windowHours} h`).join("; ") || "none declared"}`,
      benign ? `Measured blocked-but-benign rate: ${pct(benign.observed, 3)} (${n(benign.spent)} blocks marked benign of ${n(benign.decisions)} decisions; budget left ${pct(benign.budgetLeft, 0)})` : "Blocked-but-benign rate: not measured (no objective or no event store).",
      scan ? `Detection on the scan: ${scan.categories.map((c) => `${c.category} ${pct(1 - c.rate, 0)} held`).join(", ")}` : "Detection: no scan results.",
    ],
  });
  out.push({ kind: "h", level: 3, text: EU_AI_ACT_15.robustness });
  out.push({
    kind: "list",
    items: m
      ? [
          `Fail-safe: default failure mode ${report.policy.failureMode}; ${n(m.containment.degraded)} degraded decisions of ${n(m.containment.decisions)}: ${n(m.containment.degradedByAction.block)} failed closed (blocked), ${n(m.containment.degradedByAction.allow)} failed open (allowed)`,
          ...m.containment.byLayer.map((l) => `${l.layer} ${l.status}: ${n(l.decisions)} decisions (${n(l.blocked)} blocked, ${n(l.allowed)} allowed)`),
          ...objectives.filter((o) => o.metric !== "blockedBenignRate").map((o) => `${o.name}: ${o.status}, observed ${o.observed === null ? "n/a" : Number(o.observed.toPrecision(3))} against ≤ ${o.max}, budget left ${pct(o.budgetLeft, 0)}`),
        ]
      : [`Fail-safe: default failure mode ${report.policy.failureMode}; containment not measured (no event store).`],
  });
  out.push({ kind: "h", level: 3, text: EU_AI_ACT_15.cybersecurity });
  const row = (id: string): FrameworkRow | undefined => report.owaspLlm.find((r) => r.id === id);
  out.push({
    kind: "list",
    items: [
      `Model evasion and adversarial input (LLM01): ${n(row("LLM01")?.decisions)} decisions naming injection categories, ${n(row("LLM01")?.blocked)} blocked; scan: ${row("LLM01")?.scanned === null ? "n/a" : `${n(row("LLM01")?.scanFailed)} of ${n(row("LLM01")?.scanned)} attacks succeeded`}`,
      `Confidentiality attacks (LLM02, LLM07): ${n((row("LLM02")?.blocked ?? 0) + (row("LLM07")?.blocked ?? 0))} blocked decisions; open threats ${threats ? n((row("LLM02")?.openThreats ?? 0) + (row("LLM07")?.openThreats ?? 0)) : "n/a"}`,
      `Data and model poisoning (LLM04, LLM08): open threats ${threats ? n((row("LLM04")?.openThreats ?? 0) + (row("LLM08")?.openThreats ?? 0)) : "n/a (no model)"}; the guard sees poisoning only as injected instructions in retrieved content`,
      `Abuse and exhaustion (LLM10): ${signal("limit.")} limit signals, ${signal("anomaly.")} anomalies in the period`,
    ],
  });

  out.push({ kind: "h", level: 2, text: "Guard policy and controls" });
  out.push({ kind: "table", head: ["control", "status", "why"], rows: policyControls.map((c) => [`${c.id} (${c.name})`, c.status, c.reason]) });

  if (scan) {
    out.push({ kind: "h", level: 2, text: "Latest scan results" });
    out.push({ kind: "p", text: `${scan.source}: target ${scan.target}, finished ${scan.finishedAt}${scan.policyHash ? `, policy ${scan.policyHash}` : ""}${scan.policyHash && scan.policyHash !== report.policy.hash ? " (not the policy in this report)" : ""}.` });
    out.push({ kind: "table", head: ["category", "attacks", "succeeded", "rate", "95% interval"], rows: scan.categories.map((c) => [c.category, n(c.total), n(c.succeeded), pct(c.rate, 1), `${pct(c.ci[0], 1)} – ${pct(c.ci[1], 1)}`]) });
  }

  if (m) {
    out.push({ kind: "h", level: 2, text: "Monitoring" });
    out.push({
      kind: "table",
      head: [m.bucketSeconds === 3600 ? "hour" : "day", "decisions", "blocked", "block rate", "degraded", "p95 latency"],
      rows: m.series.map((b) => [b.start.slice(0, m.bucketSeconds === 3600 ? 13 : 10), n(b.total), n(b.block), pct(b.blockRate), n(b.degraded), ms(b.latencyUs?.p95)]),
    });
    out.push({ kind: "h", level: 3, text: "Top principals" });
    out.push({ kind: "table", head: ["principal", "decisions", "blocked", "block rate", "degraded"], rows: m.topPrincipals.map((p) => [p.principal, n(p.decisions), n(p.blocks), pct(p.blockRate), n(p.degraded)]) });
    out.push({ kind: "h", level: 3, text: "Categories" });
    out.push({ kind: "table", head: ["category", "decisions", "blocked"], rows: m.categories.map((c) => [c.category, n(c.decisions), n(c.blocks)]) });
    out.push({ kind: "h", level: 3, text: "Signals" });
    out.push({ kind: "table", head: ["type", "severity", "count"], rows: m.signals.map((s) => [s.type, s.severity, n(s.count)]) });
    out.push({ kind: "h", level: 3, text: "Failure boundaries" });
    out.push({
      kind: "table",
      head: ["objective", "metric", "boundary", "window", "observed", "budget left", "status"],
      rows: objectives.map((o) => [o.name, o.metric, String(o.max), `${o.windowHours} h`, o.observed === null ? "n/a" : String(Number(o.observed.toPrecision(3))), pct(o.budgetLeft, 0), o.status]),
    });
  }
  return out;
}

const mdCell = (text: string): string => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

export function renderPostureMarkdown(report: PostureReport): string {
  return (
    blocks(report)
      .map((block) => {
        switch (block.kind) {
          case "h":
            return `${"#".repeat(block.level)} ${block.text}`;
          case "p":
            return block.text;
          case "list":
            return block.items.map((item) => `- ${item}`).join("\n");
          case "table":
            if (block.rows.length === 0) return "(none)";
            return [`| ${block.head.map(mdCell).join(" | ")} |`, `| ${block.head.map(() => "---").join(" | ")} |`, ...block.rows.map((row) => `| ${row.map(mdCell).join(" | ")} |`)].join("\n");
        }
      })
      .join("\n\n") + "\n"
  );
}

const escape = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function renderPostureHtml(report: PostureReport): string {
  const body = blocks(report)
    .map((block) => {
      switch (block.kind) {
        case "h":
          return `<h${block.level}>${escape(block.text)}</h${block.level}>`;
        case "p":
          return `<p>${escape(block.text)}</p>`;
        case "list":
          return `<ul>${block.items.map((item) => `<li>${escape(item)}</li>`).join("")}</ul>`;
        case "table":
          if (block.rows.length === 0) return "<p>(none)</p>";
          return `<table><thead><tr>${block.head.map((h) => `<th>${escape(h)}</th>`).join("")}</tr></thead><tbody>${block.rows.map((row) => `<tr>${row.map((cell) => `<td>${escape(cell)}</td>`).join("")}</tr>`).join("")}</tbody></table>`;
      }
    })
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Bulwark security posture report</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1b1f24}
table{border-collapse:collapse;margin:.5rem 0 1rem;width:100%}th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}h1{font-size:1.6rem}h2{margin-top:2rem;border-bottom:1px solid #d0d7de}h3{font-size:1rem}
</style></head><body>
${body}
</body></html>
`;
}
