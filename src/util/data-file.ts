/**
 * Reading the YAML data that ships with Bulwark (rule sets, libraries). These
 * files are valid in every release and are read at start-up, so they go through
 * js-yaml, several times faster than the `yaml` package; files users write
 * (policies, threat models, configuration) go through `yaml`, whose positions
 * let errors name a line and column.
 */
import { readFileSync } from "node:fs";
import { load, JSON_SCHEMA } from "js-yaml";

export function readShippedYaml(file: string | URL): unknown {
  // JSON_SCHEMA: no YAML 1.1 surprises (dates, `on`/`off` booleans) in rule data.
  return load(readFileSync(file, "utf8"), { schema: JSON_SCHEMA, filename: String(file) });
}
