/** Writes the published JSON Schemas and docs/policy-reference.md from the zod schemas (`npm run schema`). Tests keep them in step. */
import { writeFileSync } from "node:fs";
import { policyJsonSchema } from "../src/policy/json-schema.js";
import { policyReferenceMarkdown } from "../src/policy/reference.js";
import { packagePath } from "../src/util/paths.js";
import { scanResultsJsonSchema } from "../src/redteam/results.js";

const target = packagePath("schema", "policy.schema.json");
writeFileSync(target, JSON.stringify(policyJsonSchema(), null, 2) + "\n");
console.error(`wrote ${target}`);
const scanTarget = packagePath("schema", "scan-results.schema.json");
writeFileSync(scanTarget, JSON.stringify(scanResultsJsonSchema(), null, 2) + "\n");
console.error(`wrote ${scanTarget}`);
const referenceTarget = packagePath("docs", "policy-reference.md");
writeFileSync(referenceTarget, policyReferenceMarkdown());
console.error(`wrote ${referenceTarget}`);
