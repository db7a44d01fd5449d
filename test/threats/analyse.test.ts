import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { defaultPolicy, parsePolicy } from "../../src/policy/load.js";
import { analyse, parseEvidence, parseThreatModel, ThreatModelError, type ReportedThreat } from "../../src/threats/index.js";
import { packagePath } from "../../src/util/paths.js";

const MODEL_PATH = "docs/examples/support-bot.model.yaml";
const modelText = readFileSync(packagePath(MODEL_PATH), "utf8");
const model = parseThreatModel(modelText, MODEL_PATH);
const byId = (threats: readonly ReportedThreat[], id: string) => {
  const threat = threats.find((t) => t.id === id);
  if (!threat) throw new Error(`no threat ${id}`);
  return threat;
};

type Outcome = "held" | "failed" | "error";
/** A results.json in the scanner's contract (src/redteam/results.ts). */
function results(cases: Array<{ id: string; category: string; outcome: Outcome; atlas?: string[]; owasp?: string[] }>): string {
  return JSON.stringify({
    schemaVersion: 1,
    manifest: { bulwarkVersion: "0.1.0", catalogueVersion: "test", target: "test", seed: 7, startedAt: "2025-06-01T00:00:00Z", finishedAt: "2025-06-01T00:00:01Z" },
    summary: { total: cases.length, failed: cases.filter((c) => c.outcome === "failed").length, held: cases.filter((c) => c.outcome === "held").length, errors: cases.filter((c) => c.outcome === "error").length },
    categories: [],
    cases: cases.map((c) => ({ caseId: c.id.split("#")[0], agentic: [], mutators: [], severity: "high", evidence: "...", owasp: [], atlas: [], ...c })),
  });
}

describe("coverage against a guard policy", () => {
  it("without a policy, guard controls are unassessed and earn no credit", () => {
    const report = analyse({ model });
    const threat = byId(report.threats, "exfiltration.rendered-output@support-llm");
    expect(threat.mitigations.find((m) => m.id === "guard.exfiltration")).toMatchObject({ status: "unassessed" });
    expect(report.policy).toBeNull();
  });

  it("changes when the policy changes: switching a layer off makes its control missing and raises residual risk", () => {
    const on = analyse({ model, policy: defaultPolicy() });
    const off = analyse({ model, policy: parsePolicy("version: 1\nlayers:\n  exfiltration: { enabled: false }\n  heuristics: { enabled: false }\n", "off.yaml") });
    const before = byId(on.threats, "exfiltration.rendered-output@support-llm");
    const after = byId(off.threats, "exfiltration.rendered-output@support-llm");
    expect(before.mitigations.find((m) => m.id === "guard.exfiltration")!.status).toBe("enforced");
    expect(after.mitigations.find((m) => m.id === "guard.exfiltration")).toMatchObject({ status: "missing", reason: "layers.exfiltration.enabled is false, needs true" });
    expect(after.coverage.inPlace).toBe(before.coverage.inPlace - 1);
    expect(after.residual.score).toBeGreaterThan(before.residual.score);
    expect(on.policy!.hash).not.toBe(off.policy!.hash);
  });

  it("reports controls whose policy paths do not exist as missing, naming the path", () => {
    const report = analyse({ model, policy: defaultPolicy() });
    expect(report.controls.find((c) => c.id === "guard.structured-output")).toMatchObject({ status: "missing", reason: expect.stringContaining("the policy has no layers.structuredOutput.schema") });
  });

  it("reports rate limits as missing while they are off (the default) and enforced once enabled with rules", () => {
    expect(analyse({ model, policy: defaultPolicy() }).controls.find((c) => c.id === "limits.rate")).toMatchObject({ status: "missing", reason: expect.stringContaining("limits.rate.enabled is false") });
    const limited = parsePolicy("version: 1\nlimits:\n  rate: { enabled: true, rules: [{ scope: principal, requests: 60 }] }\n");
    expect(analyse({ model, policy: limited }).controls.find((c) => c.id === "limits.rate")!.status).toBe("enforced");
  });

  it("an output sink in the policy turns on the matching output control", () => {
    const html = analyse({ model, policy: parsePolicy("version: 1\nlayers:\n  outputSafety: { sinks: [html] }\n") });
    expect(byId(html.threats, "output-handling.html@support-llm").mitigations.find((m) => m.id === "guard.output-html")!.status).toBe("enforced");
    expect(byId(analyse({ model, policy: defaultPolicy() }).threats, "output-handling.html@support-llm").mitigations.find((m) => m.id === "guard.output-html")!.status).toBe("missing");
  });

  it("counts organisational controls the model declares", () => {
    const threat = byId(analyse({ model }).threats, "poisoning.retrieval-corpus@help-centre-index");
    expect(threat.mitigations.find((m) => m.id === "org.grounding")!.status).toBe("declared");
    expect(threat.mitigations.find((m) => m.id === "org.corpus-review")!.status).toBe("not_declared");
  });
});

describe("evidence from scan results", () => {
  const policy = defaultPolicy();

  it("changes when scan results change: untested, then held, then failed", () => {
    const id = "prompt-injection.indirect@support-llm";
    const none = byId(analyse({ model, policy }).threats, id);
    const held = byId(analyse({ model, policy, evidence: parseEvidence(results([{ id: "ind-001#b64", category: "indirect_injection", outcome: "held" }])) }).threats, id);
    const failed = byId(
      analyse({ model, policy, evidence: parseEvidence(results([{ id: "ind-001#b64", category: "indirect_injection", outcome: "held" }, { id: "ind-002", category: "indirect_injection", outcome: "failed" }])) }).threats,
      id,
    );
    expect([none.evidence.status, held.evidence.status, failed.evidence.status]).toEqual(["untested", "tested_held", "tested_failed"]);
    expect(held.residual.likelihood).toBe(none.residual.likelihood - 1);
    expect(failed.residual.likelihood).toBe(failed.inherent.likelihood);
    expect(failed.residual.basis).toContain("controls did not hold");
    expect(failed.evidence.cases).toEqual(["ind-002", "ind-001#b64"]);
  });

  it("matches by category, or by a shared ATLAS technique plus a shared OWASP id; errors test nothing", () => {
    const evidence = parseEvidence(
      results([
        { id: "a", category: "malformed_input", outcome: "held", atlas: ["AML.T0056"], owasp: ["LLM07"] },
        { id: "b", category: "malformed_input", outcome: "failed", atlas: ["AML.T0056"], owasp: ["LLM10"] },
        { id: "c", category: "system_prompt_extraction", outcome: "error" },
      ]),
    );
    const threat = byId(analyse({ model, policy, evidence }).threats, "system-prompt.leakage@support-llm");
    expect(threat.evidence).toMatchObject({ status: "tested_held", held: 1, failed: 0, errors: 1, cases: ["a"] });
  });

  it("reads results.json with the scanner's own schema and rejects what does not fit, with the path", () => {
    const withTranscript = JSON.parse(results([{ id: "x", category: "jailbreak", outcome: "held" }])) as { cases: Array<Record<string, unknown>> };
    withTranscript.cases[0]!.transcript = [{ role: "user", content: "hi" }];
    expect(parseEvidence(JSON.stringify(withTranscript)).cases).toHaveLength(1);
    expect(() => parseEvidence(results([{ id: "x", category: "jailbreak", outcome: "passed" as "held" }]))).toThrow(/cases\.0\.outcome/);
    expect(() => parseEvidence("{")).toThrow(ThreatModelError);
  });
});

describe("risk tracking", () => {
  it("carries risk decisions into the report and orders decided threats after open ones", () => {
    const report = analyse({ model });
    expect(byId(report.threats, "misinformation.over-reliance@support-llm").risk).toMatchObject({ status: "accepted", date: "2025-05-12", owner: "Head of Customer Support" });
    const statuses = report.threats.map((t) => t.risk.status);
    expect(statuses.lastIndexOf("open")).toBeLessThan(statuses.indexOf("accepted"));
    expect(statuses.at(-1)).toBe("false_positive");
    expect(report.summary.risk).toMatchObject({ accepted: 1, false_positive: 1 });
    expect(report.summary.residual.critical + report.summary.residual.high + report.summary.residual.medium + report.summary.residual.low).toBe(report.threats.length - 1);
  });

  it("names a decision about a threat the model does not produce, and an unknown organisational control", () => {
    const stale = parseThreatModel(
      modelText.replace("threat: misinformation.over-reliance@support-llm", "threat: misinformation.over-reliance@help-centre-index").replace("org.grounding,", "org.grounding, org.prayer,"),
      MODEL_PATH,
    );
    try {
      analyse({ model: stale });
      throw new Error("expected rejection");
    } catch (error) {
      expect(error).toBeInstanceOf(ThreatModelError);
      const problems = (error as ThreatModelError).problems;
      expect(problems.map((p) => p.path)).toEqual(["controls.organisational.1", "risks.0.threat"]);
      expect(problems[1]!.found).toBe('unknown threat "misinformation.over-reliance@help-centre-index"');
      expect(problems[1]!.line).toBeGreaterThan(100);
    }
  });
});

describe("reproducibility", () => {
  it("gives the same report for the same inputs, with no timestamp unless one is passed in", () => {
    const a = JSON.stringify(analyse({ model, policy: defaultPolicy() }));
    const b = JSON.stringify(analyse({ model: parseThreatModel(modelText, MODEL_PATH), policy: defaultPolicy() }));
    expect(a).toBe(b);
    expect(a).not.toContain("generatedAt");
    expect(analyse({ model, timestamp: "2025-06-01T00:00:00Z" }).generatedAt).toBe("2025-06-01T00:00:00Z");
  });
});
