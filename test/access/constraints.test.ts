/** Allowlists for argument values: e-mail domains, URL hosts, path prefixes; look-alikes and traversal. */
import { describe, expect, it } from "vitest";
import { canonicalDomain, valuesAt } from "../../src/access/index.js";
import { checkRule, compileRule } from "../../src/access/constraints.js";
import { ArgumentRule } from "../../src/policy/access.js";

const rule = (input: Record<string, unknown>) => compileRule(ArgumentRule.parse(input));
const verdict = (r: ReturnType<typeof rule>, value: unknown) => checkRule(r, { v: value });

describe("e-mail domains", () => {
  const mail = rule({ argument: "v", emailDomains: ["example.com", "*.corp.example"] });

  it("allows exact domains, any case, and subdomains only where a wildcard says so", () => {
    for (const ok of ["alice@example.com", "Alice.Smith@EXAMPLE.COM", "bob@example.com.", "x@eu.corp.example", "x@a.b.corp.example"]) expect(verdict(mail, ok), ok).toBeNull();
    expect(verdict(mail, "x@corp.example")).toMatch(/not an allowed e-mail domain/); // `*.` means subdomains, not the apex
    expect(verdict(mail, "x@mail.example.com")).toMatch(/not an allowed/);
  });

  it("refuses look-alike domains", () => {
    for (const bad of ["a@example.com.evil.net", "a@evil-example.com", "a@examp1e.com", "a@exаmple.com" /* Cyrillic а */, "a@example.co", "a@xn--exmple-cua.com", "a@ex\u00adample.com", "a@exam\u200bple.com"]) {
      expect(verdict(mail, bad), bad).not.toBeNull();
    }
    expect(verdict(mail, "a@exаmple.com")).toMatch(/xn--/); // shown as the punycode the mail system would use
  });

  it("refuses anything but one plain address", () => {
    for (const bad of ["Alice <alice@example.com>", "alice@example.com, eve@evil.net", "alice@example.com;eve@evil.net", "alice@example.com eve@evil.net", "alice@evil.net@example.com", '"a@b"@example.com', "alice", "", "@example.com"]) {
      expect(verdict(mail, bad), bad).toMatch(/one plain e-mail address|invalid domain/);
    }
  });

  it("checks every element of an array, and refuses values that are not strings", () => {
    const list = rule({ argument: "to", emailDomains: ["example.com"] });
    expect(checkRule(list, { to: ["a@example.com", "b@example.com"] })).toBeNull();
    expect(checkRule(list, { to: ["a@example.com", "eve@evil.net"] })).toMatch(/^argument to\[1\] is addressed to evil\.net/);
    expect(checkRule(list, { to: 42 })).toMatch(/must be a string/);
    expect(checkRule(list, {})).toBeNull(); // absent: the schema decides whether it is required
  });
});

describe("URL hosts", () => {
  const web = rule({ argument: "v", hosts: ["api.example.com", "*.cdn.example.net"] });

  it("allows listed hosts over https only (by default)", () => {
    expect(verdict(web, "https://api.example.com/v1/items?q=1")).toBeNull();
    expect(verdict(web, "https://API.Example.COM./x")).toBeNull();
    expect(verdict(web, "https://img.cdn.example.net/a.png")).toBeNull();
    expect(verdict(web, "http://api.example.com/")).toMatch(/scheme http/);
    expect(verdict(web, "javascript:alert(1)")).toMatch(/scheme javascript/);
    expect(verdict(rule({ argument: "v", hosts: ["api.example.com"], schemes: ["http", "https"] }), "http://api.example.com/")).toBeNull();
  });

  it("sees through user-info, look-alike and encoding tricks", () => {
    for (const bad of [
      "https://api.example.com@evil.net/",
      "https://api.example.com.evil.net/",
      "https://evil.net/?https://api.example.com",
      "https://evil.net#api.example.com",
      "https://apі.example.com/" /* Cyrillic і */,
      "https://api.example.com%2eevil.net/",
      "https://api.example.com\\@evil.net/",
      "https://api.example.com /",
      "//api.example.com/x",
      "api.example.com/x",
      "https://cdn.example.net/",
      "https://api.exam\u00adple.com/",
    ]) {
      expect(verdict(web, bad), bad).not.toBeNull();
    }
  });
});

describe("path prefixes", () => {
  const files = rule({ argument: "v", pathPrefixes: ["/srv/data/", "/tmp/agent"] });

  it("allows paths inside the prefixes", () => {
    for (const ok of ["/srv/data", "/srv/data/a.txt", "/srv/data/./sub/../b.txt", "/srv/data//x", "/tmp/agent/run/1.log"]) expect(verdict(files, ok), ok).toBeNull();
  });

  it("does not let traversal or look-alike directories escape", () => {
    const cases: Array<[string, RegExp]> = [
      ["/srv/data/../etc/passwd", /resolves to "\/srv\/etc\/passwd"/],
      ["/srv/data/../../etc/shadow", /resolves to "\/etc\/shadow"/],
      ["/srv/data-evil/x", /outside/],
      ["/srv/database", /outside/],
      ["/srv/data/%2e%2e/etc/passwd", /percent-encoded/],
      ["/srv/data/..%2fetc", /percent-encoded/],
      ["/srv/data\\..\\..\\etc", /backslash/],
      ["/srv/data/a\0.txt", /NUL/],
      ["data/a.txt", /not an absolute path/],
      ["../srv/data/a", /not an absolute path/],
      ["~/x", /not an absolute path/],
    ];
    for (const [value, why] of cases) expect(verdict(files, value), value).toMatch(why);
  });
});

describe("argument paths", () => {
  it("finds values by dotted path with `*`, and applies a name across array elements", () => {
    const args = { recipients: [{ address: "a" }, { address: "b" }], files: { x: { path: "/p" }, y: { path: "/q" } } };
    expect(valuesAt(args, ["recipients", "*", "address"]).map((v) => [v.where, v.value])).toEqual([
      ["recipients[0].address", "a"],
      ["recipients[1].address", "b"],
    ]);
    expect(valuesAt(args, ["recipients", "address"]).map((v) => v.value)).toEqual(["a", "b"]);
    expect(valuesAt(args, ["files", "*", "path"]).map((v) => v.where)).toEqual(["files.x.path", "files.y.path"]);
    expect(valuesAt(args, ["missing", "x"])).toEqual([]);
    expect(valuesAt({ __proto__: { polluted: 1 } }, ["polluted"])).toEqual([]); // own properties only
  });

  it("normalises domains to punycode and rejects non-hosts", () => {
    expect(canonicalDomain("Bücher.Example")).toBe("xn--bcher-kva.example");
    expect(canonicalDomain("example.com.")).toBe("example.com");
    expect(canonicalDomain("a..b")).toBeNull();
    expect(canonicalDomain("")).toBeNull();
    expect(canonicalDomain("exa mple.com")).toBeNull();
  });

  it("refuses a rule that names no allowlist or two", () => {
    expect(ArgumentRule.safeParse({ argument: "to" }).success).toBe(false);
    expect(ArgumentRule.safeParse({ argument: "to", emailDomains: ["a.com"], hosts: ["a.com"] }).success).toBe(false);
    expect(ArgumentRule.safeParse({ argument: "to", emailDomains: ["Example.COM"] }).success).toBe(false); // lower-case, punycode
    expect(ArgumentRule.safeParse({ argument: "to", pathPrefixes: ["relative/dir"] }).success).toBe(false);
  });
});
