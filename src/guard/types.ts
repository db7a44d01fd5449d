/**
 * The contracts of the guard engine: what a layer is, what it receives, what it
 * returns, and what a decision carries. Every layer, built-in or user-supplied,
 * has this one shape.
 */
import type { Category } from "../policy/categories.js";
import type { Action, FailureMode, Role } from "../policy/schema.js";
import type { GuardSession } from "./session.js";

export type { Action, Category, FailureMode, Role, GuardSession };

export type Stage = "input" | "output";
export type Trust = "trusted" | "untrusted";

/**
 * When a layer runs. `transform` layers run one after another, first, and may
 * rewrite the text later layers see (normalisation). `detect` layers then run
 * concurrently on that text. `verify` layers (slow or remote checks) run last,
 * and not at all when a block is already certain.
 */
export type Phase = "transform" | "detect" | "verify";

/**
 * UTF-16 offsets into the text the layer was given (`LayerInput.text`): for
 * transform layers that is the text as received, for detect and verify layers
 * the normalised text (`Decision.text` before redaction).
 */
export interface Span {
  readonly start: number;
  readonly end: number;
}

export interface Finding {
  /** The layer that reported it (filled in by the engine if a layer leaves it out). */
  detector: string;
  category: Category;
  /** 0..1: how sure the detector is. The policy turns scores into actions. */
  score: number;
  /** Id of the rule or signal that fired, when the detector has several. */
  ruleId?: string;
  span?: Span;
  /** A short explanation for people. Never a raw secret or personal value. */
  evidence?: string;
  /** What the span becomes when the policy redacts it (defaults to `[REDACTED:category]`). */
  replacement?: string;
}

/** Facts about the raw input, established before any layer runs. */
export interface Intake {
  /** Size of the input in UTF-8 bytes (of the bytes as given, for byte input). */
  readonly bytes: number;
  /** Invalid UTF-8 sequences replaced by U+FFFD while decoding byte input. */
  readonly invalidUtf8: number;
  /** Lone UTF-16 surrogates replaced by U+FFFD in string input. */
  readonly loneSurrogates: number;
}

/**
 * Alternative readings of the text, for detectors. `folded` is the detection view
 * (compatibility-normalised, confusables folded, lower-cased, diacritics and
 * invisible characters removed); `hidden` holds text that was smuggled in
 * invisibly (Unicode tag characters, variation selectors), decoded.
 */
export interface TextViews {
  readonly folded: string;
  /** For each UTF-16 index of `folded`, the index in `text` it came from (length folded.length + 1). */
  readonly foldedToText: ArrayLike<number> | null;
  readonly hidden: readonly string[];
}

export interface LayerInput {
  /** The text the model will see, after earlier transform layers. */
  readonly text: string;
  /** The text exactly as received (after decoding), for transform layers and the audit. */
  readonly original: string;
  readonly views: TextViews;
  readonly role: Role;
  readonly trust: Trust;
  readonly stage: Stage;
  readonly intake: Intake;
  /** Aborted when the layer's time budget runs out; long-running layers should check it. */
  readonly signal: AbortSignal;
  /** The conversation's state (pseudonym vault, canaries, system prompt), when the caller keeps one. */
  readonly session?: GuardSession;
}

export interface LayerOutput {
  findings: Finding[];
  /** Transform layers only: the rewritten text and its detection views. */
  text?: string;
  views?: TextViews;
}

export interface Layer {
  readonly name: string;
  readonly version: string;
  readonly stage: Stage | "both";
  readonly phase: Phase;
  /** Milliseconds; the engine treats a layer over budget as failed. */
  readonly budgetMs: number;
  /** Overrides the policy's failure mode for this layer. */
  readonly failureMode?: FailureMode;
  check(input: LayerInput): LayerOutput | Promise<LayerOutput>;
  /**
   * The layer may hand its work to another thread (and return a promise): the engine starts it before the
   * other layers of its phase, so that the two run at the same time. Reports keep the declared order.
   */
  readonly offloads?: boolean;
  /**
   * One-time loading (a tokenizer, model weights) that should not count against
   * the time budget of the first request that needs it. The engine awaits it
   * before the first input large enough to need it, and `guard.warmUp()` runs it
   * ahead of time (long-running hosts do that at start-up).
   */
  warmUp?(): Promise<void>;
  /**
   * The one-time loading is more than any time budget allows for (a model file): the engine awaits
   * `warmUp()` before this guard's first check, whatever its size.
   */
  readonly warmUpBeforeFirstCheck?: boolean;
}

export type LayerStatus = "ok" | "error" | "timeout" | "malformed" | "skipped";

export interface LayerReport {
  readonly name: string;
  readonly version: string;
  readonly status: LayerStatus;
  readonly durationUs: number;
  readonly findings: number;
  /** What went wrong, for error, timeout and malformed. */
  readonly error?: string;
  /** What the failure mode did about it. */
  readonly failureMode?: FailureMode;
}

export interface Redaction {
  readonly category: Category;
  readonly detector: string;
  /** Span in the normalised text, before redaction. */
  readonly span: Span;
  readonly replacement: string;
}

export interface DecidedFinding extends Finding {
  /** The action the policy assigned to this finding on its own. */
  readonly action: Action;
}

export interface Decision {
  /** Sortable unique id (ULID). */
  readonly id: string;
  readonly action: Action;
  /** Highest finding score, 0 when there are none. */
  readonly score: number;
  readonly categories: Category[];
  /** OWASP LLM Top 10 (2025) IDs of the categories. */
  readonly owasp: string[];
  readonly findings: DecidedFinding[];
  readonly layers: LayerReport[];
  /** True when any layer failed; the failure mode decided what that meant. */
  readonly degraded: boolean;
  /** The text the model should see: normalised, and redacted when the action is `redact`. */
  readonly text: string;
  readonly redactions: Redaction[];
  readonly role: Role;
  readonly stage: Stage;
  readonly policyName: string;
  /** sha256 of the resolved policy that made this decision. */
  readonly policyHash: string;
  readonly latencyUs: number;
}

export interface CheckRequest {
  /** The text to check, as a string or as raw bytes (checked as UTF-8). */
  readonly text: string | Uint8Array;
  /** Defaults to `user`. */
  readonly role?: Role;
  /** Defaults to `input`. */
  readonly stage?: Stage;
  /** The conversation this text belongs to; layers that keep per-conversation state (pseudonyms, canaries) use it. */
  readonly session?: GuardSession;
}
