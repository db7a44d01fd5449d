import { describe, expect, it } from "vitest";
import { PiiScanner, createPiiLayer, ibanValid, luhnValid, maskValue, ssnValid } from "../../../src/detectors/pii/index.js";
import { createGuard } from "../../../src/guard/engine.js";
import { GuardSession } from "../../../src/guard/session.js";
import type { Finding, LayerInput } from "../../../src/guard/types.js";
import { resolvePolicy } from "../../../src/policy/load.js";
import { PolicySchema } from "../../../src/policy/schema.js";
import { layerInputFor } from "../../../src/guard/layer-input.js";

const scanner = new PiiScanner();
const entities = (text: string) => scanner.scan(text).map((m) => [m.entity, text.slice(m.start, m.end)]);

function input(text: string, session?: GuardSession): LayerInput {
  return layerInputFor(text, session ? { session } : {});
}

describe("validators", () => {
  it("Luhn, mod-97 and SSN ranges accept real shapes and reject near misses", () => {
    expect(luhnValid("4111111111111111")).toBe(true);
    expect(luhnValid("4111111111111112")).toBe(false);
    expect(ibanValid("DE89370400440532013000")).toBe(true);
    expect(ibanValid("DE89370400440532013001")).toBe(false);
    expect(ibanValid("GB82WEST12345698765432")).toBe(true);
    expect(ssnValid("536", "22", "1234")).toBe(true);
    for (const [a, g, s] of [["000", "12", "3456"], ["666", "12", "3456"], ["912", "12", "3456"], ["536", "00", "1234"], ["536", "22", "0000"], ["078", "05", "1120"]]) expect(ssnValid(a!, g!, s!)).toBe(false);
  });
});

describe("PII scanner", () => {
  it("finds each entity kind in plain text", () => {
    const text = "Mail jane.roe@acme-mail.io or call (415) 555-2671. Card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, SSN 536-22-1234, from 81.2.69.160 and 2606:4700:4700::1111.";
    expect(entities(text)).toEqual([
      ["EMAIL", "jane.roe@acme-mail.io"],
      ["PHONE", "(415) 555-2671"],
      ["CARD", "4111 1111 1111 1111"],
      ["IBAN", "DE89 3704 0044 0532 0130 00"],
      ["SSN", "536-22-1234"],
      ["IP", "81.2.69.160"],
      ["IP", "2606:4700:4700::1111"],
    ]);
  });

  it("parses international and contextual phone numbers", () => {
    expect(entities("Reach me on +44 20 7946 0958 tomorrow")).toEqual([["PHONE", "+44 20 7946 0958"]]);
    expect(entities("my phone: 4155552671")).toEqual([["PHONE", "4155552671"]]);
    expect(entities("SSN 536221234")).toEqual([["SSN", "536221234"]]);
  });

  it("rejects look-alikes: invalid checksums, dates, versions, ids, private addresses, example domains", () => {
    const benign = [
      "Card 4111 1111 1111 1112 failed the checksum test",
      "Order 4155552671 shipped",
      "Released on 2023-10-15, version 1.2.3.4 of the tool",
      "Listen on 127.0.0.1:8080 or 192.168.1.20, gateway 10.0.0.1",
      "Write to support@example.com or admin@test",
      "Retina asset icon@2x.png and npm @types/node, decorator @property",
      "SSN format is 000-12-3456 or 666-12-3456",
      "The sum 1234 + 5678 = 6912 and 3.14159 2.71828",
      "Compute 12 34 56 78 90 as a list; caps: 65 16 23 59 93",
      "At 2012-11-28 02:00:00 and timestamp 1414906200.0; counts 25247 19850 45097",
      "Python 3.3.0.1 and kernel 2.6.18.6, resolvers 1.1.1.1 and 8.8.8.8, version 3.36.04.0",
      "git clone git@github.com:org/repo.git",
      "std::vector and a::b are C++ names; the time is 12:30:45",
      "IBAN DE89 3704 0044 0532 0130 01 has a wrong check digit",
    ];
    for (const text of benign) expect(entities(text), text).toEqual([]);
  });

  it("custom entities from the policy are matched and labelled", () => {
    const custom = new PiiScanner({ customEntities: [{ name: "EMPLOYEE_ID", pattern: "\\bEMP-\\d{6}\\b", flags: "", score: 0.9 }] });
    expect(custom.scan("badge EMP-123456 issued").map((m) => m.entity)).toEqual(["EMPLOYEE_ID"]);
  });

  it("a policy with a backtracking custom entity pattern is rejected at load", () => {
    expect(() => resolvePolicy({ version: 1, layers: { pii: { customEntities: [{ name: "BAD", pattern: "(a+)+$" }] } } })).toThrow(/layers\.pii\.customEntities\.0\.pattern/);
  });
});

describe("PII layer replacements", () => {
  const base = PolicySchema.parse({ version: 1 }).layers.pii;

  it("typed placeholders number distinct values and reuse them for repeats", () => {
    const layer = createPiiLayer({ ...base, mode: "placeholder" });
    const { findings } = layer.check(input("a@acme.io, b@acme.io, again A@acme.io")) as { findings: Finding[] };
    expect(findings.map((f) => f.replacement)).toEqual(["<EMAIL_1>", "<EMAIL_2>", "<EMAIL_1>"]);
    expect(findings.every((f) => f.category === "pii" && !f.evidence!.includes("@"))).toBe(true);
  });

  it("masks keep only the last four characters of numbers", () => {
    expect(maskValue({ entity: "CARD", value: "4111 1111 1111 1111" })).toBe("**** **** **** 1111");
    expect(maskValue({ entity: "EMAIL", value: "jane.roe@acme-mail.io" })).toBe("j***@***.io");
  });

  it("a pseudonymised e-mail round-trips to the authorised caller and stays hidden from others", async () => {
    const session = new GuardSession();
    const policy = resolvePolicy({ version: 1, layers: { pii: { mode: "pseudonymize" } } });
    const guard = createGuard({ policy, layers: [createPiiLayer(policy.policy.layers.pii, { session })], replaceBuiltinLayers: true });

    const first = await guard.check({ text: "Please email jane.roe@acme-mail.io about the invoice.", session });
    expect(first.action).toBe("redact");
    expect(first.text).toBe("Please email <EMAIL_1> about the invoice.");

    // A later turn, differently capitalised, in model output: the same pseudonym.
    const later = await guard.check({ text: "Sent to Jane.Roe@ACME-mail.io and cc ops@acme-mail.io.", stage: "output", role: "assistant", session });
    expect(later.text).toBe("Sent to <EMAIL_1> and cc <EMAIL_2>.");

    // The authorised caller gets the originals back; nobody else can.
    expect(session.restore(later.text)).toBe("Sent to jane.roe@acme-mail.io and cc ops@acme-mail.io.");
    expect(new GuardSession().restore(later.text)).toBe(later.text);
    expect(JSON.stringify(later)).not.toContain("jane.roe");
  });
});
