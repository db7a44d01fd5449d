/**
 * Problems found in a file a person wrote (a policy, a threat model, a library),
 * each naming where it is, what was expected and what was found, and the error
 * that carries all of them at once so that nothing is half-applied.
 */
export interface Problem {
  /** Dotted path to the offending value, e.g. `limits.maxBytes` ("" for the whole document). */
  readonly path: string;
  readonly expected: string;
  readonly found: string;
  /** 1-based position in the source file, when known. */
  readonly line?: number;
  readonly column?: number;
}

export function formatProblem(problem: Problem): string {
  const where = problem.line ? `line ${problem.line}, column ${problem.column ?? 1}: ` : "";
  return `${where}${problem.path || "(document)"}: expected ${problem.expected}, found ${problem.found}`;
}

/** Problems in file order, so a reader fixes them top to bottom. */
export function sortProblems(problems: readonly Problem[]): Problem[] {
  return [...problems].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0) || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Every problem of one file, in file order; the message lists them all. */
export class ProblemsError extends Error {
  readonly problems: readonly Problem[];
  readonly source: string;
  constructor(source: string, problems: readonly Problem[], what: string) {
    const sorted = sortProblems(problems);
    super(`${source}: invalid ${what} (${sorted.length} problem${sorted.length === 1 ? "" : "s"})\n${sorted.map((p) => "  " + formatProblem(p)).join("\n")}`);
    this.problems = sorted;
    this.source = source;
  }
}
