/**
 * detectors/output-safety: improper output handling (OWASP LLM05). Two layers:
 *
 * - `output-safety`: fragments dangerous to where the output goes (HTML/JS for
 *   a renderer, SQL for a database, shell for a command line), from rules as
 *   data (data/output-safety/rules.yaml); only the sinks the policy lists.
 * - `structured-output`: JSON Schema validation (ajv) of structured output.
 *
 * May import: src/policy (types), src/guard/types, ./, the keyword matcher of
 * the sibling secrets detector (../secrets/keywords) and pii's anchored search
 * (../pii/anchored).
 */
import type { Finding, Layer, LayerInput, LayerOutput } from "../../guard/types.js";
import type { OutputSafetyOptions, Policy } from "../../policy/schema.js";
import { anchoredMatches } from "../pii/anchored.js";
import { KeywordSet } from "../secrets/keywords.js";
import { BUILTIN_OUTPUT_RULES, type OutputRule } from "./rules.js";

export { BUILTIN_OUTPUT_RULES, loadOutputRules, SINKS, type OutputRule, type Sink } from "./rules.js";
export { createStructuredOutputLayer, structuredOutputLayerFromPolicy } from "./structured.js";

export const OUTPUT_SAFETY_VERSION = "1.0.0";

/** Findings per rule per text: one is enough to decide, a few help people read the report. */
const MAX_PER_RULE = 8;
/** A rule opening with a plain character is cheap to search globally: hand over early on text dense with it. */
const ANCHORED = { limit: MAX_PER_RULE, charsPerTry: 128 } as const;

/** Every rule's keywords, found in one pass over the text; rule i owns keyword indices start[i] .. start[i + 1]. */
interface RuleKeywords {
  readonly set: KeywordSet;
  readonly start: Int32Array;
  /** Per rule, the character every match starts with, when the pattern shows one (see leadingLiteral). */
  readonly anchors: readonly (string | null)[];
}

/**
 * The character every match of a pattern starts with: an ASCII punctuation character (literal in a
 * pattern, and the same in either case) that opens the pattern, is not quantified, and is not one
 * side of an alternation at the top level. Null when the pattern does not show one.
 */
export function leadingLiteral(source: string): string | null {
  const first = source[0];
  if (first === undefined || !"!\"#%&',:;<=>@_`~".includes(first) || (source[1] !== undefined && "?*+{".includes(source[1]))) return null;
  let depth = 0;
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const char = source[i];
    if (char === "\\") i++;
    else if (inClass) inClass = char !== "]";
    else if (char === "[") inClass = true;
    else if (char === "(") depth++;
    else if (char === ")") depth--;
    else if (char === "|" && depth === 0) return null;
  }
  return first;
}

/** Built once per rule list (a layer keeps its list), not once per text. */
const keywordsByRules = new WeakMap<readonly OutputRule[], RuleKeywords>();

function ruleKeywords(rules: readonly OutputRule[]): RuleKeywords {
  let built = keywordsByRules.get(rules);
  if (!built) {
    const start = new Int32Array(rules.length + 1);
    const keywords: string[] = [];
    rules.forEach((rule, index) => {
      start[index] = keywords.length;
      keywords.push(...rule.keywords);
    });
    start[rules.length] = keywords.length;
    built = { set: KeywordSet.of(keywords), start, anchors: rules.map((rule) => leadingLiteral(rule.regex.source)) };
    keywordsByRules.set(rules, built);
  }
  return built;
}

export function scanOutput(text: string, rules: readonly OutputRule[]): Finding[] {
  const { set, start, anchors } = ruleKeywords(rules);
  const present = set.find(text);
  const findings: Finding[] = [];
  for (let index = 0; index < rules.length; index++) {
    let any = false;
    for (let k = start[index]!; k < start[index + 1]! && !any; k++) any = present[k] === 1;
    if (!any) continue;
    const rule = rules[index]!;
    const regex = rule.regex;
    const anchor = anchors[index]!;
    if (anchor !== null) {
      for (const match of anchoredMatches(text, regex, anchor, 0, ANCHORED)) findings.push(finding(rule, match));
      continue;
    }
    regex.lastIndex = 0;
    let match: RegExpExecArray | null;
    let count = 0;
    while (count < MAX_PER_RULE && (match = regex.exec(text)) !== null) {
      if (match[0].length === 0) {
        regex.lastIndex++;
        continue;
      }
      count++;
      findings.push(finding(rule, match));
    }
  }
  return findings;
}

function finding(rule: OutputRule, match: RegExpExecArray): Finding {
  return {
    detector: "output-safety",
    category: "unsafe_output",
    score: rule.score,
    ruleId: rule.id,
    span: { start: match.index, end: match.index + match[0].length },
    evidence: `${rule.sink}: ${rule.description}`,
    replacement: `[REMOVED:${rule.id}]`,
  };
}

export function createOutputSafetyLayer(options: OutputSafetyOptions, rules: readonly OutputRule[] = BUILTIN_OUTPUT_RULES): Layer | null {
  const sinks = new Set(options.sinks);
  const active = rules.filter((rule) => sinks.has(rule.sink));
  if (active.length === 0) return null;
  // Build the keyword automaton now, so the first real check does not pay for it.
  ruleKeywords(active);
  return {
    name: "output-safety",
    version: OUTPUT_SAFETY_VERSION,
    stage: "output",
    phase: "detect",
    budgetMs: options.budgetMs,
    ...(options.failureMode ? { failureMode: options.failureMode } : {}),
    check(input: LayerInput): LayerOutput {
      return { findings: scanOutput(input.text, active) };
    },
  };
}

export function outputSafetyLayerFromPolicy(policy: Policy): Layer | null {
  return policy.layers.outputSafety.enabled ? createOutputSafetyLayer(policy.layers.outputSafety) : null;
}
