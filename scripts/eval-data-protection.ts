/**
 * `npm run eval:data-protection`: false-positive rates of the secrets and PII
 * layers on the benign corpora (../shared/datasets/benign/<name>/data.jsonl,
 * prompts and documents). Benign text there contains no real credentials or
 * personal data by design, so a finding that reaches the policy's redact/flag
 * threshold is a false positive unless it is a real instance of the entity:
 * review the masked examples. (E-mail hits in these corpora are real addresses,
 * PEP authors' and "add x@y.com to my contacts" commands, so the PII rate is
 * also given without them.) Prints the rate per corpus and per rule.
 *
 * Usage: npm run eval:data-protection [-- --max-per-corpus N] [--json FILE]
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PiiScanner } from "../src/detectors/pii/index.js";
import { SecretScanner } from "../src/detectors/secrets/index.js";
import { defaultPolicy } from "../src/policy/load.js";

const BENIGN = join(import.meta.dirname, "..", "..", "shared", "datasets", "benign");
/** hh-rlhf-harmless-test is red-team openers, not a benign corpus. */
const SKIP = new Set(["hh-rlhf-harmless-test"]);

const args = process.argv.slice(2);
const argValue = (name: string): string | undefined => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
};
const maxPerCorpus = Number(argValue("--max-per-corpus") ?? Infinity);

const policy = defaultPolicy().policy;
const secrets = new SecretScanner(policy.layers.secrets);
const pii = new PiiScanner(policy.layers.pii);
/** The score at which a finding changes the text (the default policy redacts secrets and PII at 0.5). */
const threshold = Math.min(policy.actions.categories.secret?.redact ?? 0.5, policy.actions.categories.pii?.redact ?? 0.5, policy.actions.default.flag ?? 0.5);

interface Tally {
  texts: number;
  chars: number;
  secretTexts: number;
  piiTexts: number;
  /** Texts with a PII finding other than an e-mail address (e-mail hits in these corpora are real addresses). */
  piiNonEmailTexts: number;
}

const perCorpus = new Map<string, Tally & { kind: string }>();
const perRule = new Map<string, { count: number; examples: string[] }>();

function note(rule: string, text: string, start: number, end: number): void {
  const entry = perRule.get(rule) ?? { count: 0, examples: [] };
  entry.count++;
  if (entry.examples.length < 3) {
    const value = text.slice(start, end);
    const masked = value.length <= 4 ? value : value.slice(0, 2) + "…" + value.slice(-2) + ` (${value.length} chars)`;
    entry.examples.push(`${text.slice(Math.max(0, start - 30), start).replace(/\s+/g, " ")}[${masked}]${text.slice(end, end + 20).replace(/\s+/g, " ")}`);
  }
  perRule.set(rule, entry);
}

if (!existsSync(BENIGN)) {
  console.error(`no benign corpora at ${BENIGN}`);
  process.exit(2);
}
for (const name of readdirSync(BENIGN).sort()) {
  if (SKIP.has(name)) continue;
  const file = join(BENIGN, name, "data.jsonl");
  if (!existsSync(file)) continue;
  const tally = { texts: 0, chars: 0, secretTexts: 0, piiTexts: 0, piiNonEmailTexts: 0, kind: "" };
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (!line.trim()) continue;
    if (tally.texts >= maxPerCorpus) break;
    const row = JSON.parse(line) as { text: string; kind?: string };
    tally.kind ||= row.kind ?? "";
    tally.texts++;
    tally.chars += row.text.length;
    const secretHits = secrets.scan(row.text).filter((m) => m.score >= threshold);
    const piiHits = pii.scan(row.text).filter((m) => m.score >= threshold);
    if (secretHits.length > 0) tally.secretTexts++;
    if (piiHits.length > 0) tally.piiTexts++;
    if (piiHits.some((hit) => hit.entity !== "EMAIL")) tally.piiNonEmailTexts++;
    for (const hit of secretHits) note(`secret:${hit.ruleId}`, row.text, hit.start, hit.end);
    for (const hit of piiHits) note(`pii:${hit.entity}`, row.text, hit.start, hit.end);
  }
  perCorpus.set(name, tally);
}

const pct = (n: number, d: number): string => (d === 0 ? "-" : `${((100 * n) / d).toFixed(3)}%`);
console.log(`False positives of the secrets and PII layers on benign corpora (default policy; a text counts once per layer).\n`);
console.log("| corpus | kind | texts | secrets | PII (any) | PII other than e-mail |");
console.log("|---|---|---|---|---|---|");
const totals = { prompt: { texts: 0, secret: 0, pii: 0, piiNonEmail: 0 }, document: { texts: 0, secret: 0, pii: 0, piiNonEmail: 0 } };
for (const [name, t] of perCorpus) {
  console.log(`| ${name} | ${t.kind} | ${t.texts} | ${t.secretTexts} (${pct(t.secretTexts, t.texts)}) | ${t.piiTexts} (${pct(t.piiTexts, t.texts)}) | ${t.piiNonEmailTexts} (${pct(t.piiNonEmailTexts, t.texts)}) |`);
  const bucket = t.kind === "document" ? totals.document : totals.prompt;
  bucket.texts += t.texts;
  bucket.secret += t.secretTexts;
  bucket.pii += t.piiTexts;
  bucket.piiNonEmail += t.piiNonEmailTexts;
}
for (const [kind, t] of Object.entries(totals)) console.log(`| **all ${kind}s** | | ${t.texts} | ${t.secret} (${pct(t.secret, t.texts)}) | ${t.pii} (${pct(t.pii, t.texts)}) | ${t.piiNonEmail} (${pct(t.piiNonEmail, t.texts)}) |`);
console.log(`\nFindings by rule (examples masked):`);
for (const [rule, { count, examples }] of [...perRule].sort((a, b) => b[1].count - a[1].count)) {
  console.log(`  ${rule}: ${count}`);
  for (const example of examples) console.log(`      ${example}`);
}
const json = argValue("--json");
if (json) writeFileSync(json, JSON.stringify({ threshold, corpora: Object.fromEntries(perCorpus), totals, rules: Object.fromEntries([...perRule].map(([k, v]) => [k, v.count])) }, null, 2));
