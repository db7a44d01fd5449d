import { describe, expect, it } from "vitest";
import { BUILTIN_SECRET_RULES, SecretScanner, createSecretsLayer } from "../../../src/detectors/secrets/index.js";
import { PolicySchema } from "../../../src/policy/schema.js";
import type { Finding, LayerInput } from "../../../src/guard/types.js";
import { layerInputFor } from "../../../src/guard/layer-input.js";

const scanner = new SecretScanner();
const policy = PolicySchema.parse({ version: 1 });

function input(text: string, stage: "input" | "output" = "output"): LayerInput {
  return layerInputFor(text, { stage, role: "assistant" });
}

describe("secret rules (each rule's own examples from data/secrets/rules.yaml)", () => {
  for (const rule of BUILTIN_SECRET_RULES) {
    const only = new SecretScanner({ rules: [rule] });
    it(`${rule.id} matches its positives and none of its negatives`, () => {
      for (const text of rule.tests.match) expect(only.scan(text).map((m) => m.ruleId), text).toEqual([rule.id]);
      for (const text of rule.tests.noMatch) expect(only.scan(text), text).toEqual([]);
    });
  }
});

describe("secrets layer", () => {
  const layer = createSecretsLayer(policy.layers.secrets);

  it("reports the value's span, not the key name, and never quotes the value", () => {
    const text = "Use this: GITHUB_TOKEN=ghp_R4nd0mT0k3nV4lu3Xy7Zq2Wk9Lm3Np5Bc8Df then push.";
    const { findings } = layer.check(input(text)) as { findings: Finding[] };
    expect(findings).toHaveLength(1);
    const [finding] = findings;
    expect(finding!.category).toBe("secret");
    expect(finding!.ruleId).toBe("github-token");
    expect(text.slice(finding!.span!.start, finding!.span!.end)).toBe("ghp_R4nd0mT0k3nV4lu3Xy7Zq2Wk9Lm3Np5Bc8Df");
    expect(finding!.evidence).not.toContain("ghp_R4nd");
    expect(finding!.score).toBeGreaterThanOrEqual(0.8);
  });

  it("runs on input and output by default, and only where configured", () => {
    expect(layer.stage).toBe("both");
    expect(createSecretsLayer({ ...policy.layers.secrets, stages: "output" }).stage).toBe("output");
  });

  it("finds several secrets of different kinds in one text", () => {
    const text = [
      "config:",
      "  aws_access_key_id: AKIAZ4RT7QWB2NHXK5LM",
      "  db: postgres://app:Tr0ub4dor-x9@db.internal:5432/app",
      "  slack: xoxb-2048301947-4820138475625-Xk9Lm2Np4Qr7St1Vw3Yz6Bc",
    ].join("\n");
    expect(scanner.scan(text).map((m) => m.ruleId)).toEqual(["aws-access-key-id", "database-connection-string", "slack-token"]);
  });

  it("merges a specific token inside a generic assignment into one span named by the specific rule", () => {
    const text = "api_key = ghp_R4nd0mT0k3nV4lu3Xy7Zq2Wk9Lm3Np5Bc8Df";
    const matches = scanner.scan(text);
    expect(matches).toHaveLength(1);
    expect(matches[0]!.ruleId).toBe("github-token");
  });

  it("honours allowValues and disabledRules", () => {
    const key = "AKIAZ4RT7QWB2NHXK5LM";
    expect(new SecretScanner({ allowValues: [key] }).scan(`key ${key}`)).toEqual([]);
    expect(new SecretScanner({ disabledRules: ["aws-access-key-id"] }).scan(`key ${key}`)).toEqual([]);
  });

  it("generic detection can be switched off, specific rules stay on", () => {
    const off = new SecretScanner({ entropy: { enabled: false, minLength: 20, minBitsPerChar: 3.5 } });
    expect(off.scan("API_KEY=Zk3Lq9Vx2Rm7Tb4Np8Wc1Yd6Hf")).toEqual([]);
    expect(off.scan("ghp_R4nd0mT0k3nV4lu3Xy7Zq2Wk9Lm3Np5Bc8Df")).toHaveLength(1);
  });

  it("stays quiet on technical prose full of trigger words", () => {
    const benign = [
      "Set the API key in your environment: export OPENAI_API_KEY=<your key>. Never commit tokens.",
      "The token count is 4096 and the secret ingredient is patience.",
      "password: ******** (hidden). Use a password manager; passwords should be long.",
      "git commit 3f9a2c7e1b8d3f6a0c5e9b2d7f1a4c8e4f9a2c7e fixed the key rotation bug",
      "sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      "The function get_access_token_from_cache_or_refresh() returns a string.",
      "const token = await auth.getToken(); // never log it",
      "Bearer tokens are sent in the Authorization header.",
      "-----BEGIN PUBLIC KEY----- is how a PEM public key starts.",
      "Visit https://docs.python.org/3/library/secrets.html for the secrets module.",
      "uuid: 123e4567-e89b-12d3-a456-426614174000",
      "risk-proj-management-2024 is the folder name",
    ];
    for (const text of benign) expect(scanner.scan(text), text).toEqual([]);
  });

  it("survives hostile input sizes without super-linear blow-up", () => {
    const big = ("password=" + "a".repeat(200) + " ").repeat(500) + "eyJ".repeat(20000) + "-----BEGIN RSA PRIVATE KEY-----".repeat(50);
    const matches = scanner.scan(big);
    expect(Array.isArray(matches)).toBe(true);
  });
});
