import { existsSync, readFileSync } from "node:fs";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { builtInLibrary, composeLibrary, parseLibrary, parseThreatModel, type LibrarySource } from "../../src/threats/index.js";
import { evaluateRules } from "../../src/threats/engine.js";
import { ModelGraph } from "../../src/threats/facts.js";
import { scoreThreat } from "../../src/threats/scoring.js";
import { packagePath } from "../../src/util/paths.js";

const BASE = `version: 1
name: test
boundaries:
  - { id: internet, trust: untrusted }
  - { id: app, trust: internal }
  - { id: core, trust: restricted }
components:
  - { id: user, type: human, boundary: internet }
  - { id: ui, type: web_app, boundary: app, interprets: [markdown] }
  - { id: bot, type: agent, boundary: app, maxSteps: 5 }
  - { id: model, type: llm, boundary: app }
  - { id: mailer, type: tool, boundary: app, sideEffects: external, capabilities: [email_send], humanApproval: false }
  - { id: docs, type: vector_db, boundary: app, multiTenant: true, tenantIsolation: separate }
  - { id: db, type: data_store, boundary: core, assets: [records] }
assets:
  - { id: records, kind: personal_data, confidentiality: high, integrity: medium, availability: low }
flows:
  - { id: f1, from: user, to: ui }
  - { id: f2, from: ui, to: bot }
  - { id: f3, from: bot, to: model }
  - { id: f4, from: model, to: bot }
  - { id: f5, from: bot, to: mailer, data: [records] }
  - { id: f6, from: docs, to: bot }
  - { id: f7, from: db, to: bot, data: [records] }
  - { id: f8, from: bot, to: ui }
entryPoints:
  - { id: chat, component: ui, kind: direct, exposure: public }
  - { id: uploads, component: docs, kind: content, exposure: authenticated }
`;

function threatsOf(text: string, sources: LibrarySource[] = []) {
  const { model } = parseThreatModel(text, "model.yaml");
  const composed = composeLibrary(sources);
  if (!("library" in composed)) throw new Error(JSON.stringify(composed.problems));
  const graph = new ModelGraph(model);
  return evaluateRules(graph, composed.library.rules).map((t) => ({ ...t, score: scoreThreat(t, graph) }));
}
const ids = (text: string, sources: LibrarySource[] = []) => threatsOf(text, sources).map((t) => t.id);

describe("threat library", () => {
  it("loads, and covers every OWASP LLM and Agentic Top 10 id and the required threat families", () => {
    const { library } = builtInLibrary();
    const owasp = new Set(library.rules.flatMap((r) => r.owasp));
    const agentic = new Set(library.rules.flatMap((r) => r.agentic));
    for (let i = 1; i <= 10; i++) {
      expect(owasp, `LLM${String(i).padStart(2, "0")}`).toContain(`LLM${String(i).padStart(2, "0")}`);
      expect(agentic, `ASI${String(i).padStart(2, "0")}`).toContain(`ASI${String(i).padStart(2, "0")}`);
    }
    const ruleIds = library.rules.map((r) => r.id);
    for (const family of ["prompt-injection.direct", "prompt-injection.indirect", "jailbreak", "system-prompt.leakage", "sensitive-data.disclosure", "poisoning.training-data", "poisoning.fine-tuning", "poisoning.retrieval-corpus", "poisoning.agent-memory", "supply-chain.model", "supply-chain.dataset", "supply-chain.tools", "model-theft.extraction", "excessive-agency.unapproved-actions", "privilege.service-credentials", "output-handling.html", "output-handling.sql", "output-handling.shell", "consumption.denial-of-wallet", "vector-store.cross-tenant", "misinformation.over-reliance", "inter-agent.unauthenticated", "monitoring.missing"]) {
      expect(ruleIds).toContain(family);
    }
  });

  const reference = packagePath("..", "shared", "reference", "mitre-atlas", "ATLAS.yaml");
  it.skipIf(!existsSync(reference))("cites ATLAS ids and names exactly as ATLAS 5.6.0 has them", () => {
    // Read the id/name pairs straight from the text: parsing all 9,600 lines of YAML costs seconds.
    const text = readFileSync(reference, "utf8");
    const names = new Map([...text.matchAll(/^ {2}- id: (AML\.T\d{4}(?:\.\d{3})?)\n {4}name: (.+)$/gm)].map((m) => [m[1]!, (parse(m[2]!) as string).trim()]));
    expect(names.size).toBeGreaterThan(150);
    const { library, atlasNames, atlasVersion } = builtInLibrary();
    expect(atlasVersion).toBe(/^version: (\S+)$/m.exec(text)?.[1]);
    for (const rule of library.rules) {
      for (const id of rule.atlas) {
        expect(names.has(id), `${rule.id}: ${id}`).toBe(true);
        expect(atlasNames.get(id)!.endsWith(names.get(id)!), id).toBe(true);
      }
    }
  });
});

describe("rule engine", () => {
  it("finds the threats the model's shape implies, attached to the agent rather than the model it drives", () => {
    const found = ids(BASE);
    expect(found).toEqual(
      expect.arrayContaining(["prompt-injection.direct@bot", "prompt-injection.indirect@bot", "exfiltration.tool-call@bot", "spoofing.acts-as-user@bot", "excessive-agency.unapproved-actions@bot", "exfiltration.rendered-output@bot", "monitoring.missing@bot"]),
    );
    expect(found.filter((id) => id.endsWith("@model"))).toEqual([]);
  });

  it("hard negatives: an isolated store, an approved tool, a step limit and logging remove their threats", () => {
    const found = ids(BASE);
    expect(found).not.toContain("vector-store.cross-tenant@docs");
    expect(found).not.toContain("consumption.agent-loop@bot");
    const safer = ids(BASE.replace("humanApproval: false", "humanApproval: true").replace("maxSteps: 5 }", "maxSteps: 5, logging: true }"));
    expect(safer).not.toContain("excessive-agency.unapproved-actions@bot");
    expect(safer).not.toContain("monitoring.missing@bot");
    expect(ids(BASE.replace("tenantIsolation: separate", "tenantIsolation: filter"))).toContain("vector-store.cross-tenant@docs");
  });

  it("no entry point, no injection: exposure comes from entry points along flows", () => {
    const internalOnly = BASE.replace(/entryPoints:[\s\S]*$/, "entryPoints: []\n");
    const found = ids(internalOnly);
    expect(found.some((id) => id.startsWith("prompt-injection"))).toBe(false);
    expect(found).toContain("misinformation.over-reliance@bot");
  });

  it("is deterministic: the same model gives the same threats in the same order", () => {
    expect(JSON.stringify(threatsOf(BASE))).toBe(JSON.stringify(threatsOf(BASE)));
  });

  it("lets users add, override and disable rules", () => {
    const user = parseLibrary(
      [
        "rules:",
        "  - id: jailbreak",
        "    title: Overridden jailbreak on {element}",
        "    scope: component",
        "    when: { fact: type, equals: agent }",
        "    stride: elevation_of_privilege",
        "    description: Our own wording.",
        "    attack: { vector: direct, access: [query_only], knowledge: black_box, goals: [misuse] }",
        "    impact: { affects: [integrity], base: 2 }",
        "    mitigations: [guard.heuristics]",
        "  - id: acme.mail-to-competitors",
        "    title: Mail to competitors from {element}",
        "    scope: flow",
        "    when: { all: [ { fact: to.capabilities, includes: email_send }, { fact: data.confidentiality, atLeast: high } ] }",
        "    stride: information_disclosure",
        "    atlas: [AML.T0086]",
        "    description: Confidential records leave by mail.",
        "    attack: { vector: any, access: [plant_documents], knowledge: black_box, goals: [privacy] }",
        "    impact: { affects: [confidentiality], base: 3 }",
        "    mitigations: [access.human-approval]",
        "disable: [monitoring.missing]",
      ].join("\n"),
      "acme.yaml",
    );
    const threats = threatsOf(BASE, [user]);
    expect(threats.find((t) => t.id === "jailbreak@bot")).toMatchObject({ title: "Overridden jailbreak on bot", origin: "library-file" });
    expect(threats.find((t) => t.id === "acme.mail-to-competitors@f5")).toBeDefined();
    expect(threats.some((t) => t.rule.id === "monitoring.missing")).toBe(false);
  });

  it("rejects user rules that do not speak the fact catalogue, with positions", () => {
    const user = parseLibrary(
      [
        "rules:",
        "  - id: broken",
        "    title: Broken",
        "    scope: component",
        "    when:",
        "      all:",
        "        - { fact: exposure.directly, atLeast: public }",
        "        - { fact: capabilities, atLeast: shell }",
        "        - { fact: sideEffects, atLeast: explosive }",
        "    stride: tampering",
        "    atlas: [AML.T9999]",
        "    description: x",
        "    attack: { vector: direct, access: [query_only], knowledge: black_box, goals: [misuse] }",
        "    impact: { affects: [integrity], base: 2 }",
        "    mitigations: [guard.telepathy]",
        "disable: [no-such-rule]",
      ].join("\n"),
      "broken.yaml",
    );
    const composed = composeLibrary([user]);
    expect("problems" in composed).toBe(true);
    if (!("problems" in composed)) return;
    expect(composed.problems.map((p) => [p.path, p.line])).toEqual([
      ["rules.0.mitigations.0", 15],
      ["rules.0.atlas.0", 11],
      ["rules.0.when.all.0.fact", 7],
      ["rules.0.when.all.1.atLeast", 8],
      ["rules.0.when.all.2.atLeast", 9],
      ["disable.0", 16],
    ]);
  });
});

describe("scoring", () => {
  const scoreOf = (text: string, id: string) => threatsOf(text).find((t) => t.id === id)!.score;

  it("writes down each factor and multiplies likelihood by impact", () => {
    const score = scoreOf(BASE, "exfiltration.tool-call@bot");
    expect(score.factors.exposure).toEqual({ value: 4, basis: "content exposure: authenticated" });
    expect(score.factors.sensitivity).toEqual({ value: 4, basis: "records: confidentiality high" });
    expect(score.likelihood).toBe(Math.round((score.factors.exposure.value + score.factors.ease.value + score.factors.attacker.value) / 3));
    expect(score.score).toBe(score.likelihood * score.impact);
  });

  it("asset ratings drive impact, and attacker profiles drive likelihood", () => {
    const low = scoreOf(BASE.replace("confidentiality: high", "confidentiality: low"), "exfiltration.tool-call@bot");
    expect(low.impact).toBeLessThan(scoreOf(BASE, "exfiltration.tool-call@bot").impact);
    const noPlanter = BASE + "attackers:\n  - { id: visitor, access: [query_only], knowledge: black_box, goals: [privacy] }\n";
    const withPlanter = BASE + "attackers:\n  - { id: author, access: [plant_documents], knowledge: black_box, goals: [privacy] }\n";
    expect(scoreOf(noPlanter, "exfiltration.tool-call@bot").factors.attacker.value).toBe(1);
    expect(scoreOf(withPlanter, "exfiltration.tool-call@bot").factors.attacker).toEqual({ value: 5, basis: "fits attacker author" });
    expect(scoreOf(noPlanter, "exfiltration.tool-call@bot").likelihood).toBeLessThan(scoreOf(withPlanter, "exfiltration.tool-call@bot").likelihood);
  });

  it("blast radius counts only for harm that spreads into more trusted boundaries", () => {
    const spread = BASE.replace("{ id: mailer, type: tool, boundary: app,", "{ id: mailer, type: tool, boundary: core,");
    expect(scoreOf(spread, "excessive-agency.unapproved-actions@bot").factors.blastRadius.value).toBe(1);
    expect(scoreOf(BASE, "excessive-agency.unapproved-actions@bot").factors.blastRadius.value).toBe(0);
    expect(scoreOf(spread, "exfiltration.tool-call@bot").factors.blastRadius.value).toBe(0);
  });
});
