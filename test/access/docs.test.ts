/**
 * docs/agents.md stays runnable: its policy loads, its curl walkthrough gives the
 * answers it shows when run against the offline demo assistant, and its library
 * example prints what its comments say.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { startDemoUpstream, type DemoUpstream } from "../../src/gateway/demo-upstream.js";
import { hashKey } from "../../src/gateway/identity.js";
import { parsePolicy } from "../../src/policy/load.js";
import type { PolicyInput } from "../../src/policy/schema.js";
import { packagePath } from "../../src/util/paths.js";
import { CLIENT_KEY, TEST_POLICY, post, startGateway, testConfig, type TestGateway } from "../gateway/helpers.js";

const doc = readFileSync(packagePath("docs", "agents.md"), "utf8");
const blocks = (lang: string): string[] => [...doc.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g"))].map((match) => match[1]!);

const policyYaml = blocks("yaml")[0]!;

interface Completion {
  choices: Array<{ finish_reason: string; message: { tool_calls: Array<{ function: { name: string; arguments: string } }> } }>;
  bulwark: { denied: Array<{ name: string; reason: string }> };
}

describe("docs/agents.md", () => {
  it("has a policy that loads", () => {
    const { policy } = parsePolicy(policyYaml, "docs/agents.md");
    expect(Object.keys(policy.access.tools)).toEqual(["get_weather", "send_email", "read_file", "delete_booking"]);
  });

  describe("the walkthrough against the offline demo", () => {
    let demo: DemoUpstream;
    let gw: TestGateway;
    beforeAll(async () => {
      demo = await startDemoUpstream();
      const input = parse(policyYaml) as PolicyInput;
      // Generous layer budgets, as in every gateway test (a loaded machine must not fail a layer closed).
      const policy = { ...input, layers: { ...TEST_POLICY.layers, pii: { ...input.layers?.pii, budgetMs: 10_000 } } } as PolicyInput;
      const config = testConfig(demo.url, { roles: { cli: { models: ["*"] } }, principals: { default: { roles: ["cli"] } }, keys: [{ id: "cli", principal: "default", hash: hashKey(CLIENT_KEY) }] });
      gw = await startGateway(config, { defaultPolicy: policy });
    });
    afterAll(async () => {
      await gw?.close();
      await demo?.close();
    });

    it("answers as the document shows", async () => {
      const walkthrough = blocks("sh").find((block) => block.includes("chat() {"))!;
      const requests = [...walkthrough.matchAll(/^chat '(.*)' \\$/gm)].map((match) => JSON.parse(match[1]!) as Record<string, unknown>);
      const shown = [...walkthrough.matchAll(/^# (.*)$/gm)].map((match) => match[1]!);
      expect(requests).toHaveLength(4);
      expect(shown).toHaveLength(4);
      // The jq projections of the document, one per request.
      const projections: Array<(body: Completion) => unknown> = [
        (body) => body.choices[0]!.message.tool_calls[0]!.function,
        (body) => body.choices[0]!.message.tool_calls[0]!.function.name,
        (body) => ({ name: body.bulwark.denied[0]!.name, reason: body.bulwark.denied[0]!.reason }),
        (body) => ({ denied: body.bulwark.denied[0]!.reason, finish: body.choices[0]!.finish_reason }),
      ];
      for (const [index, request] of requests.entries()) {
        const response = await post(`${gw.url}/v1/chat/completions`, request, CLIENT_KEY);
        expect(response.status, response.text).toBe(200);
        expect(JSON.stringify(projections[index]!(response.json as unknown as Completion)), `request ${index + 1}`).toBe(shown[index]);
      }
    });
  });

  it("has a library example that prints what its comments say", () => {
    const example = blocks("ts").find((block) => block.includes("authorizeToolCalls"))!;
    const dir = mkdtempSync(join(tmpdir(), "bulwark-agents-doc-"));
    try {
      const file = join(dir, "example.mts");
      writeFileSync(file, example.replace(/from "bulwark"/g, `from ${JSON.stringify(packagePath("src", "index.ts"))}`));
      const output = execFileSync(process.execPath, ["--import", "tsx", file], { cwd: packagePath(), encoding: "utf8" });
      const expected = [...example.matchAll(/^\/\/ (.*)$/gm)].map((match) => match[1]!);
      expect(output.trimEnd().split("\n")).toEqual(expected);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
