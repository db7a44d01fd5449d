import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { defaultPolicy, parsePolicy, PolicyError, policyJsonSchema, resolvePolicy } from "../../src/index.js";
import { policyReferenceMarkdown } from "../../src/policy/reference.js";
import { packagePath } from "../../src/util/paths.js";

function problemsOf(text: string) {
  try {
    parsePolicy(text, "test.yaml");
  } catch (error) {
    expect(error).toBeInstanceOf(PolicyError);
    return (error as PolicyError).problems;
  }
  throw new Error("expected the policy to be rejected");
}

describe("policy loading", () => {
  it("the built-in default is safe: every built-in layer on, fail-closed; off only the two that need something the user provides (a guard model's server, a local model's directory)", () => {
    const { policy } = defaultPolicy();
    expect(policy.failureMode).toBe("closed");
    for (const [name, layer] of Object.entries(policy.layers)) expect(layer.enabled, name).toBe(name !== "guardModel" && name !== "localModel");
  });

  it("an enabled guard model needs its server and model, and says so", () => {
    const problems = problemsOf(["version: 1", "layers:", "  guardModel:", "    enabled: true", "    protocol: chat"].join("\n"));
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: "layers.guardModel.url", line: 4, expected: "the server's base URL when the layer is enabled" }),
        expect.objectContaining({ path: "layers.guardModel.model", line: 4 }),
      ]),
    );
  });

  it("an enabled local model needs its directory, and says so", () => {
    expect(problemsOf(["version: 1", "layers:", "  localModel:", "    enabled: true"].join("\n"))).toEqual([
      expect.objectContaining({ path: "layers.localModel.dir", line: 4, expected: "the model directory when the layer is enabled" }),
    ]);
  });

  it("lists every problem with its path, line, expectation and what was found", () => {
    const problems = problemsOf(["version: 2", "limits:", "  maxBytes: -5", "  maxBites: 3", "failureMode: sometimes"].join("\n"));
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: "version", line: 1, found: "number 2" }),
        expect.objectContaining({ path: "limits.maxBytes", line: 3, found: "number -5" }),
        expect.objectContaining({ path: "limits.maxBites", line: 4, found: 'unknown key "maxBites"' }),
        expect.objectContaining({ path: "failureMode", line: 5, expected: 'one of "closed", "open"' }),
      ]),
    );
    expect(problems).toHaveLength(4);
  });

  it("reports YAML syntax errors with their position", () => {
    const problems = problemsOf("version: 1\nlimits: [unclosed\n");
    expect(problems[0]).toMatchObject({ expected: "valid YAML or JSON" });
    expect(problems[0]!.line).toBeGreaterThan(0);
  });

  it("accepts JSON as well as YAML", () => {
    expect(parsePolicy('{"version": 1, "name": "json"}').policy.name).toBe("json");
  });

  it("rejects custom rules that backtrack catastrophically, and invalid ones, before anything is applied", () => {
    const problems = problemsOf(
      [
        "version: 1",
        "layers:",
        "  heuristics:",
        "    customRules:",
        "      - { id: evil, category: jailbreak, pattern: '^(a+)+$' }",
        "      - { id: broken, category: jailbreak, pattern: '([a-z' }",
        "      - { id: fine, category: jailbreak, pattern: 'project\\s+bluebird' }",
      ].join("\n"),
    );
    expect(problems.map((p) => p.path)).toEqual(["layers.heuristics.customRules.0.pattern", "layers.heuristics.customRules.1.pattern"]);
    expect(problems[0]!.found).toMatch(/exponential backtracking/);
    expect(problems[1]!.found).toMatch(/invalid regular expression/);
    expect(problems[0]!.line).toBe(5);
  });

  it("lists unsafe custom patterns together with the schema's problems, so one round of fixes is enough", () => {
    const problems = problemsOf(
      [
        "version: 1",
        "limits: { maxBytes: -1 }",
        "layers:",
        "  heuristics:",
        "    customRules:",
        "      - { id: evil, category: jailbreak, pattern: '^(a+)+$' }",
        "      - { id: evil, category: not-a-category, pattern: '(x|x)*y' }",
        "  pii:",
        "    customEntities:",
        "      - { name: EMPLOYEE_ID, pattern: 'E-[0-9]{6}', flags: 'q' }",
      ].join("\n"),
    );
    expect(problems.map((p) => p.path).sort()).toEqual([
      "layers.heuristics.customRules.0.pattern",
      "layers.heuristics.customRules.1.category",
      "layers.heuristics.customRules.1.id",
      "layers.heuristics.customRules.1.pattern",
      "layers.pii.customEntities.0.flags",
      "limits.maxBytes",
    ]);
    expect(problems.find((p) => p.path === "layers.heuristics.customRules.0.pattern")!.line).toBe(6);
  });

  it("hashes the resolved policy: equal policies hash equally, any change changes the hash", () => {
    const a = parsePolicy("version: 1\nname: default");
    const b = resolvePolicy({ name: "default", version: 1, limits: {} });
    expect(a.hash).toBe(b.hash);
    expect(a.hash).toBe(defaultPolicy().hash);
    expect(parsePolicy("version: 1\nlimits: { maxBytes: 1000 }").hash).not.toBe(a.hash);
  });

  it("the starter policy written by `bulwark init` validates and is exactly the built-in default", () => {
    const starter = parsePolicy(readFileSync(packagePath("data", "policies", "starter.yaml"), "utf8"));
    expect(starter.hash).toBe(defaultPolicy().hash);
  });

  it("keeps docs/policy-reference.md in step with the schema (regenerate with npm run schema)", () => {
    expect(readFileSync(packagePath("docs", "policy-reference.md"), "utf8")).toBe(policyReferenceMarkdown());
  });

  it("publishes a JSON Schema that matches the one shipped in schema/", () => {
    const shipped = JSON.parse(readFileSync(packagePath("schema", "policy.schema.json"), "utf8")) as unknown;
    expect(shipped).toEqual(policyJsonSchema());
  });
});
