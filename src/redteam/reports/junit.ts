/** JUnit XML for CI test views: each attempt is a test; a successful attack is a failure, an error is an error. */
import type { ScanCaseResult } from "../results.js";
import type { ScanRun } from "../runner.js";

export function xmlEscape(text: string): string {
  // Characters XML 1.0 cannot carry at all are dropped; markup characters are escaped.
  return text
    .replace(/[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/gu, "")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

export function junitHeader(run: ScanRun): string {
  const { total, failed, errors } = run.summary;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="bulwark scan" tests="${total}" failures="${failed}" errors="${errors}">\n<testsuite name="${xmlEscape(`bulwark scan: ${run.manifest.target}`)}" tests="${total}" failures="${failed}" errors="${errors}" timestamp="${run.manifest.startedAt}">\n`;
}

export function junitCase(record: ScanCaseResult): string {
  const name = `${xmlEscape(record.id)}`;
  const time = ((record.latencyMs ?? 0) / 1000).toFixed(3);
  const open = `<testcase classname="bulwark.${record.category}" name="${name}" time="${time}"`;
  if (record.outcome === "held") return `${open}/>\n`;
  const tag = record.outcome === "failed" ? "failure" : "error";
  const message = xmlEscape(record.evidence.slice(0, 500));
  const detail = xmlEscape(
    [`${record.title ?? record.caseId} [${record.severity}] OWASP ${record.owasp.join(",")} ATLAS ${record.atlas.join(",")}`, ...(record.transcript ?? []).map((m) => `${m.role}: ${m.content.slice(0, 500)}`)].join("\n"),
  );
  return `${open}><${tag} message="${message}" type="${record.category}">${detail}</${tag}></testcase>\n`;
}

export function junitFooter(): string {
  return "</testsuite>\n</testsuites>\n";
}
