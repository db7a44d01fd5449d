/**
 * detectors/pii: personal data in either direction, validated (phone parser,
 * Luhn, mod-97, SSN ranges, public IP ranges) and redacted by mask, typed
 * placeholder, or reversible pseudonym kept in the conversation's GuardSession.
 *
 * May import: src/policy (types), src/guard/types, ./ (this folder).
 */
import type { Finding, GuardSession, Layer, LayerInput, LayerOutput } from "../../guard/types.js";
import type { PiiOptions, Policy } from "../../policy/schema.js";
import { ENTITY_LABELS, PiiScanner, type PiiMatch } from "./scan.js";

export { PiiScanner, ENTITY_LABELS, type PiiMatch, type PiiScanOptions } from "./scan.js";
export { luhnValid, ibanValid, ssnValid, cardNetwork, ipIsPublic } from "./validate.js";

export const PII_VERSION = "1.0.0";

export interface PiiLayerBinding {
  /** A session to use when the check carries none (one guard per conversation). */
  readonly session?: GuardSession;
}

export function createPiiLayer(options: PiiOptions, binding: PiiLayerBinding = {}): Layer {
  const scanner = new PiiScanner(options);
  // Load the phone metadata and compile the patterns now, so the first real check stays inside its budget.
  scanner.scan("Call +1 (415) 555-2671, mail a.b@acme.io, card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, SSN 536-22-1234, 81.2.69.160 2606:4700::1111");
  const labels = new Set(Object.values(ENTITY_LABELS));
  return {
    name: "pii",
    version: PII_VERSION,
    stage: options.stages,
    phase: "detect",
    budgetMs: options.budgetMs,
    ...(options.failureMode ? { failureMode: options.failureMode } : {}),
    check(input: LayerInput): LayerOutput {
      const matches = scanner.scan(input.text);
      if (matches.length === 0) return { findings: [] };
      const session = input.session ?? binding.session;
      const local = new LocalPlaceholders();
      const findings: Finding[] = matches.map((match) => ({
        detector: "pii",
        category: "pii",
        score: match.score,
        ruleId: labels.has(match.entity) ? match.entity.toLowerCase() : `custom.${match.entity.toLowerCase()}`,
        span: { start: match.start, end: match.end },
        evidence: match.evidence,
        replacement: replacementFor(match, options.mode, session, local),
      }));
      return { findings };
    },
  };
}

export function piiLayerFromPolicy(policy: Policy): Layer | null {
  return policy.layers.pii.enabled ? createPiiLayer(policy.layers.pii) : null;
}

/** Placeholders numbered within one text, for `placeholder` mode and for `pseudonymize` without a session. */
class LocalPlaceholders {
  private readonly assigned = new Map<string, string>();
  private readonly counters = new Map<string, number>();
  for(match: PiiMatch): string {
    const key = `${match.entity}\u0000${match.canonical}`;
    const known = this.assigned.get(key);
    if (known) return known;
    const next = (this.counters.get(match.entity) ?? 0) + 1;
    this.counters.set(match.entity, next);
    const placeholder = `<${match.entity}_${next}>`;
    this.assigned.set(key, placeholder);
    return placeholder;
  }
}

function replacementFor(match: PiiMatch, mode: PiiOptions["mode"], session: GuardSession | undefined, local: LocalPlaceholders): string {
  if (mode === "mask") return maskValue(match);
  if (mode === "pseudonymize" && session) return session.pseudonymFor(match.entity, match.value, match.canonical) ?? maskValue(match);
  return local.for(match);
}

/** Keep just enough to recognise one's own value (last four of a card or phone, first letter of an address). */
export function maskValue(match: Pick<PiiMatch, "entity" | "value">): string {
  const { entity, value } = match;
  if (entity === "EMAIL") {
    const tld = value.slice(value.lastIndexOf(".") + 1);
    return `${value[0] ?? ""}***@***.${tld}`;
  }
  if (entity === "CARD" || entity === "PHONE" || entity === "IBAN" || entity === "SSN") {
    let keep = 4;
    let out = "";
    for (let i = value.length - 1; i >= 0; i--) {
      const char = value[i]!;
      if (/[A-Za-z0-9]/.test(char)) {
        out = (keep > 0 ? char : "*") + out;
        keep--;
      } else out = char + out;
    }
    return out;
  }
  return value.replace(/[A-Za-z0-9]/g, "*");
}
