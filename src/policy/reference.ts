/**
 * The policy reference (docs/policy-reference.md), generated from the JSON
 * Schema so that the documentation lists exactly the fields the code accepts,
 * with their defaults and descriptions. A test keeps the committed file in step.
 */
import { CATEGORIES } from "./categories.js";
import { policyJsonSchema } from "./json-schema.js";

interface SchemaNode {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  minimum?: number;
  maximum?: number;
  properties?: Record<string, SchemaNode>;
  additionalProperties?: SchemaNode | boolean;
  propertyNames?: SchemaNode;
  items?: SchemaNode;
  anyOf?: SchemaNode[];
}

export function policyReferenceMarkdown(): string {
  const rows: string[] = [];
  walk(policyJsonSchema() as SchemaNode, "", rows);
  return [
    "# Policy reference",
    "",
    "Generated from the policy schema (`src/policy/schema.ts`) by `npm run schema`; do not edit by hand.",
    "How the fields work together is explained in [policy.md](policy.md).",
    "",
    "| field | type | default | meaning |",
    "|---|---|---|---|",
    ...rows,
    "",
    "## Categories",
    "",
    "Every finding's category, with its OWASP Top 10 for LLM Applications (2025), OWASP Top 10 for Agentic Applications and MITRE ATLAS mappings (`src/policy/categories.ts`).",
    "",
    "| category | meaning | OWASP LLM | OWASP Agentic | MITRE ATLAS |",
    "|---|---|---|---|---|",
    ...Object.entries(CATEGORIES).map(([name, info]) => `| \`${name}\` | ${cell(info.description)} | ${info.owasp.join(", ")} | ${info.agentic.join(", ")} | ${info.atlas.join(", ")} |`),
    "",
  ].join("\n");
}

function walk(node: SchemaNode, path: string, rows: string[]): void {
  if (path) rows.push(`| \`${path}\` | ${typeOf(node)} | ${node.default === undefined ? "" : "`" + cell(JSON.stringify(node.default)) + "`"} | ${cell(node.description ?? "")} |`);
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    if (key === "$schema") continue;
    walk(child, path ? `${path}.${key}` : key, rows);
  }
  // Records keyed by category or role: document the value shape once, under a placeholder key.
  if (node.propertyNames?.enum && typeof node.additionalProperties === "object") {
    walk(node.additionalProperties, `${path}.<${path.endsWith("roles") ? "role" : "category"}>`, rows);
  }
  if (node.items?.properties) walk(node.items, `${path}[]`, rows);
}

function typeOf(node: SchemaNode): string {
  if (node.const !== undefined) return `\`${JSON.stringify(node.const)}\``;
  if (node.enum) return node.enum.map((v) => `\`${String(v)}\``).join(" \\| ");
  if (node.anyOf) return node.anyOf.map(typeOf).join(" or ");
  const type = Array.isArray(node.type) ? node.type.join(" or ") : (node.type ?? "any");
  if (type === "array") return `array of ${node.items ? typeOf(node.items) : "any"}`;
  if (type === "number" && node.minimum === 0 && node.maximum === 1) return "number 0..1";
  return type;
}

function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\n/g, " ");
}
