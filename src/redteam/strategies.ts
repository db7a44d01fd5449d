/**
 * Planning: turns the catalogue, the seed and the options into the ordered,
 * deterministic list of attempts a scan makes (lazily, so 100,000 attempts
 * never sit in memory). Strategies: `single` (one message, optionally mutated)
 * and `crescendo` (multi-turn escalation, from the case's own turns or from
 * the escalation templates in data/attacks/strategies.yaml).
 */
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import type { Category } from "../policy/categories.js";
import { packagePath } from "../util/paths.js";
import type { AttackCase, Catalogue, EnvironmentSpecData } from "./catalogue.js";
import { applyChain, chooseChains, MUTATOR_NAMES, validChain } from "./mutators.js";
import { markerFor, rngFor } from "./random.js";

export const STRATEGIES = ["single", "crescendo"] as const;
export type StrategyName = (typeof STRATEGIES)[number];

export const ATTACKER_HOST = "attacker.example";
export const ATTACKER_EMAIL = "drop@attacker.example";

export interface Attempt {
  readonly index: number;
  /** Catalogue case id, then `~mutator+mutator`, `@crescendo-name`, `#repetition` as they apply. */
  readonly id: string;
  readonly case: AttackCase;
  readonly mutators: readonly string[];
  readonly strategy: StrategyName;
  readonly marker: string;
  /** User messages, sent one after another with the target's replies in between. */
  readonly turns: readonly string[];
  /** For crescendo: what to send instead of a refused turn (null: nothing softer to try). */
  readonly fallbacks?: readonly (string | null)[];
  readonly raw?: { readonly bytes: Uint8Array; readonly contentType: string };
  readonly environment?: EnvironmentSpecData;
}

export interface TargetCapabilities {
  readonly tools: boolean;
  readonly raw: boolean;
}

export interface PlanOptions {
  readonly seed: number;
  /** Mutated variants per mutable case, besides the plain one. */
  readonly mutatorsPerCase: number;
  /** Mutators the planner may choose from (all by default). */
  readonly mutators?: readonly string[];
  /** Apply exactly these chains to every mutable case instead of choosing (e.g. [["base64"], ["homoglyphs","rot13"]]). */
  readonly chains?: readonly (readonly string[])[];
  readonly strategies: readonly StrategyName[];
  readonly capabilities: TargetCapabilities;
  readonly categories?: readonly Category[];
  /** Each planned attempt this many times (with its own marker and choices), for tighter intervals. */
  readonly repeat?: number;
}

const Escalations = z.strictObject({
  crescendo: z
    .array(z.strictObject({ name: z.string(), turns: z.array(z.string()).min(2), fallbacks: z.array(z.string().nullable()) }))
    .min(1),
});

let escalations: z.output<typeof Escalations>["crescendo"] | null = null;
function escalationTemplates(): z.output<typeof Escalations>["crescendo"] {
  escalations ??= Escalations.parse(parseYaml(readFileSync(packagePath("data", "attacks", "strategies.yaml"), "utf8"))).crescendo;
  return escalations;
}

/** Why a case is not planned against a target, or null when it is. */
export function skipReason(attackCase: AttackCase, capabilities: TargetCapabilities): string | null {
  for (const need of attackCase.requires) if (!capabilities[need]) return `target has no ${need} support`;
  return null;
}

/** The attempts, in a fixed order that depends only on the catalogue and the options. */
export function* planAttempts(catalogue: Catalogue, options: PlanOptions): Generator<Attempt> {
  const allowed = options.mutators ?? MUTATOR_NAMES;
  for (const chain of options.chains ?? []) if (!validChain(chain)) throw new Error(`invalid mutator chain ${chain.join("+")}: unknown name, or two of one kind, or kinds out of order (character, encoding, wrapper)`);
  const repeat = Math.max(1, options.repeat ?? 1);
  let index = 0;
  for (let round = 0; round < repeat; round++) {
    const suffix = repeat > 1 ? `#${round + 1}` : "";
    for (const attackCase of catalogue.cases) {
      if (options.categories && !options.categories.includes(attackCase.category)) continue;
      if (skipReason(attackCase, options.capabilities)) continue;
      const variants: Array<{ mutators: readonly string[]; strategy: StrategyName; escalation?: string }> = [];
      if (attackCase.turns) {
        if (options.strategies.includes("crescendo")) variants.push({ mutators: [], strategy: "crescendo" });
      } else if (options.strategies.includes("single")) {
        variants.push({ mutators: [], strategy: "single" });
        if (attackCase.mutable) {
          const chains = options.chains ?? chooseChains(options.mutatorsPerCase, rngFor(options.seed, "chains", attackCase.id + suffix), allowed);
          for (const chain of chains) variants.push({ mutators: chain, strategy: "single" });
        }
      }
      if (!attackCase.turns && attackCase.mutable && options.strategies.includes("crescendo") && attackCase.judge.kind === "marker" && !attackCase.environment) {
        const template = rngFor(options.seed, "crescendo", attackCase.id + suffix).pick(escalationTemplates());
        variants.push({ mutators: [], strategy: "crescendo", escalation: template.name });
      }
      for (const variant of variants) {
        const id =
          attackCase.id +
          (variant.mutators.length > 0 ? `~${variant.mutators.join("+")}` : "") +
          (variant.escalation ? `@${variant.escalation}` : "") +
          suffix;
        yield build(attackCase, id, index++, variant, options.seed);
      }
    }
  }
}

function build(attackCase: AttackCase, id: string, index: number, variant: { mutators: readonly string[]; strategy: StrategyName; escalation?: string }, seed: number): Attempt {
  const marker = markerFor(seed, id);
  const generated = attackCase.generate ? attackCase.generate.repeat.repeat(attackCase.generate.count) : "";
  const fill = (template: string, payload?: string): string =>
    template.replace(/\{\{(payload|marker|attacker_host|attacker_email|generated)\}\}/g, (_, name: string) => {
      switch (name) {
        case "payload":
          return payload ?? "";
        case "marker":
          return marker;
        case "attacker_host":
          return ATTACKER_HOST;
        case "attacker_email":
          return ATTACKER_EMAIL;
        default:
          return generated;
      }
    });
  const mutate = (text: string): string => (variant.mutators.length === 0 ? text : applyChain(text, variant.mutators, (name) => rngFor(seed, "mutator", id, name)));

  let turns: string[];
  let fallbacks: (string | null)[] | undefined;
  if (attackCase.turns) {
    turns = attackCase.turns.map((turn) => fill(turn));
  } else if (variant.escalation) {
    const template = escalationTemplates().find((t) => t.name === variant.escalation)!;
    const payload = fill(attackCase.payload ?? attackCase.prompt ?? "");
    turns = template.turns.map((turn) => fill(turn, payload));
    fallbacks = template.fallbacks.map((turn) => (turn === null ? null : fill(turn, payload)));
  } else if (attackCase.prompt !== undefined) {
    if (attackCase.payload !== undefined) {
      turns = [fill(attackCase.prompt, mutate(fill(attackCase.payload)))];
    } else {
      turns = [mutate(fill(attackCase.prompt))];
    }
  } else {
    turns = [];
  }

  let environment = attackCase.environment;
  if (environment) {
    const payload = attackCase.payload !== undefined ? mutate(fill(attackCase.payload)) : "";
    environment = fillEnvironment(environment, (text) => fill(text, payload));
  }

  let raw: Attempt["raw"];
  if (attackCase.raw) {
    const bytes = attackCase.raw.hex !== undefined ? Buffer.from(attackCase.raw.hex, "hex") : Buffer.from(fill(attackCase.raw.body ?? ""), "utf8");
    raw = { bytes: new Uint8Array(bytes), contentType: attackCase.raw.contentType ?? "application/json" };
  }
  return {
    index,
    id,
    case: attackCase,
    mutators: variant.mutators,
    strategy: variant.strategy,
    marker,
    turns,
    ...(fallbacks ? { fallbacks } : {}),
    ...(raw ? { raw } : {}),
    ...(environment ? { environment } : {}),
  };
}

function fillEnvironment(environment: EnvironmentSpecData, fill: (text: string) => string): EnvironmentSpecData {
  const mapValues = (record: Record<string, string> | undefined): Record<string, string> | undefined =>
    record ? Object.fromEntries(Object.entries(record).map(([key, value]) => [fill(key), fill(value)])) : undefined;
  return {
    ...environment,
    ...(environment.inbox ? { inbox: environment.inbox.map((mail) => ({ from: fill(mail.from), subject: fill(mail.subject), body: fill(mail.body) })) } : {}),
    ...(environment.documents ? { documents: mapValues(environment.documents)! } : {}),
    ...(environment.web ? { web: mapValues(environment.web)! } : {}),
    ...(environment.orderNotes ? { orderNotes: mapValues(environment.orderNotes)! } : {}),
  };
}
