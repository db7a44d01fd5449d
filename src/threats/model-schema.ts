/**
 * The system model: what a threat model file (YAML or JSON) may say about an
 * AI system. This zod schema is the single source of truth: types are inferred
 * from it, schema/threat-model.schema.json is generated from it
 * (`npm run threats:schema`), and docs/threat-modeling.md documents it.
 *
 * Structural checks live here; checks across elements (unknown references,
 * duplicate ids, cycles) live in load-model.ts, because they need the whole
 * document and their errors must point at the offending line.
 */
import { z } from "zod";
import { LibraryFileSchema } from "./library-schema.js";

/** Element ids: also the second half of a threat id (`rule@element`), so they stay readable and URL-safe. */
export const ElementId = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, "lower-case letters, digits, dot, dash, underscore (at most 64)");

export const COMPONENT_TYPES = [
  "llm",
  "agent",
  "tool",
  "retrieval_store",
  "vector_db",
  "memory",
  "system_prompt",
  "model_artifact",
  "training_pipeline",
  "dataset",
  "external_api",
  "web_app",
  "data_store",
  "human",
] as const;

/** Ordinal scales, lowest first: conditions compare along them (`atLeast`) and scoring turns them into numbers. */
export const LEVELS = ["none", "low", "medium", "high", "critical"] as const;
export const SIDE_EFFECTS = ["none", "read", "write", "external", "destructive"] as const;
export const EXPOSURES = ["none", "internal", "partner", "authenticated", "public"] as const;
export const TRUST_LEVELS = ["untrusted", "partner", "internal", "restricted"] as const;
export const KNOWLEDGE = ["black_box", "gray_box", "white_box"] as const;

export const CAPABILITIES = [
  "shell",
  "code_execution",
  "filesystem",
  "repository",
  "package_install",
  "network",
  "browser",
  "email_send",
  "messaging",
  "database",
  "payments",
] as const;
export const INTERPRETERS = ["html", "markdown", "sql", "shell", "code"] as const;
export const PROVENANCE = ["internal", "vendor", "community"] as const;
export const ASSET_KINDS = [
  "personal_data",
  "credentials",
  "business_data",
  "source_code",
  "model_weights",
  "system_instructions",
  "training_data",
  "messages",
  "public_content",
] as const;

/** NIST AI 100-2 (E2025) attacker capabilities, reduced to the four kinds of access that change which threats are plausible. */
export const ACCESS = ["query_only", "plant_documents", "insider", "supply_chain"] as const;
/** NIST AI 100-2 attacker objectives: availability breakdown, integrity violation, privacy compromise, misuse enablement. */
export const GOALS = ["availability", "integrity", "privacy", "misuse"] as const;

const level = z.enum(LEVELS);
const text = z.string().min(1).max(4000);

export const ComponentSchema = z
  .strictObject({
    id: ElementId,
    name: z.string().min(1).max(200).optional().describe("Human-readable name; the id is used when absent."),
    type: z.enum(COMPONENT_TYPES).describe("What the component is. AI-native types change which threats apply."),
    boundary: ElementId.describe("Id of the trust boundary the component runs in."),
    description: text.optional(),
    provenance: z.enum(PROVENANCE).default("internal").describe("Who produced it: `internal`, a contracted `vendor`, or `community` (public hubs and registries, unvetted)."),
    assets: z.array(ElementId).default([]).describe("Ids of the data assets held at rest in this component (a system prompt's instructions, a store's documents)."),
    logging: z.boolean().default(false).describe("Prompts, decisions and tool calls through this component are recorded and monitored."),
    // tools
    sideEffects: z.enum(SIDE_EFFECTS).optional().describe("tool: worst effect of a call: `none`, `read`, `write`, `external` (sends or fetches outside), `destructive`. Default `read` for tools."),
    capabilities: z.array(z.enum(CAPABILITIES)).optional().describe("tool: what the tool can do."),
    humanApproval: z.boolean().optional().describe("tool: a person confirms every call before it runs."),
    sandboxed: z.boolean().optional().describe("tool: calls run isolated (container, VM, no host credentials)."),
    credentials: z.enum(["none", "user", "service"]).optional().describe("tool: whose rights a call uses: none, the end user's own delegated rights, or a shared service identity."),
    // stores
    multiTenant: z.boolean().optional().describe("retrieval_store, vector_db, memory, data_store: holds data of more than one customer or user."),
    tenantIsolation: z.enum(["none", "filter", "separate"]).optional().describe("multi-tenant stores: `none`, a tenant `filter` on every query, or `separate` indexes or databases per tenant."),
    persistent: z.boolean().optional().describe("memory: survives the conversation (default true for memory)."),
    // consumers of model output
    interprets: z.array(z.enum(INTERPRETERS)).optional().describe("What this component does with what it receives: renders `html` or `markdown`, runs `sql`, `shell` or `code`."),
    // agents
    maxSteps: z.number().int().positive().optional().describe("agent: hard limit on model/tool iterations per task."),
  })
  .describe("A part of the system.");

export const BoundarySchema = z
  .strictObject({
    id: ElementId,
    name: z.string().min(1).max(200).optional(),
    trust: z.enum(TRUST_LEVELS).describe("How far what runs inside is trusted: `untrusted` (internet, end users), `partner`, `internal`, `restricted`."),
    parent: ElementId.optional().describe("Id of the boundary this one sits inside."),
    description: text.optional(),
  })
  .describe("A trust boundary: where the trust placed in data or callers changes.");

export const AssetSchema = z
  .strictObject({
    id: ElementId,
    name: z.string().min(1).max(200).optional(),
    kind: z.enum(ASSET_KINDS),
    confidentiality: level,
    integrity: level,
    availability: level,
    description: text.optional(),
  })
  .describe("Data worth protecting, with its confidentiality, integrity and availability ratings.");

export const FlowSchema = z
  .strictObject({
    id: ElementId,
    from: ElementId.describe("Id of the sending component."),
    to: ElementId.describe("Id of the receiving component."),
    label: z.string().min(1).max(200).optional().describe("Short label for diagrams, e.g. `prompt` or `search results`."),
    data: z.array(ElementId).default([]).describe("Ids of the assets the flow carries."),
    authenticated: z.boolean().default(false).describe("The receiver verifies who sent it (mutual TLS, signed messages, an authenticated API)."),
    description: text.optional(),
  })
  .describe("Data moving from one component to another.");

export const EntryPointSchema = z
  .strictObject({
    id: ElementId,
    name: z.string().min(1).max(200).optional(),
    component: ElementId.describe("Id of the component an attacker reaches here."),
    kind: z
      .enum(["direct", "content"])
      .describe("`direct`: the attacker interacts (prompts, API calls). `content`: the attacker authors content the system later ingests (documents, web pages, e-mail, issues)."),
    exposure: z.enum(EXPOSURES.filter((e) => e !== "none") as ["internal", "partner", "authenticated", "public"]).describe("Who can use it: `public` (anyone), `authenticated` (any signed-up user), `partner`, `internal`."),
    description: text.optional(),
  })
  .describe("Where hostile input can enter.");

export const AttackerSchema = z
  .strictObject({
    id: ElementId,
    name: z.string().min(1).max(200).optional(),
    access: z.array(z.enum(ACCESS)).min(1).describe("NIST AI 100-2 capability: `query_only`, `plant_documents`, `insider`, `supply_chain`."),
    knowledge: z.enum(KNOWLEDGE).describe("NIST AI 100-2 knowledge: `black_box`, `gray_box` (knows the architecture or prompts), `white_box` (knows weights and code)."),
    goals: z.array(z.enum(GOALS)).min(1).describe("NIST AI 100-2 objectives: `availability`, `integrity`, `privacy`, `misuse`."),
    description: text.optional(),
  })
  .describe("An attacker profile along the axes of NIST AI 100-2.");

const isoDate = z.iso.date().describe("A calendar date, YYYY-MM-DD.");

export const RiskDecisionSchema = z
  .strictObject({
    threat: z.string().regex(/^[a-z0-9][a-z0-9._-]*@[a-z0-9][a-z0-9._-]*$/, "a threat id, RULE@ELEMENT").describe("Id of the threat, as reported (`rule@element`)."),
    status: z.enum(["accepted", "mitigated", "false_positive"]).describe("`accepted` (the risk is known and carried), `mitigated` (by means outside the guard policy), `false_positive` (does not apply)."),
    justification: z.string().min(20, "a justification of at least 20 characters").max(4000),
    date: isoDate,
    owner: z.string().min(1).max(200).optional(),
    review: isoDate.optional().describe("When the decision must be revisited."),
  })
  .describe("A recorded risk decision on one threat.");

export const ThreatModelSchema = z
  .strictObject({
    $schema: z.string().optional().describe("Path or URL of the JSON Schema, for editors."),
    version: z.literal(1).describe("Threat model format version."),
    name: z.string().min(1).max(200),
    description: text.optional(),
    boundaries: z.array(BoundarySchema).min(1),
    components: z.array(ComponentSchema).min(1),
    assets: z.array(AssetSchema).default([]),
    flows: z.array(FlowSchema).default([]),
    entryPoints: z.array(EntryPointSchema).default([]),
    attackers: z.array(AttackerSchema).default([]),
    controls: z
      .strictObject({
        organisational: z.array(z.string().regex(/^org\.[a-z0-9.-]+$/, "an organisational control id (org.*)")).default([]).describe("Ids of organisational controls (data/threats/controls.yaml) that are in place."),
      })
      .prefault({})
      .describe("Controls outside the guard policy that the organisation has in place (declared, not verified)."),
    risks: z.array(RiskDecisionSchema).default([]).describe("Risk decisions: accepted, mitigated, false positive."),
    library: LibraryFileSchema.optional().describe("Extra or overriding threat rules for this model."),
  })
  .describe("A Bulwark threat model: an AI system as components, trust boundaries, assets, flows, entry points and attackers.");

export type ThreatModelInput = z.input<typeof ThreatModelSchema>;
export type ThreatModel = z.output<typeof ThreatModelSchema>;
export type Component = z.output<typeof ComponentSchema>;
export type Boundary = z.output<typeof BoundarySchema>;
export type Asset = z.output<typeof AssetSchema>;
export type Flow = z.output<typeof FlowSchema>;
export type EntryPoint = z.output<typeof EntryPointSchema>;
export type Attacker = z.output<typeof AttackerSchema>;
export type RiskDecision = z.output<typeof RiskDecisionSchema>;
export type ComponentType = (typeof COMPONENT_TYPES)[number];
export type Level = (typeof LEVELS)[number];
export type Access = (typeof ACCESS)[number];
export type Knowledge = (typeof KNOWLEDGE)[number];
export type Goal = (typeof GOALS)[number];
export type Exposure = (typeof EXPOSURES)[number];
