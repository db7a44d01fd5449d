/**
 * Loading a system model: parse, validate against the schema, then check what
 * a schema cannot: every reference names an element that exists, no id is used
 * twice, trust boundaries do not contain themselves, and type-specific fields
 * sit on components of that type. A model is accepted whole or rejected with
 * every problem, each with its line and column; nothing is half-processed.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { COMPONENT_TYPES, ThreatModelSchema, type ComponentType, type ThreatModel } from "./model-schema.js";
import { located, parseYaml, problemsFromIssues, ThreatModelError, type Locate, type Problem } from "./problems.js";

export interface LoadedModel {
  readonly model: ThreatModel;
  /** Where it came from, as given (used in reports, so keep it relative for reproducible output). */
  readonly source: string;
  /** Position of any path in the source file (for SARIF locations and later problems). */
  readonly locate: Locate;
  /** `sha256:` digest of the file's text, so a report names exactly the model it describes. */
  readonly sha256: string;
}

/** Fields that only mean something on some component types. */
const TYPE_SPECIFIC_FIELDS: Readonly<Record<string, readonly ComponentType[]>> = {
  sideEffects: ["tool"],
  capabilities: ["tool"],
  humanApproval: ["tool"],
  sandboxed: ["tool"],
  credentials: ["tool"],
  multiTenant: ["retrieval_store", "vector_db", "memory", "data_store"],
  tenantIsolation: ["retrieval_store", "vector_db", "memory", "data_store"],
  persistent: ["memory"],
  maxSteps: ["agent"],
};

export async function loadThreatModelFile(path: string): Promise<LoadedModel> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (error as Error).message;
    throw new ThreatModelError(path, [{ path: "", expected: "a readable threat model file", found: reason }]);
  }
  return parseThreatModel(text, path);
}

export function parseThreatModel(text: string, source = "model"): LoadedModel {
  const parsed = parseYaml(text);
  if ("problems" in parsed) throw new ThreatModelError(source, parsed.problems);
  const result = ThreatModelSchema.safeParse(parsed.value, { reportInput: true });
  if (!result.success) {
    // Report reference problems too, from the parts that are well-formed, so one run lists every error.
    const schemaProblems = problemsFromIssues(result.error.issues, parsed.locate);
    const reported = new Set(schemaProblems.map((p) => p.path));
    const referenceProblems = crossReferenceProblems(lenientModel(parsed.value), parsed.locate).filter((p) => ![...reported].some((path) => p.path === path || p.path.startsWith(`${path}.`)));
    throw new ThreatModelError(source, [...schemaProblems, ...referenceProblems]);
  }
  const problems = crossReferenceProblems(result.data, parsed.locate);
  if (problems.length > 0) throw new ThreatModelError(source, problems);
  return { model: result.data, source, locate: parsed.locate, sha256: "sha256:" + createHash("sha256").update(text).digest("hex") };
}

type ElementKind = "boundaries" | "components" | "assets" | "flows" | "entryPoints" | "attackers";
const KIND_NAMES: Record<ElementKind, string> = {
  boundaries: "trust boundary",
  components: "component",
  assets: "asset",
  flows: "flow",
  entryPoints: "entry point",
  attackers: "attacker",
};

export function crossReferenceProblems(model: ThreatModel, locate: Locate | undefined): Problem[] {
  const problems: Problem[] = [];
  const add = (path: string, expected: string, found: string): void => {
    problems.push(located({ path, expected, found }, locate));
  };

  // Ids are unique per kind, and components and flows share one namespace: threat ids are `rule@element`.
  const namespaceOf = (kind: ElementKind): string => (kind === "flows" ? "components" : kind);
  const firstUse = new Map<string, string>();
  const idsOf: Record<ElementKind, Set<string>> = { boundaries: new Set(), components: new Set(), assets: new Set(), flows: new Set(), entryPoints: new Set(), attackers: new Set() };
  for (const kind of Object.keys(KIND_NAMES) as ElementKind[]) {
    model[kind].forEach((element, index) => {
      const path = `${kind}.${index}.id`;
      const key = `${namespaceOf(kind)}:${element.id}`;
      const earlier = firstUse.get(key);
      if (earlier) add(path, `an id not used before (it is already used at ${earlier})`, `duplicate id ${JSON.stringify(element.id)}`);
      else firstUse.set(key, path);
      idsOf[kind].add(element.id);
    });
  }

  const reference = (path: string, kind: ElementKind, id: string): void => {
    // "" only occurs in a model that already failed validation (lenientModel): that problem is reported.
    if (id === "" || idsOf[kind].has(id)) return;
    const known = [...idsOf[kind]].sort();
    const list = known.length === 0 ? `none is declared in ${kind}` : `one of ${known.slice(0, 12).join(", ")}${known.length > 12 ? ", ..." : ""}`;
    add(path, `the id of a ${KIND_NAMES[kind]} (${list})`, `unknown ${KIND_NAMES[kind]} ${JSON.stringify(id)}`);
  };

  model.boundaries.forEach((boundary, i) => {
    if (boundary.parent !== undefined) reference(`boundaries.${i}.parent`, "boundaries", boundary.parent);
  });
  model.components.forEach((component, i) => {
    reference(`components.${i}.boundary`, "boundaries", component.boundary);
    component.assets.forEach((asset, j) => reference(`components.${i}.assets.${j}`, "assets", asset));
    for (const [field, types] of Object.entries(TYPE_SPECIFIC_FIELDS)) {
      if ((component as Record<string, unknown>)[field] !== undefined && !types.includes(component.type)) {
        add(`components.${i}.${field}`, `${field} only on ${types.join(", ")} components`, `a ${component.type} component with ${field}`);
      }
    }
  });
  model.flows.forEach((flow, i) => {
    reference(`flows.${i}.from`, "components", flow.from);
    reference(`flows.${i}.to`, "components", flow.to);
    if (flow.from === flow.to && flow.from !== "") add(`flows.${i}.to`, "a component other than the sender", `a flow from ${JSON.stringify(flow.from)} to itself`);
    flow.data.forEach((asset, j) => reference(`flows.${i}.data.${j}`, "assets", asset));
  });
  model.entryPoints.forEach((entry, i) => reference(`entryPoints.${i}.component`, "components", entry.component));

  problems.push(...boundaryCycles(model, locate));

  const decided = new Map<string, number>();
  model.risks.forEach((risk, i) => {
    const earlier = decided.get(risk.threat);
    if (earlier !== undefined) add(`risks.${i}.threat`, `one decision per threat (already decided at risks.${earlier})`, `a second decision for ${risk.threat}`);
    else decided.set(risk.threat, i);
    if (risk.review !== undefined && risk.review < risk.date) add(`risks.${i}.review`, "a review date on or after the decision date", risk.review);
  });
  return problems;
}

/** Each cycle of `parent` links is reported once, at its earliest boundary in the file. */
function boundaryCycles(model: ThreatModel, locate: Locate | undefined): Problem[] {
  const parentOf = new Map(model.boundaries.map((b) => [b.id, b.parent]));
  const indexOf = new Map(model.boundaries.map((b, i) => [b.id, i]));
  const reported = new Set<string>();
  const problems: Problem[] = [];
  for (const boundary of model.boundaries) {
    const chain: string[] = [];
    let current: string | undefined = boundary.id;
    while (current !== undefined && parentOf.has(current) && !chain.includes(current)) {
      chain.push(current);
      current = parentOf.get(current);
    }
    if (current === undefined || !chain.includes(current)) continue;
    const cycle = chain.slice(chain.indexOf(current));
    if (cycle.some((id) => reported.has(id))) continue;
    for (const id of cycle) reported.add(id);
    const first = [...cycle].sort((a, b) => (indexOf.get(a) ?? 0) - (indexOf.get(b) ?? 0))[0] ?? current;
    const start = cycle.indexOf(first);
    const ordered = [...cycle.slice(start), ...cycle.slice(0, start), first];
    problems.push(located({ path: `boundaries.${indexOf.get(first) ?? 0}.parent`, expected: "trust boundaries that do not contain themselves", found: `the cycle ${ordered.join(" → ")}` }, locate));
  }
  return problems;
}

/**
 * The well-formed parts of a model that failed validation: element lists kept
 * where they are lists, elements kept where they are objects with a string id,
 * reference fields kept where they are strings. Enough for the reference checks,
 * which read nothing else.
 */
function lenientModel(value: unknown): ThreatModel {
  const root = isRecord(value) ? value : {};
  // An element without a usable id gets one no reference can name, so it causes no follow-on problems.
  const list = (key: string): Array<Record<string, unknown>> => (Array.isArray(root[key]) ? (root[key] as unknown[]) : []).map((e, i) => (isRecord(e) && typeof e.id === "string" ? e : { id: `\u0000${key}.${i}` }));
  const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);
  const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
  const model = {
    boundaries: list("boundaries").map((b) => ({ id: b.id, parent: str(b.parent) })),
    // Type-specific fields are only checked when the type itself is valid.
    components: list("components").map((c) => ((COMPONENT_TYPES as readonly unknown[]).includes(c.type) ? { ...c, boundary: str(c.boundary) ?? "", assets: strings(c.assets) } : { id: c.id, boundary: str(c.boundary) ?? "", assets: strings(c.assets) })),
    assets: list("assets").map((a) => ({ id: a.id })),
    flows: list("flows").map((f) => ({ id: f.id, from: str(f.from) ?? "", to: str(f.to) ?? "", data: strings(f.data) })),
    entryPoints: list("entryPoints").map((e) => ({ id: e.id, component: str(e.component) ?? "" })),
    attackers: list("attackers").map((a) => ({ id: a.id })),
    risks: (Array.isArray(root.risks) ? (root.risks as unknown[]) : []).filter(isRecord).map((r) => ({ threat: str(r.threat) ?? "", date: str(r.date) ?? "", review: str(r.review) })),
  };
  return model as unknown as ThreatModel;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
