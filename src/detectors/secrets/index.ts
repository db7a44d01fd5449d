/**
 * detectors/secrets: credentials in either direction (keys pasted into prompts
 * before they reach the model; keys the model leaks). Rules are data
 * (data/secrets/rules.yaml), modelled on secretlint's recommended preset and
 * gitleaks; docs/data-protection.md says why they are not run directly.
 *
 * May import: src/policy (types), src/guard/types, ./ (this folder).
 */
import type { Finding, Layer, LayerInput, LayerOutput } from "../../guard/types.js";
import type { Policy, SecretsOptions } from "../../policy/schema.js";
import { SecretScanner, describeSecret } from "./scan.js";

export { SecretScanner, describeSecret, type SecretMatch, type SecretScanOptions } from "./scan.js";
export { BUILTIN_SECRET_RULES, loadSecretRules, type SecretRule } from "./rules.js";
export { shannonEntropy, looksRandom } from "./entropy.js";
export { isPlaceholder } from "./placeholder.js";

export const SECRETS_VERSION = "1.0.0";

export function createSecretsLayer(options: SecretsOptions): Layer {
  const scanner = new SecretScanner(options);
  // Compile every pattern now (V8 compiles regular expressions lazily), so the first real check stays inside its budget.
  for (const rule of scanner.activeRules) scanner.scanWith(rule, rule.tests.match[0] ?? "");
  return {
    name: "secrets",
    version: SECRETS_VERSION,
    stage: options.stages,
    phase: "detect",
    budgetMs: options.budgetMs,
    ...(options.failureMode ? { failureMode: options.failureMode } : {}),
    check(input: LayerInput): LayerOutput {
      const findings: Finding[] = scanner.scan(input.text).map((match) => ({
        detector: "secrets",
        category: "secret",
        score: match.score,
        ruleId: match.ruleId,
        span: { start: match.start, end: match.end },
        evidence: describeSecret(match),
        replacement: `[REDACTED:${match.ruleId}]`,
      }));
      return { findings };
    },
  };
}

export function secretsLayerFromPolicy(policy: Policy): Layer | null {
  return policy.layers.secrets.enabled ? createSecretsLayer(policy.layers.secrets) : null;
}
