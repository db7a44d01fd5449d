import { readFileSync } from "node:fs";
import { Ajv2020 } from "ajv/dist/2020.js";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { defaultPolicy, parsePolicy } from "../../src/policy/load.js";
import { analyse, parseEvidence, parseThreatModel, renderReport, SarifLogSchema, threatModelJsonSchema, threatReportJsonSchema, type ThreatReport } from "../../src/threats/index.js";
import { packagePath } from "../../src/util/paths.js";
import { EXAMPLES, renderExamples } from "../../scripts/threats-examples.js";

const read = (...path: string[]) => readFileSync(packagePath(...path), "utf8");
const ajv = new Ajv2020({ allErrors: true, strict: false });

function exampleReport(name: string): ThreatReport {
  const model = parseThreatModel(read("docs", "examples", `${name}.model.yaml`), `docs/examples/${name}.model.yaml`);
  return analyse({ model, policy: parsePolicy(read("docs", "examples", `${name}.policy.yaml`), `${name}.policy.yaml`) });
}

describe("published schemas", () => {
  it("schema/ holds exactly what the zod schemas generate (run npm run threats:schema)", () => {
    expect(JSON.parse(read("schema", "threat-model.schema.json"))).toEqual(threatModelJsonSchema());
    expect(JSON.parse(read("schema", "threats-output.schema.json"))).toEqual(threatReportJsonSchema());
  });

  it("every example model validates against the published model schema", () => {
    const validate = ajv.compile(JSON.parse(read("schema", "threat-model.schema.json")) as object);
    for (const name of EXAMPLES) {
      expect(validate(parse(read("docs", "examples", `${name}.model.yaml`))), `${name}: ${ajv.errorsText(validate.errors)}`).toBe(true);
    }
    expect(validate({ version: 1, name: "x", boundaries: [], components: [{ id: "a", type: "robot", boundary: "b" }] })).toBe(false);
  });
});

describe("renderers", () => {
  const policy = defaultPolicy();

  it("JSON output validates against schema/threats-output.schema.json, with and without evidence and a baseline", () => {
    const validate = ajv.compile(JSON.parse(read("schema", "threats-output.schema.json")) as object);
    const baseline = exampleReport("support-bot");
    const model = parseThreatModel(read("docs", "examples", "support-bot.model.yaml"), "docs/examples/support-bot.model.yaml");
    const evidence = parseEvidence(read("docs", "examples", "support-bot.results.json"), "results.json");
    const reports = [...EXAMPLES.map(exampleReport), analyse({ model, policy, evidence, baseline: { report: baseline, source: "baseline.json" } })];
    for (const report of reports) {
      const json = JSON.parse(renderReport(report, "json")) as unknown;
      expect(validate(json), ajv.errorsText(validate.errors)).toBe(true);
    }
    expect(validate({ ...(JSON.parse(renderReport(reports[0]!, "json")) as object), schemaVersion: 2 })).toBe(false);
  });

  it("SARIF is 2.1.0-shaped: required fields, valid enums, rule indexes, locations at the element's line, decisions as suppressions", () => {
    for (const name of EXAMPLES) {
      const report = exampleReport(name);
      const sarif = JSON.parse(renderReport(report, "sarif")) as { runs: Array<{ results: Array<{ ruleId: string; locations: Array<{ physicalLocation: { region: { startLine: number } } }>; suppressions?: unknown[]; partialFingerprints: Record<string, string> }> }> };
      const parsed = SarifLogSchema.safeParse(sarif);
      expect(parsed.success, JSON.stringify(parsed.error?.issues.slice(0, 3))).toBe(true);
      const results = sarif.runs[0]!.results;
      expect(results).toHaveLength(report.threats.length);
      for (const [i, threat] of report.threats.entries()) {
        expect(results[i]!.partialFingerprints["bulwarkThreatId/v1"]).toBe(threat.id);
        expect(results[i]!.locations[0]!.physicalLocation.region.startLine).toBe(threat.element.line);
        expect(results[i]!.suppressions !== undefined).toBe(threat.risk.status !== "open");
      }
    }
    expect(SarifLogSchema.safeParse({ version: "2.1.0", runs: [{ tool: { driver: { name: "x" } }, results: [{ level: "fatal", message: {} }] }] }).success).toBe(false);
    expect(SarifLogSchema.safeParse({ version: "2.1.0", runs: [{ tool: { driver: { name: "x", rules: [] } }, results: [{ ruleId: "a", ruleIndex: 0, message: { text: "m" } }] }] }).success).toBe(false);
  });

  it("HTML is self-contained and escapes everything taken from the model", () => {
    const hostile = read("docs", "examples", "support-bot.model.yaml")
      .replace("name: Acme customer-support bot", 'name: "<script>alert(1)</script> bot"')
      .replace("name: Support model", 'name: "<img src=x onerror=alert(1)>"');
    const html = renderReport(analyse({ model: parseThreatModel(hostile, "m.yaml"), policy }), "html");
    expect(html).not.toMatch(/<(script|img|link|iframe|object|embed)\b/i);
    expect(html).not.toMatch(/(href|src)="(https?:)?\/\//i);
    expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt; bot");
    expect(html.startsWith("<!doctype html>")).toBe(true);
  });

  it("Mermaid nests boundaries, dashes boundary-crossing flows, and cannot be broken by labels", () => {
    const mermaid = renderReport(exampleReport("support-bot"), "mermaid");
    expect(mermaid).toMatch(/subgraph b_acme_cloud[\s\S]*subgraph b_support_backend[\s\S]*end[\s\S]*end/);
    expect(mermaid).toContain('c_support_api -.->|"prompt + context"| c_support_llm');
    expect(mermaid).toContain('c_support_api -->|"escalated transcript"| c_staff_console');
    const hostile = read("docs", "examples", "support-bot.model.yaml").replace("label: question", 'label: "a\\" --> evil[\\"x"');
    const broken = renderReport(analyse({ model: parseThreatModel(hostile, "m.yaml") }), "mermaid");
    expect(broken).toContain('|"a#quot; --#gt; evil[#quot;x"|');
  });

  it("Markdown tables survive pipes in names", () => {
    const model = parseThreatModel(read("docs", "examples", "support-bot.model.yaml").replace("name: Support model", 'name: "Support | model"'), "m.yaml");
    const md = renderReport(analyse({ model }), "md");
    expect(md).toContain("Support \\| model (llm)");
  });

  it("marks new, updated and removed threats against a baseline", () => {
    const baseline = exampleReport("support-bot");
    const changed = read("docs", "examples", "support-bot.model.yaml").replace("    humanApproval: true\n", "    humanApproval: false\n").replace("    logging: true\n", "");
    const report = analyse({ model: parseThreatModel(changed, "docs/examples/support-bot.model.yaml"), policy: parsePolicy(read("docs", "examples", "support-bot.policy.yaml")), baseline: { report: baseline, source: "baseline.json" } });
    expect(report.diff!.added).toEqual(expect.arrayContaining(["excessive-agency.unapproved-actions@support-llm", "monitoring.missing@support-llm"]));
    expect(report.diff!.removed).toEqual([]);
    expect(report.threats.find((t) => t.id === "monitoring.missing@support-llm")!.baseline).toBe("new");
    expect(report.threats.find((t) => t.id === "jailbreak@support-llm")!.baseline).toBe("unchanged");
    const sarif = JSON.parse(renderReport(report, "sarif")) as { runs: Array<{ results: Array<{ baselineState: string }> }> };
    expect(sarif.runs[0]!.results.map((r) => r.baselineState)).toContain("new");
    const back = analyse({ model: parseThreatModel(read("docs", "examples", "support-bot.model.yaml"), "x"), baseline: { report, source: "b.json" } });
    expect(back.diff!.removed.map((r) => r.id)).toEqual(expect.arrayContaining(["monitoring.missing@support-llm"]));
  });
});

describe("examples", () => {
  it("the committed renderings in docs/examples are up to date (run npm run threats:examples)", () => {
    for (const [path, text] of renderExamples()) expect(read(...path.split("/")), path).toBe(text);
  });
});

describe("documentation", () => {
  it("docs/threat-modeling.md documents every fact a rule can use", async () => {
    const { COMPONENT_FACTS } = await import("../../src/threats/facts.js");
    const doc = read("docs", "threat-modeling.md");
    for (const fact of Object.keys(COMPONENT_FACTS)) expect(doc, fact).toContain("`" + fact + "`");
  });
});
