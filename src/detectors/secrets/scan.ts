/**
 * Finding secrets in text: a keyword prefilter picks the rules worth running
 * (most texts contain no keyword at all, so most rules never run), then each
 * rule's pattern and its validation (entropy, placeholder, JWT header).
 */
import { looksRandom, shannonEntropy } from "./entropy.js";
import { KeywordSet } from "./keywords.js";
import { isPlaceholder } from "./placeholder.js";
import { BUILTIN_SECRET_RULES, type SecretRule } from "./rules.js";

export interface SecretMatch {
  readonly ruleId: string;
  readonly description: string;
  /** UTF-16 span of the secret value itself (not the surrounding `key =`). */
  readonly start: number;
  readonly end: number;
  readonly score: number;
}

export interface SecretScanOptions {
  readonly rules?: readonly SecretRule[];
  readonly disabledRules?: readonly string[];
  readonly allowValues?: readonly string[];
  readonly entropy?: { readonly enabled: boolean; readonly minLength: number; readonly minBitsPerChar: number };
}

/** More matches than this in one text are not itemised further: the text is already a dump of credentials. */
const MAX_MATCHES = 256;

export class SecretScanner {
  private readonly rules: readonly SecretRule[];
  private readonly allowValues: ReadonlySet<string>;
  private readonly entropy: { readonly enabled: boolean; readonly minLength: number; readonly minBitsPerChar: number };
  /** Every active rule's keywords, found in one pass; rule i owns keyword indices keywordStart[i] .. keywordStart[i + 1]. */
  private readonly keywordSet: KeywordSet;
  private readonly keywordStart: Int32Array;

  constructor(options: SecretScanOptions = {}) {
    const disabled = new Set(options.disabledRules ?? []);
    this.entropy = options.entropy ?? { enabled: true, minLength: 20, minBitsPerChar: 3.5 };
    this.rules = (options.rules ?? BUILTIN_SECRET_RULES).filter((rule) => !disabled.has(rule.id) && (!rule.generic || this.entropy.enabled));
    this.allowValues = new Set(options.allowValues ?? []);
    this.keywordStart = new Int32Array(this.rules.length + 1);
    const keywords: string[] = [];
    this.rules.forEach((rule, index) => {
      this.keywordStart[index] = keywords.length;
      keywords.push(...rule.keywords);
    });
    this.keywordStart[this.rules.length] = keywords.length;
    this.keywordSet = KeywordSet.of(keywords);
  }

  get activeRules(): readonly SecretRule[] {
    return this.rules;
  }

  /** One rule regardless of keywords (warm-up and tests). */
  scanWith(rule: SecretRule, text: string): number {
    rule.regex.lastIndex = 0;
    let count = 0;
    while (rule.regex.exec(text) !== null && count < 16) count++;
    rule.regex.lastIndex = 0;
    return count;
  }

  scan(text: string): SecretMatch[] {
    const present = this.keywordSet.find(text);
    const found: SecretMatch[] = [];
    for (let index = 0; index < this.rules.length; index++) {
      if (!anyPresent(present, this.keywordStart[index]!, this.keywordStart[index + 1]!)) continue;
      const rule = this.rules[index]!;
      const regex = rule.regex;
      regex.lastIndex = 0;
      let match: RegExpExecArray | null;
      while ((match = regex.exec(text)) !== null) {
        if (match[0].length === 0) {
          regex.lastIndex++;
          continue;
        }
        const indices = match.indices?.groups?.["secret"] ?? match.indices?.[0];
        const value = match.groups?.["secret"] ?? match[0];
        if (!indices || !this.accepts(rule, value)) continue;
        found.push({ ruleId: rule.id, description: rule.description, start: indices[0], end: indices[1], score: rule.score });
        if (found.length >= MAX_MATCHES) return resolveOverlaps(found);
      }
    }
    return resolveOverlaps(found);
  }

  private accepts(rule: SecretRule, value: string): boolean {
    if (this.allowValues.has(value)) return false;
    if (rule.allow?.test(value)) return false;
    if (rule.minEntropy !== null && shannonEntropy(value) < rule.minEntropy) return false;
    if (rule.generic && !looksRandom(value, this.entropy.minLength, this.entropy.minBitsPerChar)) return false;
    if (rule.check === "placeholder" && isPlaceholder(value)) return false;
    if (rule.check === "jwt" && !isJwtHeader(value)) return false;
    return true;
  }
}

function anyPresent(present: Uint8Array, from: number, to: number): boolean {
  for (let k = from; k < to; k++) if (present[k] === 1) return true;
  return false;
}

/** A token signed as a JWT has a base64url JSON header naming its algorithm. */
function isJwtHeader(token: string): boolean {
  const header = token.slice(0, token.indexOf("."));
  try {
    const parsed: unknown = JSON.parse(Buffer.from(header, "base64url").toString("utf8"));
    return typeof parsed === "object" && parsed !== null && typeof (parsed as { alg?: unknown }).alg === "string";
  } catch {
    return false;
  }
}

/** Overlapping matches (a GitHub token inside `token = ...`) become one, named by the more specific (higher-scoring) rule. */
function resolveOverlaps(matches: SecretMatch[]): SecretMatch[] {
  if (matches.length < 2) return matches;
  const sorted = [...matches].sort((a, b) => a.start - b.start || b.score - a.score || b.end - a.end);
  const kept: SecretMatch[] = [];
  for (const match of sorted) {
    const last = kept[kept.length - 1];
    if (last && match.start < last.end) {
      // The span is the union, so redaction never leaves part of either match behind.
      const best = match.score > last.score ? match : last;
      kept[kept.length - 1] = { ...best, start: Math.min(last.start, match.start), end: Math.max(last.end, match.end) };
      continue;
    }
    kept.push(match);
  }
  return kept;
}

/** A short description of a secret for evidence: never the value, only its kind and length. */
export function describeSecret(match: SecretMatch): string {
  return `${match.description} (${match.end - match.start} characters)`;
}
