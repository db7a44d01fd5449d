/**
 * The threat library: the built-in rules, control catalogue and ATLAS table
 * from data/threats/, merged with a user's additions and overrides, and checked
 * as a whole: every condition speaks the fact catalogue, every mitigation is a
 * known control, every ATLAS id is a real technique. Problems carry the line
 * and column of the file they came from.
 */
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { readShippedYaml } from "../util/data-file.js";
import { z } from "zod";
import { packagePath } from "../util/paths.js";
import { factCatalogue, type FactSpec } from "./facts.js";
import { ControlCatalogueSchema, LibraryFileSchema, type Condition, type Control, type LibraryFile, type Rule } from "./library-schema.js";
import { located, parseYaml, problemsFromIssues, ThreatModelError, type Locate, type Problem } from "./problems.js";

export type RuleOrigin = "built-in" | "model" | "library-file";

export interface LibraryRule {
  readonly rule: Rule;
  readonly origin: RuleOrigin;
}

export interface ThreatLibrary {
  readonly name: string;
  readonly version: string;
  readonly rules: readonly LibraryRule[];
  readonly controls: ReadonlyMap<string, Control>;
  readonly atlasVersion: string;
  readonly atlasNames: ReadonlyMap<string, string>;
}

/** A library file together with where to report its problems. */
export interface LibrarySource {
  readonly library: LibraryFile;
  readonly origin: Exclude<RuleOrigin, "built-in">;
  readonly source: string;
  readonly locate?: Locate;
  /** Path prefix of the library inside its file (`library` when it is a model's section). */
  readonly prefix?: readonly PropertyKey[];
}

const AtlasTableSchema = z.strictObject({ version: z.string(), techniques: z.array(z.strictObject({ id: z.string(), name: z.string() })) });

interface BuiltIn {
  readonly library: LibraryFile;
  readonly controls: ReadonlyMap<string, Control>;
  readonly atlasVersion: string;
  readonly atlasNames: ReadonlyMap<string, string>;
}
let builtIn: BuiltIn | undefined;

/** The shipped data, validated once. A broken shipped file is a bug in Bulwark: it throws with every problem. */
export function builtInLibrary(): BuiltIn {
  if (builtIn) return builtIn;
  const read = <T>(file: string, schema: z.ZodType<T>): { value: T; locate: Locate; source: string } => {
    const source = packagePath("data", "threats", file);
    // Shipped data is valid in every release, so take the fast parser first; positions only matter for problems.
    const fast = schema.safeParse(readShippedYaml(source));
    if (fast.success) return { value: fast.data, locate: () => undefined, source };
    const parsed = parseYaml(readFileSync(source, "utf8"));
    if ("problems" in parsed) throw new ThreatModelError(source, parsed.problems, "threat library data");
    const result = schema.safeParse(parsed.value, { reportInput: true });
    if (!result.success) throw new ThreatModelError(source, problemsFromIssues(result.error.issues, parsed.locate), "threat library data");
    return { value: result.data, locate: parsed.locate, source };
  };
  const controlsFile = read("controls.yaml", ControlCatalogueSchema);
  const atlas = read("atlas-techniques.yaml", AtlasTableSchema);
  const libraryFile = read("library.yaml", LibraryFileSchema);
  const controls = new Map(controlsFile.value.controls.map((c) => [c.id, c]));
  const atlasNames = new Map(atlas.value.techniques.map((t) => [t.id, t.name]));
  const problems = [
    ...duplicateControlProblems(controlsFile.value.controls, controlsFile.locate),
    ...libraryProblems({ library: libraryFile.value, origin: "library-file", source: libraryFile.source, locate: libraryFile.locate }, controls, atlasNames, new Set()),
  ];
  if (problems.length > 0) {
    // Parsed the fast way, without positions: parse again to say where each problem is.
    const located = parseYaml(readFileSync(libraryFile.source, "utf8"));
    const locate = "problems" in located ? libraryFile.locate : located.locate;
    const placed = [...duplicateControlProblems(controlsFile.value.controls, controlsFile.locate), ...libraryProblems({ library: libraryFile.value, origin: "library-file", source: libraryFile.source, locate }, controls, atlasNames, new Set())];
    throw new ThreatModelError(libraryFile.source, placed, "threat library data");
  }
  builtIn = { library: libraryFile.value, controls, atlasVersion: atlas.value.version, atlasNames };
  return builtIn;
}

/** Reads a user library file (`--library`). */
export async function loadLibraryFile(path: string): Promise<LibrarySource> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (error as Error).message;
    throw new ThreatModelError(path, [{ path: "", expected: "a readable threat library file", found: reason }], "threat library");
  }
  return parseLibrary(text, path);
}

export function parseLibrary(text: string, source = "library"): LibrarySource {
  const parsed = parseYaml(text);
  if ("problems" in parsed) throw new ThreatModelError(source, parsed.problems, "threat library");
  const result = LibraryFileSchema.safeParse(parsed.value, { reportInput: true });
  if (!result.success) throw new ThreatModelError(source, problemsFromIssues(result.error.issues, parsed.locate), "threat library");
  return { library: result.data, origin: "library-file", source, locate: parsed.locate };
}

/**
 * The built-in library with the user's sources applied in order: a rule whose
 * id exists replaces it, `disable` removes rules. Returns problems (with
 * positions in each source) instead of a half-merged library.
 */
export function composeLibrary(sources: readonly LibrarySource[]): { library: ThreatLibrary } | { problems: Array<Problem & { source: string }> } {
  const base = builtInLibrary();
  const rules = new Map<string, LibraryRule>(base.library.rules.map((rule) => [rule.id, { rule, origin: "built-in" as const }]));
  const problems: Array<Problem & { source: string }> = [];
  for (const source of sources) {
    const own = libraryProblems(source, base.controls, base.atlasNames, new Set(rules.keys()));
    problems.push(...own.map((p) => ({ ...p, source: source.source })));
    if (own.length > 0) continue;
    for (const rule of source.library.rules) rules.set(rule.id, { rule, origin: source.origin });
    for (const id of source.library.disable) rules.delete(id);
  }
  if (problems.length > 0) return { problems };
  return {
    library: {
      name: base.library.name ?? "bulwark",
      version: base.library.libraryVersion ?? "0.0.0",
      rules: [...rules.values()].sort((a, b) => (a.rule.id < b.rule.id ? -1 : a.rule.id > b.rule.id ? 1 : 0)),
      controls: base.controls,
      atlasVersion: base.atlasVersion,
      atlasNames: base.atlasNames,
    },
  };
}

function duplicateControlProblems(controls: readonly Control[], locate: Locate): Problem[] {
  const seen = new Map<string, number>();
  const problems: Problem[] = [];
  controls.forEach((control, i) => {
    const earlier = seen.get(control.id);
    if (earlier !== undefined) problems.push(located({ path: `controls.${i}.id`, expected: `a control id not used before (controls.${earlier})`, found: JSON.stringify(control.id) }, locate));
    else seen.set(control.id, i);
  });
  return problems;
}

function libraryProblems(source: LibrarySource, controls: ReadonlyMap<string, Control>, atlasNames: ReadonlyMap<string, string>, existing: ReadonlySet<string>): Problem[] {
  const prefix = source.prefix ?? [];
  const problems: Problem[] = [];
  const add = (path: readonly PropertyKey[], expected: string, found: string): void => {
    const full = [...prefix, ...path];
    problems.push(located({ path: full.map(String).join("."), expected, found }, source.locate, full));
  };
  const seen = new Map<string, number>();
  source.library.rules.forEach((rule, i) => {
    const earlier = seen.get(rule.id);
    if (earlier !== undefined) add(["rules", i, "id"], `a rule id not used before in this library (rules.${earlier})`, JSON.stringify(rule.id));
    else seen.set(rule.id, i);
    rule.mitigations.forEach((id, j) => {
      if (!controls.has(id)) add(["rules", i, "mitigations", j], "a control id from data/threats/controls.yaml", `unknown control ${JSON.stringify(id)}`);
    });
    rule.atlas.forEach((id, j) => {
      if (!atlasNames.has(id)) add(["rules", i, "atlas", j], "an ATLAS technique id (ATLAS table in data/threats/atlas-techniques.yaml)", `unknown technique ${JSON.stringify(id)}`);
    });
    conditionProblems(rule.when, factCatalogue(rule.scope), ["rules", i, "when"], rule.scope, add);
  });
  source.library.disable.forEach((id, i) => {
    if (!existing.has(id) && !seen.has(id)) add(["disable", i], "the id of a rule in the library", `unknown rule ${JSON.stringify(id)}`);
  });
  return problems;
}

type AddProblem = (path: readonly PropertyKey[], expected: string, found: string) => void;

function conditionProblems(condition: Condition, facts: Readonly<Record<string, FactSpec>>, path: readonly PropertyKey[], scope: string, add: AddProblem): void {
  if (condition.all) condition.all.forEach((c, i) => conditionProblems(c, facts, [...path, "all", i], scope, add));
  if (condition.any) condition.any.forEach((c, i) => conditionProblems(c, facts, [...path, "any", i], scope, add));
  if (condition.not) conditionProblems(condition.not, facts, [...path, "not"], scope, add);
  if (condition.fact === undefined) return;
  const spec = facts[condition.fact];
  if (!spec) {
    add([...path, "fact"], `a ${scope} fact (see docs/threat-modeling.md)`, `unknown fact ${JSON.stringify(condition.fact)}`);
    return;
  }
  const allowed = "scale" in spec ? spec.scale : "values" in spec ? spec.values : undefined;
  const checkValue = (value: unknown, where: readonly PropertyKey[]): void => {
    if (allowed && (typeof value !== "string" || !allowed.includes(value))) add(where, `one of ${allowed.join(", ")} (values of ${condition.fact})`, JSON.stringify(value));
    if (spec.kind === "boolean" && typeof value !== "boolean") add(where, "true or false", JSON.stringify(value));
    if (spec.kind === "number" && typeof value !== "number") add(where, "a number", JSON.stringify(value));
  };
  if (condition.equals !== undefined) {
    if (spec.kind === "set") add([...path, "equals"], `includes or includesAny for the set fact ${condition.fact}`, "equals");
    else checkValue(condition.equals, [...path, "equals"]);
  }
  if (condition.in) {
    if (spec.kind === "set") add([...path, "in"], `includesAny for the set fact ${condition.fact}`, "in");
    else condition.in.forEach((v, i) => checkValue(v, [...path, "in", i]));
  }
  if (condition.atLeast !== undefined) {
    if (spec.kind !== "ordinal" && spec.kind !== "number") add([...path, "atLeast"], `atLeast only on ordered facts; ${condition.fact} is a ${spec.kind}`, "atLeast");
    else checkValue(condition.atLeast, [...path, "atLeast"]);
  }
  for (const op of ["includes", "includesAny"] as const) {
    const value = condition[op];
    if (value === undefined) continue;
    if (spec.kind !== "set") add([...path, op], `${op} only on set facts; ${condition.fact} is a ${spec.kind}`, op);
    else (Array.isArray(value) ? value : [value]).forEach((v, i) => checkValue(v, Array.isArray(value) ? [...path, op, i] : [...path, op]));
  }
}
