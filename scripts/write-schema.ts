/** Writes schema/policy.schema.json from the zod schema (`npm run schema`). A test keeps the two in step. */
import { writeFileSync } from "node:fs";
import { policyJsonSchema } from "../src/policy/json-schema.js";
import { packagePath } from "../src/util/paths.js";

const target = packagePath("schema", "policy.schema.json");
writeFileSync(target, JSON.stringify(policyJsonSchema(), null, 2) + "\n");
console.error(`wrote ${target}`);
