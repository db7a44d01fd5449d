/**
 * Synthetic training and evaluation material, built with a seeded generator:
 * multilingual attacks and benign look-alikes from data/model/training-templates.json,
 * optimised-suffix (GCG-style) attacks, and indirect injections inserted into
 * benign documents and JSON tool output at the start, middle or end, as the
 * BIPIA benchmark builds them.
 */
import type { Random } from "./random.js";

export interface LanguageTemplates {
  readonly override: readonly string[];
  readonly goals: readonly string[];
  readonly persona: readonly string[];
  readonly extract: readonly string[];
  readonly benign: readonly string[];
}

export interface TrainingTemplates {
  readonly languages: Readonly<Record<string, LanguageTemplates>>;
  readonly heldOutLanguages: readonly string[];
  readonly injectionFraming: readonly string[];
  readonly taskInjections: readonly string[];
  readonly triggerBenign: readonly string[];
}

export function multilingualAttacks(t: LanguageTemplates): string[] {
  const out: string[] = [];
  for (const o of t.override) for (const g of t.goals) out.push(`${o} ${g}`);
  out.push(...t.persona, ...t.extract);
  return out;
}

/**
 * Gibberish in the style of GCG adversarial suffixes: word pieces, stray
 * punctuation clusters, odd capitalisation and markup fragments. Written from
 * the published description of the attack; no real suffix is copied.
 */
const SUFFIX_WORDS = ["describing", "similarly", "now", "write", "opposite", "ley", "me", "giving", "one", "please", "revert", "with", "two", "sure", "here", "tutorial", "manual", "format", "sentence", "print", "output", "using", "instead", "kind", "heading", "lets", "alright", "surely", "begin", "step", "answer", "hmm", "oder", "pente", "ant", "vs", "ich", "tej", "jsme", "zelf", "inst", "tabular", "latex", "json", "markdown", "cdnjs", "githubusercontent", "wikipedia", "reply", "title", "structure", "unless", "based", "Hamilton", "Nancy", "Via", "Pen", "Taylor", "question", "parody", "task"];
const SUFFIX_PUNCT = ["](", ")]", "**", "\\!", "--", "==", "({", "})", "\\", "[", "]", "{", "}", "!!", ";)", ":)", "\"", "'", "`", "^", "~", "<", ">", "|", "@", "#", "$", "%", "&", "*", "+", "/", "?", ".", ",", ":", ";"];

export function gcgSuffix(rng: Random): string {
  const tokens: string[] = [];
  const length = 12 + rng.int(14);
  for (let i = 0; i < length; i++) {
    const roll = rng.next();
    let word = rng.pick(SUFFIX_WORDS);
    if (rng.next() < 0.3) word = word.charAt(0).toUpperCase() + word.slice(1);
    if (rng.next() < 0.15) word = word.toUpperCase();
    if (roll < 0.35) tokens.push(word);
    else if (roll < 0.6) tokens.push(word + rng.pick(SUFFIX_PUNCT));
    else if (roll < 0.8) tokens.push(rng.pick(SUFFIX_PUNCT) + word);
    else if (roll < 0.9) tokens.push(word + rng.pick(SUFFIX_WORDS).replace(/^./, (c) => c.toUpperCase()));
    else tokens.push(rng.pick(SUFFIX_PUNCT) + rng.pick(SUFFIX_PUNCT));
  }
  return tokens.join(rng.next() < 0.8 ? " " : "");
}

export interface Insertion {
  readonly text: string;
  /** Span of the inserted instruction in `text`. */
  readonly start: number;
  readonly end: number;
}

/** Insert `attack` into `document` at its start, a sentence boundary near the middle, or its end. */
export function insertIntoDocument(document: string, attack: string, framing: string, rng: Random): Insertion {
  const framed = framing.replace("{a}", attack);
  const where = rng.int(3);
  if (where === 0) return { text: `${framed}\n\n${document}`, start: 0, end: framed.length };
  if (where === 2) {
    const prefix = `${document}\n\n`;
    return { text: prefix + framed, start: prefix.length, end: prefix.length + framed.length };
  }
  let cut = Math.floor(document.length / 2);
  const boundary = document.slice(cut).search(/[.!?\n]\s/);
  if (boundary >= 0 && boundary < 400) cut += boundary + 2;
  const prefix = `${document.slice(0, cut)} `;
  return { text: `${prefix}${framed} ${document.slice(cut)}`, start: prefix.length, end: prefix.length + framed.length };
}

const TOOL_SHAPES: ReadonlyArray<(fields: string[], rng: Random) => unknown> = [
  (f, rng) => ({ results: f.map((snippet, i) => ({ title: `Result ${i + 1}`, url: `https://example.org/page/${rng.int(10000)}`, snippet })) }),
  (f, rng) => ({ emails: f.map((body, i) => ({ from: `user${rng.int(900) + 100}@example.com`, subject: `Re: item ${i + 1}`, body, unread: i % 2 === 0 })) }),
  (f, rng) => ({ status: "ok", data: { id: rng.int(1_000_000), items: f.map((text, i) => ({ id: i, text, score: Math.round(rng.next() * 100) / 100 })) } }),
  (f) => ({ issue: { title: f[0] ?? "", body: f.slice(1).join("\n"), labels: ["bug"], comments: f.length } }),
  (f, rng) => ({ reviews: f.map((review) => ({ rating: 1 + rng.int(5), review, verified: true })) }),
  (f) => ({ file: "notes.md", content: f.join("\n\n") }),
];

export interface ToolOutput {
  readonly text: string;
  /** The inserted instruction as it appears among the JSON's string values (undefined when benign). */
  readonly framed?: string;
}

/** A JSON tool result built from benign text fields; when `attack` is given it replaces part of one field. */
export function toolOutput(fields: readonly string[], rng: Random, attack?: string, framing?: string): ToolOutput {
  const values = fields.map((f) => f.slice(0, 600));
  let framed: string | undefined;
  if (attack !== undefined) {
    const slot = rng.int(values.length);
    framed = (framing ?? "{a}").replace("{a}", attack);
    const base = values[slot]!;
    values[slot] = rng.next() < 0.5 ? `${base} ${framed}` : framed;
  }
  const shape = TOOL_SHAPES[rng.int(TOOL_SHAPES.length)]!;
  const text = JSON.stringify(shape(values, rng), null, rng.next() < 0.5 ? 2 : undefined);
  return framed === undefined ? { text } : { text, framed };
}

/** Split benign text into sentence-sized fields for tool outputs. */
export function sentences(text: string): string[] {
  return text
    .split(/(?<=[.!?])\s+|\n+/)
    .map((s) => s.trim())
    .filter((s) => s.length >= 20);
}
