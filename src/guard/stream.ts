/**
 * The streaming output checker: output layers applied to a token stream
 * *before* the client sees it.
 *
 * Text is released in order, and the last `holdbackChars` characters are always
 * held back until more text (or the end of the stream) arrives, so a secret,
 * personal value or canary split across chunks is judged whole before any of
 * it is released. Each check sees the newly arrived text plus the tail of what
 * was already released (as context, so patterns keep their left context), and:
 *
 * - block: the stream ends with a well-formed `error` event; nothing held back
 *   is released;
 * - redact: finished values are rewritten in flight; a value that reaches into
 *   the held-back tail (it may still be growing) is held until it is complete;
 * - allow / flag: text up to the holdback is released.
 *
 * Checks run when at least `checkEveryChars` new characters have arrived, so
 * their cost is spread over many small chunks. Bytes are decoded with a
 * streaming UTF-8 decoder (a character split across chunks is joined, invalid
 * sequences become U+FFFD). An upstream that fails mid-stream, or a guard that
 * fails, ends the stream with an `error` event and drops the held-back text.
 *
 * The same `StreamChecker` serves the library's async-iterable transform
 * (`guardStream`) and the gateway's server-sent events.
 */
import type { Category } from "../policy/categories.js";
import type { Policy, Role } from "../policy/schema.js";
import { moreSevere } from "./actions.js";
import { applyRedactions } from "./redact.js";
import type { GuardSession } from "./session.js";
import type { Action, CheckRequest, Decision, Redaction } from "./types.js";

/** The part of a guard the checker needs (a `Guard` from createGuard has it). */
export interface StreamGuard {
  readonly policy: Policy;
  check(request: CheckRequest): Promise<Decision>;
}

export interface StreamCheckOptions {
  /** The conversation; layers keeping per-conversation state (pseudonyms, canaries) use it. */
  readonly session?: GuardSession;
  /** Role of the streamed text; defaults to `assistant`. */
  readonly role?: Role;
  /** Defaults to the policy's `streaming.holdbackChars`. */
  readonly holdbackChars?: number;
  /** Defaults to the policy's `streaming.checkEveryChars`. */
  readonly checkEveryChars?: number;
  /**
   * Put original values back in place of this session's pseudonyms before
   * release: only for a caller authorised to see them.
   */
  readonly restorePseudonyms?: boolean;
}

export type StreamEvent =
  | { readonly type: "text"; readonly text: string }
  | {
      readonly type: "end";
      /** Most severe action taken on the stream: allow, flag or redact. */
      readonly action: Exclude<Action, "block">;
      readonly categories: Category[];
      readonly redactions: number;
      readonly decisionIds: string[];
    }
  | {
      readonly type: "error";
      readonly code: "blocked" | "upstream_error" | "guard_error";
      readonly message: string;
      readonly categories: Category[];
      /** The decision that blocked, for `blocked`. */
      readonly decisionId?: string;
    };

/** Largest slice of held text checked at once; a megabyte chunk is checked slice by slice. */
const MAX_SEGMENT_CHARS = 16 * 1024;
/** A value still growing past this many times the holdback is redacted as far as it has come, and released. */
const MAX_HOLD_FACTOR = 8;
/** Left context given to each check: enough for `password =`-style prefixes, small enough to keep checks cheap. */
const MAX_CONTEXT_CHARS = 128;
const PSEUDONYM_TAIL = /<[A-Z][A-Z0-9_]{0,31}(?:_\d{0,6})?$/;

export class StreamChecker {
  private readonly holdback: number;
  private readonly checkEvery: number;
  private readonly role: Role;
  private readonly decoder = new TextDecoder("utf-8", { fatal: false });
  /** Received, not yet released. */
  private pending = "";
  /** The tail of released (rewritten) text, given to each check as left context. */
  private context = "";
  /** A high surrogate that ended a string chunk, waiting for its pair. */
  private carry = "";
  /** Released text held for a pseudonym that may continue in the next release. */
  private restoreCarry = "";
  private sinceCheck = 0;
  private releasedAny = false;
  private done = false;
  private action: Exclude<Action, "block"> = "allow";
  private readonly categories = new Set<Category>();
  private readonly decisionIds: string[] = [];
  private redactionCount = 0;

  constructor(
    private readonly guard: StreamGuard,
    private readonly options: StreamCheckOptions = {},
  ) {
    this.holdback = Math.max(0, options.holdbackChars ?? guard.policy.streaming.holdbackChars);
    this.checkEvery = Math.max(1, options.checkEveryChars ?? guard.policy.streaming.checkEveryChars);
    this.role = options.role ?? "assistant";
  }

  get finished(): boolean {
    return this.done;
  }

  /** Feed one chunk; returns the events it releases (often none). */
  async push(chunk: string | Uint8Array): Promise<StreamEvent[]> {
    if (this.done) return [];
    const text = this.decode(chunk, false);
    if (text.length === 0) return [];
    this.pending += text;
    this.sinceCheck += text.length;
    const due = this.pending.length > this.holdback && (this.sinceCheck >= this.checkEvery || !this.releasedAny);
    return due ? this.run(false) : [];
  }

  /** The upstream finished: check and release the rest, then the `end` event. */
  async end(): Promise<StreamEvent[]> {
    if (this.done) return [];
    this.pending += this.decode(new Uint8Array(0), true);
    const events = await this.run(true);
    if (this.done) return events;
    this.done = true;
    if (this.restoreCarry) events.push({ type: "text", text: this.restoreCarry });
    this.restoreCarry = "";
    events.push({ type: "end", action: this.action, categories: [...this.categories], redactions: this.redactionCount, decisionIds: [...this.decisionIds] });
    return events;
  }

  /** The upstream failed: end with an error and drop everything held back. */
  abort(reason: unknown): StreamEvent[] {
    if (this.done) return [];
    this.done = true;
    this.pending = "";
    this.restoreCarry = "";
    const message = reason instanceof Error ? reason.message : String(reason);
    return [{ type: "error", code: "upstream_error", message: `upstream stream failed: ${message.slice(0, 200)}`, categories: [...this.categories] }];
  }

  private decode(chunk: string | Uint8Array, final: boolean): string {
    let text = this.carry + (typeof chunk === "string" ? chunk : this.decoder.decode(chunk, { stream: !final }));
    this.carry = "";
    if (!final && text.length > 0) {
      const last = text.charCodeAt(text.length - 1);
      if (last >= 0xd800 && last <= 0xdbff) {
        this.carry = text.slice(-1);
        text = text.slice(0, -1);
      }
    }
    // Lone surrogates left over are the engine's to repair (it replaces them with U+FFFD).
    return text;
  }

  private async run(final: boolean): Promise<StreamEvent[]> {
    const events: StreamEvent[] = [];
    this.sinceCheck = 0;
    let retries = 0;
    while (!this.done && this.pending.length > 0) {
      const segment = this.pending.slice(0, Math.max(MAX_SEGMENT_CHARS, this.holdback * (MAX_HOLD_FACTOR + 2)));
      const lastSegment = segment.length === this.pending.length;
      const window = this.context + segment;
      let decision: Decision;
      try {
        decision = await this.guard.check({ text: window, stage: "output", role: this.role, ...(this.options.session ? { session: this.options.session } : {}) });
      } catch (error) {
        return this.fail(events, "guard_error", `guard failed: ${error instanceof Error ? error.message : String(error)}`);
      }
      this.decisionIds.push(decision.id);
      for (const category of decision.categories) this.categories.add(category);
      if (decision.action === "block") {
        this.done = true;
        this.pending = "";
        this.restoreCarry = "";
        events.push({ type: "error", code: "blocked", message: `response blocked by policy (${decision.categories.join(", ") || "guard"})`, categories: decision.categories, decisionId: decision.id });
        return events;
      }

      const expected = decision.action === "redact" ? applyRedactions(window, decision.redactions).text : window;
      if (expected !== decision.text) {
        // A transform layer (normalisation) changed the text, so spans do not map onto what we hold.
        // Continue with the normalised text instead: normalising it again changes nothing.
        // Redactions the engine already applied stay applied (the held text is rewritten in place).
        if (retries++ > 0 || !decision.text.startsWith(this.context)) return this.fail(events, "guard_error", "normalisation changed already released text");
        this.pending = decision.text.slice(this.context.length) + this.pending.slice(segment.length);
        if (decision.action === "redact") {
          this.action = "redact";
          this.redactionCount += decision.redactions.filter((redaction) => redaction.span.end > this.context.length).length;
        }
        continue;
      }
      retries = 0;

      const released = this.release(window, decision, final && lastSegment);
      if (released === null) break; // everything still held: wait for more text
      if (decision.action !== "allow") this.action = moreSevere(this.action, decision.action) as Exclude<Action, "block">;
      const text = this.options.restorePseudonyms && this.options.session ? this.restore(released, final && lastSegment) : released;
      if (text.length > 0) events.push({ type: "text", text });
      if (!final && this.pending.length <= this.holdback) break;
    }
    return events;
  }

  /**
   * Release what is safe from `window` (context + segment) and keep the rest
   * pending. Returns the released text (rewritten), or null when nothing could be released.
   */
  private release(window: string, decision: Decision, final: boolean): string | null {
    const start = this.context.length;
    const segmentEnd = window.length;
    const restAfterSegment = this.pending.slice(segmentEnd - start);
    let cut = final ? segmentEnd : segmentEnd - this.holdback;
    if (!final) {
      // Never cut inside a run of non-space characters: a token longer than the holdback (a JWT, a
      // base64 blob) is not recognisable until it ends, and its head must not go out before that.
      while (cut > start && cut < segmentEnd && !isSpace(window.charCodeAt(cut - 1)) && !isSpace(window.charCodeAt(cut))) cut--;
    }
    // Redactions that reach the new text; those wholly inside the context were dealt with when it was released.
    const relevant = decision.redactions.filter((redaction) => redaction.span.end > start);
    if (!final) {
      // A value crossing the cut may still be growing: hold it whole.
      for (const redaction of relevant) {
        if (redaction.span.start < cut && redaction.span.end > cut) cut = Math.max(start, Math.min(cut, redaction.span.start));
        if (redaction.span.end === segmentEnd && restAfterSegment.length === 0) cut = Math.max(start, Math.min(cut, redaction.span.start));
      }
      if (cut <= start) {
        const held = segmentEnd - start + restAfterSegment.length;
        if (held <= this.holdback * MAX_HOLD_FACTOR) return null;
        // A runaway value: redact it as far as it has come (its redaction reaches the window's end) and move on.
        cut = segmentEnd;
      }
    }
    const applied: Redaction[] = [];
    for (const redaction of relevant) {
      if (redaction.span.end > cut) continue;
      // Part of it was released before (in the context): cut out the rest.
      const clipped = redaction.span.start < start ? { ...redaction, span: { start, end: redaction.span.end } } : redaction;
      applied.push({ ...clipped, span: { start: clipped.span.start - start, end: clipped.span.end - start } });
    }
    const raw = window.slice(start, cut);
    const rewritten = applied.length > 0 ? applyRedactions(raw, applied).text : raw;
    this.redactionCount += applied.length;
    this.pending = window.slice(cut) + restAfterSegment;
    this.context = (this.context + rewritten).slice(-Math.min(this.holdback, MAX_CONTEXT_CHARS));
    this.releasedAny = true;
    return rewritten;
  }

  /** Pseudonyms back to originals, holding a pseudonym that may be cut in two by the release boundary. */
  private restore(text: string, final: boolean): string {
    let joined = this.restoreCarry + text;
    this.restoreCarry = "";
    if (!final) {
      const tail = PSEUDONYM_TAIL.exec(joined);
      if (tail) {
        this.restoreCarry = joined.slice(tail.index);
        joined = joined.slice(0, tail.index);
      }
    }
    return this.options.session!.restore(joined);
  }

  private fail(events: StreamEvent[], code: "guard_error", message: string): StreamEvent[] {
    this.done = true;
    this.pending = "";
    this.restoreCarry = "";
    events.push({ type: "error", code, message, categories: [...this.categories] });
    return events;
  }
}

/**
 * Check a stream of model output as it arrives: an async-iterable transform
 * from text or byte chunks to `text` events, ending with one `end` or `error`
 * event. Never throws for upstream or guard failures (they become `error`).
 */
function isSpace(code: number): boolean {
  return code === 32 || code === 10 || code === 13 || code === 9 || code === 12 || code === 0xa0 || code === 0x3000 || (code >= 0x2000 && code <= 0x200a) || code === 0x2028 || code === 0x2029;
}

export async function* guardStream(guard: StreamGuard, source: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>, options: StreamCheckOptions = {}): AsyncGenerator<StreamEvent, void, undefined> {
  const checker = new StreamChecker(guard, options);
  try {
    for await (const chunk of source) {
      for (const event of await checker.push(chunk)) yield event;
      if (checker.finished) return;
    }
  } catch (error) {
    for (const event of checker.abort(error)) yield event;
    return;
  }
  for (const event of await checker.end()) yield event;
}

/**
 * The released text of a guarded stream as plain strings, for callers that
 * want a text stream: throws `StreamBlockedError` where the stream was blocked
 * or failed (after every safe chunk before it has been yielded).
 */
export async function* guardTextStream(guard: StreamGuard, source: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>, options: StreamCheckOptions = {}): AsyncGenerator<string, void, undefined> {
  for await (const event of guardStream(guard, source, options)) {
    if (event.type === "text") yield event.text;
    else if (event.type === "error") throw new StreamBlockedError(event);
  }
}

export class StreamBlockedError extends Error {
  readonly event: Extract<StreamEvent, { type: "error" }>;
  constructor(event: Extract<StreamEvent, { type: "error" }>) {
    super(event.message);
    this.name = "StreamBlockedError";
    this.event = event;
  }
}
