/**
 * The HTML report: one self-contained file (inline CSS, no scripts, no external
 * requests), so it can be attached to a ticket or opened offline. The diagram
 * is included as Mermaid source, which any Mermaid renderer draws.
 */
import type { ReportedThreat, ThreatReport } from "../report.js";
import { SEVERITIES } from "../scoring.js";
import { renderMermaid } from "./mermaid.js";
import { elementText, evidenceText, locationText, provenanceLines, RISK_NAMES, scoreText, STRIDE_NAMES } from "./text.js";

const escape = (text: string): string => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
const td = (text: string, cls = ""): string => `<td${cls ? ` class="${cls}"` : ""}>${escape(text)}</td>`;
const sev = (severity: string, text: string): string => `<td><span class="sev ${escape(severity)}">${escape(text)}</span></td>`;

const STYLE = `
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:78rem;padding:0 1rem;color:#1a1a1a}
h1{font-size:1.6rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd}h3{margin-bottom:.3rem}
table{border-collapse:collapse;width:100%;margin:.6rem 0;font-size:.9rem}th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}th{background:#f4f4f4}
code{font:.85em ui-monospace,Menlo,Consolas,monospace;background:#f4f4f4;padding:0 .2em}
pre{background:#f7f7f7;border:1px solid #ddd;padding:.8rem;overflow:auto;font-size:.8rem}
.sev{display:inline-block;padding:0 .4em;border-radius:3px;font-weight:600}.critical{background:#f8d0d0;color:#7a0000}.high{background:#fde2c4;color:#6b3500}.medium{background:#fff3bf;color:#5c4900}.low{background:#e3f1e3;color:#1f4d1f}
.muted{color:#666}.failed{color:#a40000;font-weight:600}.held{color:#2f6b2f}
details{margin:.3rem 0 1rem}summary{cursor:pointer}
`;

export function renderHtml(report: ThreatReport): string {
  const out: string[] = [];
  out.push("<!doctype html>", '<html lang="en">', "<head>", '<meta charset="utf-8">', '<meta name="viewport" content="width=device-width, initial-scale=1">');
  out.push(`<title>Threat model: ${escape(report.model.name)}</title>`, `<style>${STYLE}</style>`, "</head>", "<body>");
  out.push(`<h1>Threat model: ${escape(report.model.name)}</h1>`);
  if (report.model.description) out.push(`<p>${escape(report.model.description)}</p>`);
  out.push(`<ul class="muted">${provenanceLines(report).map((l) => `<li>${escape(l)}</li>`).join("")}</ul>`);

  out.push("<h2>Summary</h2>", "<table><tr><th></th>" + [...SEVERITIES].reverse().map((s) => `<th>${s}</th>`).join("") + "</tr>");
  for (const kind of ["inherent", "residual"] as const) out.push(`<tr><th>${kind}</th>${[...SEVERITIES].reverse().map((s) => `<td>${report.summary[kind][s]}</td>`).join("")}</tr>`);
  out.push("</table>");
  const r = report.summary.risk;
  const e = report.summary.evidence;
  out.push(`<p>${report.summary.threats} threats: ${r.open} open, ${r.accepted} accepted, ${r.mitigated} mitigated, ${r.false_positive} false positive. Evidence: ${e.tested_failed} failed, ${e.tested_held} held, ${e.untested} untested.</p>`);

  if (report.diff) {
    const d = report.diff;
    out.push(`<h2>Changes since ${escape(d.baseline)}</h2>`);
    if (d.libraryChanged) out.push("<p>The baseline was made with another library version: some changes may come from the rules, not the model.</p>");
    out.push(`<ul><li>New: ${escape(d.added.join(", ") || "none")}</li><li>Removed: ${escape(d.removed.map((x) => `${x.id} (${x.severity})`).join(", ") || "none")}</li><li>Severity changed: ${escape(d.changed.map((c) => `${c.id} ${c.from} → ${c.to}`).join(", ") || "none")}</li></ul>`);
  }

  out.push("<h2>Prioritised threats</h2>", "<table><tr><th>#</th><th>threat</th><th>element</th><th>STRIDE</th><th>OWASP</th><th>ATLAS</th><th>inherent</th><th>controls</th><th>evidence</th><th>residual</th><th>status</th></tr>");
  for (const t of report.threats) {
    out.push(
      `<tr>${td(String(t.rank))}<td><a href="#${escape(anchor(t))}">${escape(t.title)}</a><br><code>${escape(t.id)}</code></td>${td(elementText(t))}${td(STRIDE_NAMES[t.stride])}${td([...t.owasp, ...t.agentic].join(" ") || "-")}${td(t.atlas.map((a) => a.id).join(" ") || "-")}${sev(t.inherent.severity, scoreText(t.inherent))}${td(`${t.coverage.inPlace}/${t.coverage.total}`)}${td(evidenceText(t), t.evidence.status === "tested_failed" ? "failed" : t.evidence.status === "tested_held" ? "held" : "")}${sev(t.residual.severity, scoreText(t.residual))}${td(RISK_NAMES[t.risk.status] + (t.baseline && t.baseline !== "unchanged" ? ` (${t.baseline})` : ""))}</tr>`,
    );
  }
  out.push("</table>");

  out.push("<h2>Data-flow diagram</h2>", "<p>Mermaid source (paste into any Mermaid renderer; this file loads nothing from the network). Trust boundaries are subgraphs; dashed arrows cross a boundary.</p>");
  out.push(`<pre class="mermaid">${escape(renderMermaid(report))}</pre>`);

  out.push("<h2>Threats in detail</h2>");
  for (const t of report.threats) out.push(detail(report, t));

  out.push("<h2>Controls</h2>", "<table><tr><th>control</th><th>kind</th><th>status</th><th>why</th><th>mitigates</th></tr>");
  for (const c of report.controls) out.push(`<tr><td>${escape(c.name)}<br><code>${escape(c.id)}</code></td>${td(c.kind)}${td(c.status.replace("_", " "))}${td(c.reason)}${td(String(c.threats.length))}</tr>`);
  out.push("</table>", '<p class="muted">Scoring: likelihood = round((exposure + ease + attacker) / 3); impact = max(rule base, asset sensitivity) + blast radius; residual likelihood subtracts credit for controls in place and tests that held. See docs/threat-modeling.md.</p>');
  out.push("</body>", "</html>", "");
  return out.join("\n");
}

const anchor = (t: ReportedThreat): string => `t-${t.id.replace(/[^A-Za-z0-9_-]/g, "-")}`;

function detail(report: ThreatReport, t: ReportedThreat): string {
  const f = t.inherent.factors;
  const items = [
    `<li><b>Where</b>: ${escape(elementText(t))}, <code>${escape(locationText(report, t))}</code></li>`,
    `<li><b>MITRE ATLAS</b>: ${escape(t.atlas.map((a) => `${a.id} ${a.name}`).join("; ") || "none")}</li>`,
    `<li><b>Attacker needs</b>: ${escape(`${t.attack.access.join(" or ")} access, ${t.attack.knowledge.replace("_", "-")} knowledge; goals ${t.attack.goals.join(", ")}`)}</li>`,
    `<li><b>Inherent</b>: ${escape(`likelihood ${t.inherent.likelihood} = round((exposure ${f.exposure.value} [${f.exposure.basis}] + ease ${f.ease.value} [${f.ease.basis}] + attacker ${f.attacker.value} [${f.attacker.basis}]) / 3); impact ${t.inherent.impact} = sensitivity ${f.sensitivity.value} [${f.sensitivity.basis}] + blast radius ${f.blastRadius.value} [${f.blastRadius.basis}]`)}</li>`,
    `<li><b>Evidence</b>: ${escape(evidenceText(t) + (t.evidence.cases.length ? `: ${t.evidence.cases.join(", ")}` : ""))}</li>`,
    `<li><b>Residual</b>: ${escape(t.residual.basis)}</li>`,
  ];
  if (t.risk.status !== "open") items.push(`<li><b>Decision</b>: ${escape(`${RISK_NAMES[t.risk.status]} on ${t.risk.date ?? "?"}${t.risk.owner ? ` by ${t.risk.owner}` : ""}${t.risk.review ? `, review by ${t.risk.review}` : ""}: ${t.risk.justification ?? ""}`)}</li>`);
  const mitigations = t.mitigations.map((m) => `<tr><td>${escape(m.name)}<br><code>${escape(m.id)}</code></td>${td(m.status.replace("_", " "))}${td(m.reason)}</tr>`).join("");
  return [
    `<h3 id="${escape(anchor(t))}">${t.rank}. ${escape(t.title)}</h3>`,
    `<p class="muted"><code>${escape(t.id)}</code> · ${escape(STRIDE_NAMES[t.stride])} · ${escape([...t.owasp, ...t.agentic].join(", ") || "no OWASP id")} · residual <span class="sev ${t.residual.severity}">${escape(scoreText(t.residual))}</span> · ${escape(RISK_NAMES[t.risk.status])}</p>`,
    `<p>${escape(t.description)}</p>`,
    `<ul>${items.join("")}</ul>`,
    `<details><summary>Mitigations (${t.coverage.inPlace} of ${t.coverage.total} in place)</summary><table><tr><th>mitigation</th><th>status</th><th>why</th></tr>${mitigations}</table></details>`,
  ].join("\n");
}
