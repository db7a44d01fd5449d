/**
 * Facts: what rules can ask about a component or a flow. Some are declared in
 * the model (a tool's side effects), others are derived from the graph of flows
 * (how exposed a component is, which tools an agent drives, what its output
 * reaches). Rules only see facts, so the catalogue below is the whole language
 * a rule can speak, and user rules are checked against it when they load.
 */
import {
  ASSET_KINDS,
  CAPABILITIES,
  COMPONENT_TYPES,
  EXPOSURES,
  INTERPRETERS,
  LEVELS,
  PROVENANCE,
  SIDE_EFFECTS,
  TRUST_LEVELS,
  type Component,
  type Exposure,
  type Flow,
  type ThreatModel,
} from "./model-schema.js";

export type FactValue = string | number | boolean | readonly string[];
export type FactSpec =
  | { readonly kind: "ordinal"; readonly scale: readonly string[]; readonly doc: string }
  | { readonly kind: "enum"; readonly values: readonly string[]; readonly doc: string }
  | { readonly kind: "set"; readonly values: readonly string[]; readonly doc: string }
  | { readonly kind: "boolean"; readonly doc: string }
  | { readonly kind: "number"; readonly doc: string }
  | { readonly kind: "string"; readonly doc: string };

const ordinal = (scale: readonly string[], doc: string): FactSpec => ({ kind: "ordinal", scale, doc });
const set = (values: readonly string[], doc: string): FactSpec => ({ kind: "set", values, doc });
const oneOf = (values: readonly string[], doc: string): FactSpec => ({ kind: "enum", values, doc });
const bool = (doc: string): FactSpec => ({ kind: "boolean", doc });
const num = (doc: string): FactSpec => ({ kind: "number", doc });

export const COMPONENT_FACTS = {
  id: { kind: "string", doc: "the component's id" },
  type: oneOf(COMPONENT_TYPES, "the component's type"),
  decides: bool("it is where model decisions are made: an agent, or an llm that no agent drives (an llm called by an agent is part of that agent, so threats attach to the agent)"),
  provenance: oneOf(PROVENANCE, "who produced it"),
  "boundary.trust": ordinal(TRUST_LEVELS, "trust level of its boundary"),
  sideEffects: ordinal(SIDE_EFFECTS, "a tool's worst side effect (`read` when a tool does not say; `none` for other types)"),
  capabilities: set(CAPABILITIES, "a tool's capabilities"),
  humanApproval: bool("a tool's calls are confirmed by a person"),
  sandboxed: bool("a tool runs isolated"),
  credentials: oneOf(["none", "user", "service"], "whose rights a tool uses (`none` when not said)"),
  multiTenant: bool("a store holds more than one tenant's data"),
  tenantIsolation: oneOf(["none", "filter", "separate"], "how a multi-tenant store separates tenants (`none` when not said)"),
  persistent: bool("memory outlives the conversation (memory defaults to true)"),
  interprets: set(INTERPRETERS, "what the component does with what it receives"),
  logging: bool("calls through it are recorded and monitored"),
  stepLimit: bool("an agent has maxSteps"),
  "assets.kinds": set(ASSET_KINDS, "kinds of assets held at rest"),
  "assets.confidentiality": ordinal(LEVELS, "highest confidentiality of assets held at rest"),
  "inputs.kinds": set(ASSET_KINDS, "kinds of assets held or arriving on inbound flows"),
  "inputs.confidentiality": ordinal(LEVELS, "highest confidentiality of assets held or arriving"),
  "inputs.from": set(COMPONENT_TYPES, "types of the components that send to it"),
  "inputs.fromProvenance": set(PROVENANCE, "provenance of the components that send to it"),
  "outputs.to": set(COMPONENT_TYPES, "types of the components it sends to"),
  "outputs.interprets": set(INTERPRETERS, "what is done with its output downstream: `interprets` of every component its output reaches through application code (stopping at models, agents and people, which produce new output), plus shell, code and sql for tools with those capabilities"),
  "exposure.direct": ordinal(EXPOSURES, "widest exposure of a `direct` entry point whose input can reach it along flows"),
  "exposure.content": ordinal(EXPOSURES, "widest exposure of a `content` entry point whose content can reach it along flows"),
  "exposure.any": ordinal(EXPOSURES, "the wider of exposure.direct and exposure.content"),
  "tools.count": num("number of tools it sends to"),
  "tools.capabilities": set(CAPABILITIES, "capabilities of the tools it sends to"),
  "tools.sideEffects": ordinal(SIDE_EFFECTS, "worst side effect among the tools it sends to"),
  "tools.unapprovedSideEffects": ordinal(SIDE_EFFECTS, "worst side effect among those tools that run without human approval"),
  "tools.unsandboxedCapabilities": set(CAPABILITIES, "capabilities of those tools that are not sandboxed"),
  "tools.credentials": set(["none", "user", "service"], "whose rights those tools use"),
  "tools.provenance": set(PROVENANCE, "provenance of those tools"),
  "reach.boundaries": num("trust boundaries other than its own that its output reaches, directly or through other components"),
} as const satisfies Record<string, FactSpec>;

const FLOW_OWN_FACTS = {
  id: { kind: "string", doc: "the flow's id" },
  authenticated: bool("the receiver verifies the sender"),
  crossesBoundary: bool("sender and receiver are in different trust boundaries"),
  trustDrop: bool("the receiver's boundary is trusted less than the sender's"),
  trustRaise: bool("the receiver's boundary is trusted more than the sender's"),
  "data.kinds": set(ASSET_KINDS, "kinds of the assets it carries"),
  "data.confidentiality": ordinal(LEVELS, "highest confidentiality of the assets it carries"),
} as const satisfies Record<string, FactSpec>;

/** Flow facts: the flow's own, plus every component fact of its sender (`from.*`) and receiver (`to.*`). */
export const FLOW_FACTS: Readonly<Record<string, FactSpec>> = {
  ...FLOW_OWN_FACTS,
  ...Object.fromEntries(Object.entries(COMPONENT_FACTS).flatMap(([name, spec]) => [[`from.${name}`, spec], [`to.${name}`, spec]])),
};

export type Facts = Readonly<Record<string, FactValue>>;

export function factCatalogue(scope: "component" | "flow"): Readonly<Record<string, FactSpec>> {
  return scope === "component" ? COMPONENT_FACTS : FLOW_FACTS;
}

const rank = (scale: readonly string[], value: string): number => scale.indexOf(value);
const maxOf = <T extends string>(scale: readonly T[], values: Iterable<T>): T => {
  let best = scale[0] as T;
  for (const v of values) if (rank(scale, v) > rank(scale, best)) best = v;
  return best;
};
const sorted = (values: Iterable<string>): string[] => [...new Set(values)].sort();

const CAPABILITY_INTERPRETS: Partial<Record<(typeof CAPABILITIES)[number], (typeof INTERPRETERS)[number]>> = {
  shell: "shell",
  code_execution: "code",
  database: "sql",
};

/** The model as a graph, with the facts of every component and flow computed once. */
export class ModelGraph {
  readonly model: ThreatModel;
  readonly components: ReadonlyMap<string, Component>;
  readonly componentFacts: ReadonlyMap<string, Facts>;
  readonly flowFacts: ReadonlyMap<string, Facts>;
  private readonly successors = new Map<string, Set<string>>();
  private readonly predecessors = new Map<string, Set<string>>();

  constructor(model: ThreatModel) {
    this.model = model;
    this.components = new Map(model.components.map((c) => [c.id, c]));
    for (const c of model.components) {
      this.successors.set(c.id, new Set());
      this.predecessors.set(c.id, new Set());
    }
    for (const flow of model.flows) {
      this.successors.get(flow.from)?.add(flow.to);
      this.predecessors.get(flow.to)?.add(flow.from);
    }
    const exposure = this.exposures();
    const facts = new Map<string, Facts>();
    for (const c of model.components) facts.set(c.id, this.factsOf(c, exposure.get(c.id) ?? { direct: "none", content: "none" }));
    this.componentFacts = facts;
    this.flowFacts = new Map(model.flows.map((f) => [f.id, this.factsOfFlow(f)]));
  }

  trustOf(componentId: string): (typeof TRUST_LEVELS)[number] {
    const boundaryId = this.components.get(componentId)?.boundary;
    return this.model.boundaries.find((b) => b.id === boundaryId)?.trust ?? "untrusted";
  }

  /** Components reachable from `start` along flows, `start` included. */
  reachable(start: string): Set<string> {
    const seen = new Set<string>([start]);
    const queue = [start];
    while (queue.length > 0) {
      const current = queue.shift() as string;
      for (const next of [...(this.successors.get(current) ?? [])].sort()) {
        if (!seen.has(next)) {
          seen.add(next);
          queue.push(next);
        }
      }
    }
    return seen;
  }

  /**
   * Components the output of `start` reaches while it is still that output: through application code,
   * tools and stores, but not past a model, an agent or a person, who produce something new from it.
   */
  downstreamOfOutput(start: string): Set<string> {
    const seen = new Set<string>();
    const queue = [...(this.successors.get(start) ?? [])].sort();
    while (queue.length > 0) {
      const current = queue.shift() as string;
      if (seen.has(current) || current === start) continue;
      seen.add(current);
      const type = this.components.get(current)?.type;
      if (type === "llm" || type === "agent" || type === "human") continue;
      queue.push(...[...(this.successors.get(current) ?? [])].sort());
    }
    return seen;
  }

  /** Boundaries other than the component's own that its output reaches. */
  boundariesReached(componentId: string): string[] {
    const own = this.components.get(componentId)?.boundary;
    return sorted([...this.reachable(componentId)].map((id) => this.components.get(id)?.boundary ?? "").filter((b) => b !== "" && b !== own));
  }

  private exposures(): Map<string, { direct: Exposure; content: Exposure }> {
    const result = new Map<string, { direct: Exposure; content: Exposure }>();
    for (const c of this.model.components) result.set(c.id, { direct: "none", content: "none" });
    for (const entry of this.model.entryPoints) {
      for (const id of this.reachable(entry.component)) {
        const current = result.get(id);
        if (current) current[entry.kind] = maxOf(EXPOSURES, [current[entry.kind], entry.exposure]);
      }
    }
    return result;
  }

  private factsOf(c: Component, exposure: { direct: Exposure; content: Exposure }): Facts {
    const assets = new Map(this.model.assets.map((a) => [a.id, a]));
    const held = c.assets.map((id) => assets.get(id)).filter((a) => a !== undefined);
    const inbound = this.model.flows.filter((f) => f.to === c.id).flatMap((f) => f.data.map((id) => assets.get(id)).filter((a) => a !== undefined));
    const predecessors = [...(this.predecessors.get(c.id) ?? [])].map((id) => this.components.get(id)).filter((x) => x !== undefined);
    const successors = [...(this.successors.get(c.id) ?? [])].map((id) => this.components.get(id)).filter((x) => x !== undefined);
    const tools = successors.filter((s) => s.type === "tool");
    const sideEffectsOf = (t: Component): (typeof SIDE_EFFECTS)[number] => t.sideEffects ?? (t.type === "tool" ? "read" : "none");
    const outputsInterpret = [...this.downstreamOfOutput(c.id)].flatMap((id) => {
      const s = this.components.get(id);
      return s ? [...(s.interprets ?? []), ...(s.capabilities ?? []).flatMap((cap) => CAPABILITY_INTERPRETS[cap] ?? [])] : [];
    });
    return {
      id: c.id,
      type: c.type,
      decides: c.type === "agent" || (c.type === "llm" && !predecessors.some((p) => p.type === "agent")),
      provenance: c.provenance,
      "boundary.trust": this.trustOf(c.id),
      sideEffects: sideEffectsOf(c),
      capabilities: sorted(c.capabilities ?? []),
      humanApproval: c.humanApproval ?? false,
      sandboxed: c.sandboxed ?? false,
      credentials: c.credentials ?? "none",
      multiTenant: c.multiTenant ?? false,
      tenantIsolation: c.tenantIsolation ?? "none",
      persistent: c.persistent ?? c.type === "memory",
      interprets: sorted(c.interprets ?? []),
      logging: c.logging,
      stepLimit: c.maxSteps !== undefined,
      "assets.kinds": sorted(held.map((a) => a.kind)),
      "assets.confidentiality": maxOf(LEVELS, held.map((a) => a.confidentiality)),
      "inputs.kinds": sorted([...held, ...inbound].map((a) => a.kind)),
      "inputs.confidentiality": maxOf(LEVELS, [...held, ...inbound].map((a) => a.confidentiality)),
      "inputs.from": sorted(predecessors.map((p) => p.type)),
      "inputs.fromProvenance": sorted(predecessors.map((p) => p.provenance)),
      "outputs.to": sorted(successors.map((s) => s.type)),
      "outputs.interprets": sorted(outputsInterpret),
      "exposure.direct": exposure.direct,
      "exposure.content": exposure.content,
      "exposure.any": maxOf(EXPOSURES, [exposure.direct, exposure.content]),
      "tools.count": tools.length,
      "tools.capabilities": sorted(tools.flatMap((t) => t.capabilities ?? [])),
      "tools.sideEffects": maxOf(SIDE_EFFECTS, tools.map(sideEffectsOf)),
      "tools.unapprovedSideEffects": maxOf(SIDE_EFFECTS, tools.filter((t) => !t.humanApproval).map(sideEffectsOf)),
      "tools.unsandboxedCapabilities": sorted(tools.filter((t) => !t.sandboxed).flatMap((t) => t.capabilities ?? [])),
      "tools.credentials": sorted(tools.map((t) => t.credentials ?? "none")),
      "tools.provenance": sorted(tools.map((t) => t.provenance)),
      "reach.boundaries": this.boundariesReached(c.id).length,
    };
  }

  private factsOfFlow(flow: Flow): Facts {
    const assets = new Map(this.model.assets.map((a) => [a.id, a]));
    const carried = flow.data.map((id) => assets.get(id)).filter((a) => a !== undefined);
    const fromTrust = rank(TRUST_LEVELS, this.trustOf(flow.from));
    const toTrust = rank(TRUST_LEVELS, this.trustOf(flow.to));
    const facts: Record<string, FactValue> = {
      id: flow.id,
      authenticated: flow.authenticated,
      crossesBoundary: this.components.get(flow.from)?.boundary !== this.components.get(flow.to)?.boundary,
      trustDrop: toTrust < fromTrust,
      trustRaise: toTrust > fromTrust,
      "data.kinds": sorted(carried.map((a) => a.kind)),
      "data.confidentiality": maxOf(LEVELS, carried.map((a) => a.confidentiality)),
    };
    for (const [side, id] of [["from", flow.from], ["to", flow.to]] as const) {
      for (const [name, value] of Object.entries(this.componentFacts.get(id) ?? {})) facts[`${side}.${name}`] = value;
    }
    return facts;
  }
}
