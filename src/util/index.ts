/**
 * util/: small helpers with no knowledge of Bulwark's concepts (package paths, shipped
 * data files, sortable ids, problems found in user files, seeded random numbers, starting a worker
 * thread from a sibling module, long synthetic texts for warming up detection loops). Imports nothing from the rest of Bulwark.
 */
export { packagePath } from "./paths.js";
export { readShippedYaml } from "./data-file.js";
export { sortableId } from "./sortable-id.js";
export { mulberry32 } from "./random.js";
export { formatProblem, sortProblems, ProblemsError, type Problem } from "./problems.js";
export { startSiblingWorker } from "./worker.js";
export { longWarmUpTexts } from "./warm-up-texts.js";
