/**
 * Provenance of untrusted content in a conversation (information-flow control
 * after CaMeL and FIDES, applied where a gateway can see it).
 *
 * An OpenAI-style chat API is stateless: every request carries the whole
 * conversation in its `messages`. So the conversation's provenance is derived
 * from that array each time, with no server state:
 *
 * - trusted: system and developer messages (the application's instructions) and
 *   user messages (what the person typed), unless labelled otherwise;
 * - untrusted: tool and function results, anything the application labels
 *   `bulwark_role: document` or `tool` (a whole message or one content part),
 *   and any text the input guard flagged (gateway: by location);
 * - neither: assistant turns (the model's own words, which untrusted content may
 *   have steered) are not a source of trusted values.
 *
 * A tool-call argument value is trusted when it appears verbatim (case aside, on
 * word boundaries) in a trusted text. A value that appears only in untrusted
 * content, or nowhere (the model made it up, perhaps as told by a tool result),
 * is not.
 */

/** The subset of an OpenAI chat message this module reads. */
export interface ConversationMessage {
  readonly role: string;
  readonly content?: unknown;
  /** The application's trust label (`document`, `tool`, or `user`), as the gateway accepts it. */
  readonly bulwark_role?: unknown;
}

export interface ProvenanceOptions {
  /** Locations (`messages[2].content`, `messages[3].content[0].text`) of texts the guard flagged: counted as untrusted. */
  readonly flagged?: Iterable<string>;
}

export interface ConversationProvenance {
  /** Whether any untrusted content entered the conversation. */
  readonly tainted: boolean;
  /** Locations of the untrusted texts (and of untrusted messages without text, such as a tool result with image parts). */
  readonly untrusted: readonly string[];
  /** Whether an argument value appears verbatim in a trusted part of the conversation. */
  isTrusted(value: string): boolean;
}

const LABELS = new Set(["document", "tool", "user"]);

type Trust = "trusted" | "untrusted" | "neutral";

function baseTrust(role: string): Trust {
  switch (role) {
    case "system":
    case "developer":
    case "user":
      return "trusted";
    case "tool":
    case "function":
      return "untrusted";
    default:
      return "neutral";
  }
}

function labelTrust(label: unknown): Trust | undefined {
  if (typeof label !== "string" || !LABELS.has(label)) return undefined;
  return label === "user" ? "trusted" : "untrusted";
}

/** One text of the conversation, where it sits, and how far it is trusted. */
export interface ConversationText {
  readonly location: string;
  readonly messageIndex: number;
  readonly partIndex?: number;
  readonly trust: Trust;
  readonly text: string;
}

/**
 * The conversation's texts with their trust (labels read, not removed). Untrusted
 * messages without any text part are reported with an empty text, so that they
 * still taint the conversation.
 */
export function conversationTexts(messages: readonly ConversationMessage[]): ConversationText[] {
  const out: ConversationText[] = [];
  messages.forEach((message, messageIndex) => {
    if (!message || typeof message !== "object") return;
    const trust = labelTrust(message.bulwark_role) ?? baseTrust(String(message.role));
    const content = message.content;
    if (typeof content === "string") {
      out.push({ location: `messages[${messageIndex}].content`, messageIndex, trust, text: content });
    } else if (Array.isArray(content)) {
      let any = false;
      content.forEach((part: unknown, partIndex) => {
        if (!part || typeof part !== "object") return;
        const typed = part as { type?: unknown; text?: unknown; bulwark_role?: unknown };
        const partTrust = labelTrust(typed.bulwark_role) ?? trust;
        if (typed.type === "text" && typeof typed.text === "string") {
          any = true;
          out.push({ location: `messages[${messageIndex}].content[${partIndex}].text`, messageIndex, partIndex, trust: partTrust, text: typed.text });
        } else if (partTrust === "untrusted") {
          // An image or file from a tool or document: no text to match, but it entered the conversation.
          any = true;
          out.push({ location: `messages[${messageIndex}].content[${partIndex}]`, messageIndex, partIndex, trust: partTrust, text: "" });
        }
      });
      if (!any && trust === "untrusted") out.push({ location: `messages[${messageIndex}].content`, messageIndex, trust, text: "" });
    } else if (trust === "untrusted") {
      out.push({ location: `messages[${messageIndex}].content`, messageIndex, trust, text: "" });
    }
  });
  return out;
}

const WORD = /[\p{L}\p{N}_]/u;

class Provenance implements ConversationProvenance {
  constructor(
    readonly tainted: boolean,
    readonly untrusted: readonly string[],
    /** Trusted texts, lower-cased, joined by NUL (which no value contains). */
    private readonly haystack: string,
  ) {}

  isTrusted(value: string): boolean {
    if (value.length === 0) return true;
    const needle = value.toLowerCase();
    if (needle.includes("\0")) return false;
    const first = WORD.test(needle[0]!);
    const last = WORD.test(needle[needle.length - 1]!);
    let from = 0;
    for (;;) {
      const at = this.haystack.indexOf(needle, from);
      if (at < 0) return false;
      const before = at > 0 ? this.haystack[at - 1]! : "\0";
      const after = at + needle.length < this.haystack.length ? this.haystack[at + needle.length]! : "\0";
      // On word boundaries: "bob@corp.com" is not trusted because the user typed "jimbob@corp.community".
      if ((!first || !WORD.test(before)) && (!last || !WORD.test(after))) return true;
      from = at + 1;
    }
  }
}

/** The provenance of a conversation given as its messages (a pure function of them and the flagged locations). */
export function analyzeConversation(messages: readonly ConversationMessage[], options: ProvenanceOptions = {}): ConversationProvenance {
  return provenanceOf(conversationTexts(messages), options);
}

/** As analyzeConversation, from texts already extracted (the gateway extracts them before it strips labels). */
export function provenanceOf(texts: readonly ConversationText[], options: ProvenanceOptions = {}): ConversationProvenance {
  const flagged = new Set(options.flagged ?? []);
  const untrusted: string[] = [];
  const trusted: string[] = [];
  for (const text of texts) {
    if (text.trust === "untrusted" || flagged.has(text.location)) untrusted.push(text.location);
    else if (text.trust === "trusted") trusted.push(text.text);
  }
  return new Provenance(untrusted.length > 0, untrusted, trusted.join("\0").toLowerCase());
}
