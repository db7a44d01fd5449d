/**
 * The rule engine: every rule is evaluated on every element of its scope, in
 * a fixed order, and yields the threat RULE@ELEMENT where its condition holds.
 * Pure and deterministic: the same model and library give the same threats in
 * the same order.
 */
import type { Condition, Rule } from "./library-schema.js";
import type { LibraryRule, RuleOrigin } from "./library.js";
import { factCatalogue, type FactValue, type Facts, type ModelGraph } from "./facts.js";

export interface ElementRef {
  readonly kind: "component" | "flow";
  readonly id: string;
  readonly name: string;
  /** Component type, or `flow`. */
  readonly type: string;
  /** Path of the element in the model file, e.g. `components.3`. */
  readonly path: string;
}

export interface MatchedThreat {
  readonly id: string;
  readonly rule: Rule;
  readonly origin: RuleOrigin;
  readonly element: ElementRef;
  readonly facts: Facts;
  readonly title: string;
}

export function evaluateRules(graph: ModelGraph, rules: readonly LibraryRule[]): MatchedThreat[] {
  const elements: Array<{ scope: "component" | "flow"; ref: ElementRef; facts: Facts }> = [
    ...graph.model.components.map((c, i) => ({
      scope: "component" as const,
      ref: { kind: "component" as const, id: c.id, name: c.name ?? c.id, type: c.type, path: `components.${i}` },
      facts: graph.componentFacts.get(c.id) ?? {},
    })),
    ...graph.model.flows.map((f, i) => {
      const name = `${graph.components.get(f.from)?.name ?? f.from} → ${graph.components.get(f.to)?.name ?? f.to}`;
      return { scope: "flow" as const, ref: { kind: "flow" as const, id: f.id, name, type: "flow", path: `flows.${i}` }, facts: graph.flowFacts.get(f.id) ?? {} };
    }),
  ];
  const threats: MatchedThreat[] = [];
  for (const { rule, origin } of rules) {
    for (const element of elements) {
      if (element.scope !== rule.scope || !holds(rule.when, element.facts, rule.scope)) continue;
      threats.push({ id: `${rule.id}@${element.ref.id}`, rule, origin, element: element.ref, facts: element.facts, title: rule.title.replaceAll("{element}", element.ref.name) });
    }
  }
  return threats;
}

/** Evaluates a condition that the library loader has already checked against the fact catalogue. */
export function holds(condition: Condition, facts: Facts, scope: "component" | "flow"): boolean {
  if (condition.all) return condition.all.every((c) => holds(c, facts, scope));
  if (condition.any) return condition.any.some((c) => holds(c, facts, scope));
  if (condition.not) return !holds(condition.not, facts, scope);
  if (condition.fact === undefined) return false;
  const value: FactValue | undefined = facts[condition.fact];
  if (value === undefined) return false;
  if (condition.equals !== undefined) return value === condition.equals;
  if (condition.in) return condition.in.includes(value as string | number | boolean);
  if (condition.includes !== undefined) return Array.isArray(value) && value.includes(condition.includes);
  if (condition.includesAny) return Array.isArray(value) && condition.includesAny.some((v) => value.includes(v));
  if (condition.atLeast !== undefined) {
    if (typeof value === "number") return typeof condition.atLeast === "number" && value >= condition.atLeast;
    const spec = factCatalogue(scope)[condition.fact];
    if (!spec || spec.kind !== "ordinal") return false;
    return spec.scale.indexOf(value as string) >= spec.scale.indexOf(String(condition.atLeast));
  }
  return false;
}
