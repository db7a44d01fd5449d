/**
 * util/: small helpers with no knowledge of Bulwark's concepts (package paths, shipped
 * data files, sortable ids, problems found in user files, seeded random numbers, starting a worker
 * thread from a sibling module). Imports nothing from the rest of Bulwark.
 */
export { packagePath } from "./paths.js";
export { readShippedYaml } from "./data-file.js";
export { sortableId } from "./sortable-id.js";
export { mulberry32 } from "./random.js";
export { formatProblem, sortProblems, ProblemsError, type Problem } from "./problems.js";
export { startSiblingWorker } from "./worker.js";
