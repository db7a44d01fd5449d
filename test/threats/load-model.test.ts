import { describe, expect, it } from "vitest";
import { parseThreatModel, ThreatModelError, type Problem } from "../../src/threats/index.js";

const VALID = `version: 1
name: Support bot
boundaries:
  - { id: internet, trust: untrusted }
  - { id: app, trust: internal }
components:
  - { id: customer, type: human, boundary: internet }
  - { id: chat, type: web_app, boundary: app, interprets: [markdown] }
  - { id: model, type: llm, boundary: app, provenance: vendor }
assets:
  - { id: tickets, kind: personal_data, confidentiality: high, integrity: medium, availability: low }
flows:
  - { id: ask, from: customer, to: chat }
  - { id: prompt, from: chat, to: model, data: [tickets] }
entryPoints:
  - { id: web, component: chat, kind: direct, exposure: public }
`;

function problemsOf(text: string): readonly Problem[] {
  try {
    parseThreatModel(text, "model.yaml");
  } catch (error) {
    expect(error).toBeInstanceOf(ThreatModelError);
    return (error as ThreatModelError).problems;
  }
  throw new Error("expected the model to be rejected");
}

describe("threat model loading", () => {
  it("accepts a valid model and fills in defaults", () => {
    const { model } = parseThreatModel(VALID, "model.yaml");
    expect(model.components).toHaveLength(3);
    expect(model.components[0]!.provenance).toBe("internal");
    expect(model.flows[0]!.authenticated).toBe(false);
    expect(model.risks).toEqual([]);
  });

  it("reports every schema problem with its line and column, not just the first", () => {
    const broken = VALID.replace("type: llm", "type: llmm").replace("trust: internal }", "trust: internal, colour: red }").replace("confidentiality: high", "confidentiality: extreme");
    const problems = problemsOf(broken);
    expect(problems).toEqual([
      expect.objectContaining({ path: "boundaries.1.colour", line: 5, found: 'unknown key "colour"' }),
      expect.objectContaining({ path: "components.2.type", line: 9, found: 'string "llmm"' }),
      expect.objectContaining({ path: "assets.0.confidentiality", line: 11, expected: expect.stringContaining('"critical"') }),
    ]);
    for (const p of problems) expect(p.column).toBeGreaterThan(0);
  });

  it("names unknown references, with what would have been valid", () => {
    const problems = problemsOf(VALID.replace("to: model, data: [tickets]", "to: modle, data: [tickets, invoices]").replace("component: chat,", "component: front,"));
    expect(problems.map((p) => [p.path, p.found, p.line])).toEqual([
      ["flows.1.to", 'unknown component "modle"', 14],
      ["flows.1.data.1", 'unknown asset "invoices"', 14],
      ["entryPoints.0.component", 'unknown component "front"', 16],
    ]);
    expect(problems[0]!.expected).toContain("one of chat, customer, model");
  });

  it("reports duplicate ids (components and flows share one namespace), pointing at the second use", () => {
    const problems = problemsOf(VALID.replace("{ id: ask,", "{ id: chat,").replace("{ id: app, trust: internal }", "{ id: internet, trust: internal }").replace("{ id: web,", "{ id: customer,"));
    expect(problems.map((p) => [p.path, p.found])).toEqual([
      ["boundaries.1.id", 'duplicate id "internet"'],
      ["components.1.boundary", 'unknown trust boundary "app"'],
      ["components.2.boundary", 'unknown trust boundary "app"'],
      ["flows.0.id", 'duplicate id "chat"'],
    ]);
    expect(problems[3]!.expected).toContain("components.1.id");
  });

  it("reports a cycle of trust boundaries once, naming the cycle", () => {
    const problems = problemsOf(
      VALID.replace("{ id: internet, trust: untrusted }", "{ id: internet, trust: untrusted, parent: app }").replace("{ id: app, trust: internal }", "{ id: app, trust: internal, parent: internet }"),
    );
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ path: "boundaries.0.parent", line: 4, found: "the cycle internet → app → internet" });
  });

  it("rejects type-specific fields on the wrong component type, self-loops and duplicate risk decisions", () => {
    const text = VALID.replace("{ id: customer, type: human, boundary: internet }", "{ id: customer, type: human, boundary: internet, sideEffects: write }")
      .replace("{ id: ask, from: customer, to: chat }", "{ id: ask, from: chat, to: chat }")
      .concat(
        [
          "risks:",
          "  - { threat: prompt-injection.direct@model, status: accepted, justification: 'Low value bot, reviewed by the team', date: 2025-05-01 }",
          "  - { threat: prompt-injection.direct@model, status: mitigated, justification: 'Covered by the gateway policy in prod', date: 2025-05-02, review: 2025-04-01 }",
        ].join("\n"),
      );
    expect(problemsOf(text).map((p) => [p.path, p.line])).toEqual([
      ["components.0.sideEffects", 7],
      ["flows.0.to", 13],
      ["risks.1.threat", 19],
      ["risks.1.review", 19],
    ]);
  });

  it("reports YAML syntax errors and duplicate keys with their position", () => {
    expect(problemsOf("version: 1\nname: [unclosed\n")[0]).toMatchObject({ expected: "valid YAML or JSON" });
    const duplicate = problemsOf("version: 1\nname: a\nname: b\n");
    expect(duplicate[0]).toMatchObject({ expected: "each key once per mapping", line: 3 });
  });

  it("rejects risk decisions without a real justification or date", () => {
    const problems = problemsOf(VALID + "risks:\n  - { threat: x@model, status: accepted, justification: ok, date: 'last week' }\n");
    expect(problems.map((p) => p.path)).toEqual(["risks.0.justification", "risks.0.date"]);
  });

  it("never crashes on input that is not a model at all", () => {
    for (const text of ["", "42", "[1, 2]", "null", "version: 1", "\u0000\uFFFF", "a: &x [*x]"]) {
      expect(() => parseThreatModel(text)).toThrow(ThreatModelError);
    }
  });
});

describe("threat model loading, every error in one run", () => {
  it("reports reference problems alongside schema problems", () => {
    const text = VALID.replace("type: llm", "type: robot, sideEffects: write").replace("to: model, data: [tickets]", "to: modle, data: [tickets]").replace("{ id: ask,", "{ id: 7,");
    const problems = problemsOf(text);
    expect(problems.map((p) => p.path)).toEqual(["components.2.type", "flows.0.id", "flows.1.to"]);
  });
});
