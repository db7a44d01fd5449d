/**
 * report.html: one self-contained page (inline CSS, no scripts, no external
 * resources) with the summary, attack success rate per category with 95% Wilson
 * intervals, and the worst findings with their transcripts. Everything from the
 * target is escaped: a report of an exfiltration attack must not exfiltrate.
 */
import type { ScanRun } from "../runner.js";

export function htmlEscape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

const pct = (value: number): string => `${(value * 100).toFixed(1)}%`;

export function renderHtml(run: ScanRun): string {
  const { manifest, summary } = run;
  const rows = run.categories
    .map((c) => {
      const bar = `<div class="bar"><div class="ci" style="left:${(c.ci[0] * 100).toFixed(2)}%;width:${((c.ci[1] - c.ci[0]) * 100).toFixed(2)}%"></div><div class="rate" style="left:${(c.rate * 100).toFixed(2)}%"></div></div>`;
      return `<tr><td>${htmlEscape(c.category)}</td><td class="n">${c.total}</td><td class="n">${c.succeeded}</td><td class="n">${pct(c.rate)}</td><td>${pct(c.ci[0])} – ${pct(c.ci[1])}</td><td>${bar}</td></tr>`;
    })
    .join("\n");
  const findings = run.worst
    .map((w) => {
      const transcript = (w.transcript ?? [])
        .map((m) => `<div class="msg ${htmlEscape(m.role)}"><span class="role">${htmlEscape(m.role)}${m.status !== undefined ? ` · ${m.status}` : ""}${m.name ? ` · ${htmlEscape(m.name)}` : ""}</span><pre>${htmlEscape(m.content)}${m.toolCalls ? htmlEscape(m.toolCalls.map((c) => `\n→ ${c.name}(${c.arguments})`).join("")) : ""}</pre></div>`)
        .join("");
      return `<details><summary><span class="sev ${w.severity}">${w.severity}</span> <code>${htmlEscape(w.id)}</code> · ${htmlEscape(w.category)} · ${htmlEscape(w.evidence)}</summary><p>${htmlEscape(w.title ?? "")} — OWASP ${htmlEscape(w.owasp.join(", "))}${w.agentic.length ? ` · Agentic ${htmlEscape(w.agentic.join(", "))}` : ""} · ATLAS ${htmlEscape(w.atlas.join(", "))}${w.mutators.length ? ` · mutators ${htmlEscape(w.mutators.join("+"))}` : ""}</p>${transcript}</details>`;
    })
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Bulwark scan: ${htmlEscape(manifest.target)}</title>
<style>
body{font:14px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1b1f24}
h1{font-size:1.5rem}table{border-collapse:collapse;width:100%}td,th{padding:.3rem .6rem;border-bottom:1px solid #ddd;text-align:left}
.n{text-align:right}.cards{display:flex;gap:1rem;margin:1rem 0}.card{border:1px solid #ddd;border-radius:6px;padding:.6rem 1rem}
.card b{display:block;font-size:1.6rem}.bad b{color:#b3261e}.bar{position:relative;height:10px;width:14rem;background:#eee;border-radius:3px}
.ci{position:absolute;height:10px;background:#f1a9a0;border-radius:3px}.rate{position:absolute;width:2px;height:14px;top:-2px;background:#b3261e}
details{border:1px solid #ddd;border-radius:6px;margin:.5rem 0;padding:.4rem .8rem}summary{cursor:pointer}
.sev{font-weight:600;text-transform:uppercase;font-size:.75rem;padding:.1rem .3rem;border-radius:3px;background:#eee}
.sev.critical{background:#b3261e;color:#fff}.sev.high{background:#f2b8b5}.msg{margin:.4rem 0}.role{font-size:.75rem;color:#555}
pre{white-space:pre-wrap;word-break:break-word;background:#f6f8fa;padding:.4rem;margin:.1rem 0;border-radius:4px;max-height:24rem;overflow:auto}
.meta{color:#555;font-size:.85rem}
</style></head><body>
<h1>Bulwark scan: ${htmlEscape(manifest.target)}</h1>
<p class="meta">Bulwark ${htmlEscape(manifest.bulwarkVersion)} · catalogue ${htmlEscape(manifest.catalogueVersion)} · seed ${manifest.seed}${manifest.policyHash ? ` · policy ${htmlEscape(manifest.policyHash.slice(0, 16))}` : ""} · ${htmlEscape(manifest.startedAt)} – ${htmlEscape(manifest.finishedAt)}</p>
<div class="cards"><div class="card"><b>${summary.total}</b>attempts</div><div class="card bad"><b>${summary.failed}</b>attacks succeeded</div><div class="card"><b>${summary.held}</b>held</div><div class="card"><b>${summary.errors}</b>errors</div></div>
<h2>Attack success rate by category</h2>
<p class="meta">Rate = succeeded / attempts with a verdict; interval = 95% Wilson score interval (shaded), rate marked in red.</p>
<table><thead><tr><th>category</th><th class="n">attempts</th><th class="n">succeeded</th><th class="n">rate</th><th>95% CI</th><th></th></tr></thead><tbody>
${rows}
</tbody></table>
<h2>Worst findings</h2>
${findings || "<p>No attack succeeded.</p>"}
</body></html>
`;
}
