/**
 * util/: small helpers with no knowledge of Bulwark's concepts (package paths,
 * statistics, text utilities). Imports nothing from the rest of Bulwark.
 */
export { packagePath } from "./paths.js";
