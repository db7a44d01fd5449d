import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { describe, expect, it } from "vitest";
import { CATEGORIES } from "../../src/policy/categories.js";
import { CatalogueError, loadCatalogue } from "../../src/redteam/catalogue.js";
import { packagePath } from "../../src/util/paths.js";

const ATLAS = packagePath("..", "shared", "reference", "mitre-atlas", "ATLAS.yaml");

describe("attack catalogue", () => {
  it("loads, with unique ids, a version, and every family the issue names", async () => {
    const catalogue = await loadCatalogue();
    expect(catalogue.version).toMatch(/^\d+\.\d+\.\d+$/);
    const ids = catalogue.cases.map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
    const categories = new Set(catalogue.cases.map((c) => c.category));
    for (const family of ["prompt_injection", "indirect_injection", "system_prompt_extraction", "secret", "pii", "exfiltration", "jailbreak", "excessive_agency", "unbounded_consumption", "malformed_input", "failure_response"]) {
      expect(categories, family).toContain(family);
    }
    // Indirect injection through tool output, crescendo cases, raw malformed bodies and boundary cases are all present.
    expect(catalogue.cases.some((c) => c.category === "indirect_injection" && c.environment)).toBe(true);
    expect(catalogue.cases.some((c) => c.turns && c.turns.length >= 3)).toBe(true);
    expect(catalogue.cases.some((c) => c.raw?.hex)).toBe(true);
    expect(catalogue.cases.filter((c) => c.id.includes("boundary")).length).toBeGreaterThanOrEqual(2);
  });

  it("tags every case with valid OWASP LLM, OWASP Agentic and ATLAS ids, and points at where it is written", async () => {
    const catalogue = await loadCatalogue();
    for (const c of catalogue.cases) {
      expect(c.owasp.length, c.id).toBeGreaterThan(0);
      for (const id of c.owasp) expect(id).toMatch(/^LLM(0[1-9]|10)$/);
      for (const id of c.agentic) expect(id).toMatch(/^ASI(0[1-9]|10)$/);
      expect(c.atlas.length, c.id).toBeGreaterThan(0);
      const text = readFileSync(packagePath(c.location.file), "utf8").split("\n");
      expect(text[c.location.line - 1], c.id).toContain(c.id);
    }
  });

  it.runIf(existsSync(ATLAS))("uses only ATLAS technique ids that exist in ATLAS 5.6.0", async () => {
    const atlas = parseYaml(readFileSync(ATLAS, "utf8")) as { matrices: Array<{ techniques: Array<{ id: string }> }> };
    const known = new Set(atlas.matrices.flatMap((m) => m.techniques.map((t) => t.id)));
    const catalogue = await loadCatalogue();
    const used = new Set([...catalogue.cases.flatMap((c) => c.atlas), ...Object.values(CATEGORIES).flatMap((c) => c.atlas)]);
    for (const id of used) expect(known, id).toContain(id);
  });
  if (!existsSync(ATLAS)) console.warn(`NOTICE: ${ATLAS} not found; ATLAS id check skipped`);

  it("rejects a malformed catalogue, naming the file, the path and the problem", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bulwark-cat-"));
    writeFileSync(join(dir, "catalogue.yaml"), "version: 1.0.0\nfiles: [bad.yaml]\n");
    writeFileSync(join(dir, "bad.yaml"), "defaults: {category: prompt_injection}\ncases:\n  - id: Bad Id\n    title: x\n    prompt: hi\n    judge: {kind: telepathy}\n");
    const error = await loadCatalogue(join(dir, "catalogue.yaml")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CatalogueError);
    expect(String((error as Error).message)).toMatch(/bad\.yaml: cases\.0\.id/);
    expect(String((error as Error).message)).toMatch(/cases\.0\.judge/);
  });
});
