import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { BUILTIN_OUTPUT_RULES, createOutputSafetyLayer, createStructuredOutputLayer, leadingLiteral, scanOutput } from "../../../src/detectors/output-safety/index.js";
import type { Finding, LayerInput } from "../../../src/guard/types.js";
import { PolicySchema } from "../../../src/policy/schema.js";
import { layerInputFor } from "../../../src/guard/layer-input.js";

const policy = PolicySchema.parse({ version: 1 });

function input(text: string): LayerInput {
  return layerInputFor(text, { stage: "output" });
}

describe("output-safety rules (each rule's own examples from data/output-safety/rules.yaml)", () => {
  for (const rule of BUILTIN_OUTPUT_RULES) {
    it(`${rule.id} matches its positives and none of its negatives`, () => {
      for (const text of rule.tests.match) expect(scanOutput(text, [rule]).map((f) => f.ruleId), text).toEqual([rule.id]);
      for (const text of rule.tests.noMatch) expect(scanOutput(text, [rule]), text).toEqual([]);
    });
  }
});

describe("output-safety layer", () => {
  it("is off until the policy names a sink, and checks only the sinks named", () => {
    expect(createOutputSafetyLayer(policy.layers.outputSafety)).toBeNull();
    const sqlOnly = createOutputSafetyLayer({ ...policy.layers.outputSafety, sinks: ["sql"] })!;
    const text = "<script>alert(1)</script> and then 1; DROP TABLE users";
    const findings = (sqlOnly.check(input(text)) as { findings: Finding[] }).findings;
    expect(findings.map((f) => f.ruleId).sort()).toEqual(["sql.destructive-ddl", "sql.stacked-query"]);
    expect(findings.every((f) => f.category === "unsafe_output")).toBe(true);
  });

  it("leaves ordinary prose and code explanations alone for every sink", () => {
    const all = createOutputSafetyLayer({ ...policy.layers.outputSafety, sinks: ["html", "sql", "shell"] })!;
    const benign = [
      "To list files, run ls -la in your terminal. Then cd into the project and run npm test.",
      "SELECT name, email FROM customers WHERE created_at > '2024-01-01' ORDER BY name;",
      "The <em>quick</em> brown fox, with a <a href=\"https://example.org\">link</a> and <b>bold</b> text.",
      "Regular expressions and JavaScript: both are useful. The union of two sets is a set.",
    ];
    for (const text of benign) expect((all.check(input(text)) as { findings: Finding[] }).findings, text).toEqual([]);
  });
});

describe("structured-output layer", () => {
  const schema = { type: "object", required: ["answer", "confidence"], additionalProperties: false, properties: { answer: { type: "string" }, confidence: { type: "number", minimum: 0, maximum: 1 } } };
  const layer = createStructuredOutputLayer({ ...policy.layers.structuredOutput, schema })!;
  const findings = (text: string) => (layer.check(input(text)) as { findings: Finding[] }).findings;

  it("accepts conforming JSON, also inside one code fence", () => {
    expect(findings('{"answer": "42", "confidence": 0.9}')).toEqual([]);
    expect(findings('```json\n{"answer": "42", "confidence": 0.9}\n```')).toEqual([]);
  });

  it("reports invalid JSON and schema violations without quoting values", () => {
    expect(findings("Sure! The answer is 42.")[0]).toMatchObject({ category: "schema_violation", ruleId: "structured-output.not-json" });
    const [violation] = findings('{"answer": "secret-value-123", "confidence": 7, "extra": true}');
    expect(violation).toMatchObject({ category: "schema_violation", ruleId: "structured-output.schema" });
    expect(violation!.evidence).toContain("/confidence");
    expect(violation!.evidence).not.toContain("secret-value-123");
    expect(violation!.span).toBeUndefined();
  });

  it("is off without a schema and refuses an invalid schema when created", () => {
    expect(createStructuredOutputLayer(policy.layers.structuredOutput)).toBeNull();
    expect(() => createStructuredOutputLayer({ ...policy.layers.structuredOutput, schema: { type: "not-a-type" } })).toThrow(/not a valid JSON Schema/);
  });

  it("supports draft-07 schemas", () => {
    const draft7 = createStructuredOutputLayer({ ...policy.layers.structuredOutput, schema: { $schema: "http://json-schema.org/draft-07/schema#", type: "array", items: { type: "integer" } } })!;
    expect((draft7.check(input("[1, 2, 3]")) as { findings: Finding[] }).findings).toEqual([]);
    expect((draft7.check(input("[1, \"x\"]")) as { findings: Finding[] }).findings).toHaveLength(1);
  });
});

describe("rules tried only where their first character occurs", () => {
  it("finds the character every match of a pattern starts with, or none", () => {
    expect(leadingLiteral("<script\\b")).toBe("<");
    expect(leadingLiteral(";\\s{0,8}(?:drop|delete)\\b")).toBe(";");
    expect(leadingLiteral("<[|]x")).toBe("<");
    for (const source of ["<?a", "<*a", "<{0,2}a", "<a|b", "(<a|b)", "a<", "\\<", ">{1,2}x|y", "[<]a"]) expect(leadingLiteral(source), source).toBeNull();
  });

  /** The plain scan: the rule's global pattern over the whole text (up to eight findings). */
  function reference(text: string, rule: (typeof BUILTIN_OUTPUT_RULES)[number]): Array<[number, number]> {
    const regex = new RegExp(rule.regex.source, rule.regex.flags);
    const spans: Array<[number, number]> = [];
    for (let match = regex.exec(text); match !== null && spans.length < 8; match = regex.exec(text)) spans.push([match.index, match.index + match[0].length]);
    return spans;
  }

  for (const rule of BUILTIN_OUTPUT_RULES.filter((candidate) => leadingLiteral(candidate.regex.source) !== null)) {
    it(`${rule.id}: the anchored scan finds what the plain scan finds`, () => {
      const samples = [...rule.tests.match, ...rule.tests.noMatch];
      fc.assert(
        fc.property(fc.array(fc.oneof(fc.constantFrom(...samples), fc.constantFrom(" ", "<", ";", "on", "x", "\n", "ON", "drop ")), { maxLength: 30 }), (parts) => {
          const text = parts.join("");
          const found = scanOutput(text, [rule]).map((finding) => [finding.span!.start, finding.span!.end]);
          expect(found).toEqual(reference(text, rule));
        }),
        { numRuns: 300 },
      );
    });
  }
});
