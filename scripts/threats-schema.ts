/** Writes schema/threat-model.schema.json and schema/threats-output.schema.json from the zod schemas (`npm run threats:schema`). A test keeps them in step. */
import { writeFileSync } from "node:fs";
import { threatModelJsonSchema, threatReportJsonSchema } from "../src/threats/json-schema.js";
import { packagePath } from "../src/util/paths.js";

for (const [file, schema] of [
  ["threat-model.schema.json", threatModelJsonSchema()],
  ["threats-output.schema.json", threatReportJsonSchema()],
] as const) {
  const target = packagePath("schema", file);
  writeFileSync(target, JSON.stringify(schema, null, 2) + "\n");
  console.error(`wrote ${target}`);
}
