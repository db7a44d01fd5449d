/** Writes schema/policy.schema.json from the zod schema (`npm run schema`). A test keeps the two in step. */
import { writeFileSync } from "node:fs";
import { policyJsonSchema } from "../src/policy/json-schema.js";
import { packagePath } from "../src/util/paths.js";
import { scanResultsJsonSchema } from "../src/redteam/results.js";

const target = packagePath("schema", "policy.schema.json");
writeFileSync(target, JSON.stringify(policyJsonSchema(), null, 2) + "\n");
console.error(`wrote ${target}`);
const scanTarget = packagePath("schema", "scan-results.schema.json");
writeFileSync(scanTarget, JSON.stringify(scanResultsJsonSchema(), null, 2) + "\n");
console.error(`wrote ${scanTarget}`);
