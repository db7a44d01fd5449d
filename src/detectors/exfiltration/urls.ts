/**
 * Every URL in model output that a renderer would load by itself (markdown
 * images, HTML src/srcset/poster/data/background, stylesheets, CSS url() and
 * @import, meta refresh) or that a reader could follow (markdown and HTML links,
 * bare URLs), with where it sits in the text.
 */
import type { Span } from "../../guard/types.js";
import { anchoredMatches } from "../pii/anchored.js";

export type UrlKind = "autoload" | "link";

export interface FoundUrl {
  readonly raw: string;
  readonly kind: UrlKind;
  /** What carried it, for evidence: "markdown image", "<img src>", "css url()", ... */
  readonly via: string;
  /** The construct to cut out when redacting (the whole image or tag, not just the URL). */
  readonly span: Span;
}

// (?=(x))\1 matches x atomically (no backtracking into it), and URLs stop at brackets and parentheses
// (one level of balanced parentheses allowed), which keeps these linear on floods of unclosed constructs.
// The closing parenthesis is optional: an image still being streamed is judged by its head.
const MD_IMAGE = /!\[[^[\]\n]{0,1000}\]\(\s{0,8}<?(?=((?:[^\s()<>[\]]|\([^\s()<>[\]]{0,256}\)){1,4096}))\1>?(?:\s{1,8}(?:"[^"\n]{0,500}"|'[^'\n]{0,500}'|\([^)\n]{0,500}\)))?\s{0,8}\)?/g;
const MD_LINK = /(?<!!)\[[^[\]\n]{0,1000}\]\(\s{0,8}<?(?=((?:[^\s()<>[\]]|\([^\s()<>[\]]{0,256}\)){1,4096}))\1>?(?=([^()[\]\n]{0,500}))\2\)/g;
const MD_REF_DEFINITION = /^[ \t]{0,3}\[([^\]\n]{1,200})\]:[ \t]{0,8}<?([^\s>]{1,4096})>?/gm;
const MD_IMAGE_REFERENCE = /!\[([^[\]\n]{0,1000})\](?:\[([^\]\n]{0,200})\])?/g;
// Attribute text stops at the next "<" too, so a flood of unclosed tags costs linear time.
// MD_IMAGE, MD_LINK, HTML_TAG and BARE_URL are tried only at their anchors ("![", "[", "<", and up to
// five characters before "://"): see anchoredMatches.
const HTML_TAG = /<([a-zA-Z][a-zA-Z0-9-]{0,20})(?=[\s/>])([^<>]{0,4096})>?/g;
const HTML_ATTRIBUTE = /\b([a-zA-Z-]{1,20})\s{0,8}=\s{0,8}(?:"([^"]{0,4096})"|'([^']{0,4096})'|([^\s>"']{1,4096}))/g;
const CSS_URL = /url\(\s{0,8}(["']?)(?=([^"'()\s]{1,4096}))\2\1\s{0,8}\)|@import\s{1,8}(["'])(?=([^"'\s]{1,4096}))\4\3/gi;
const BARE_URL = /\b(?:https?|ftp|wss?):\/\/[^\s<>"'`\]\\)]{1,4096}/gi;

/** Patterns opening with a plain character are cheap to search globally: hand over early on text dense with it. */
const ANCHORED = { charsPerTry: 128 } as const;

const AUTOLOAD_TAGS = new Set(["img", "image", "iframe", "frame", "script", "embed", "object", "video", "audio", "source", "track", "input", "body", "table", "td", "link", "meta", "svg", "use", "picture", "style", "portal"]);
const URL_ATTRIBUTES = new Set(["src", "srcset", "href", "poster", "data", "background", "action", "formaction", "content", "xlink:href", "ping", "lowsrc", "dynsrc"]);

export function findUrls(text: string): FoundUrl[] {
  const found: FoundUrl[] = [];
  const covered: Span[] = [];
  const add = (raw: string, kind: UrlKind, via: string, span: Span): void => {
    found.push({ raw, kind, via, span });
    covered.push(span);
  };

  if (text.includes("](") || text.includes("]:")) {
    for (const match of anchoredMatches(text, MD_IMAGE, "![", 0, ANCHORED)) add(match[1]!, "autoload", "markdown image", spanOf(match));
    for (const match of anchoredMatches(text, MD_LINK, "[", 0, ANCHORED)) add(match[1]!, "link", "markdown link", spanOf(match));
  }
  if (text.includes("]:")) {
    const imageLabels = new Set<string>();
    for (const match of text.matchAll(MD_IMAGE_REFERENCE)) imageLabels.add((match[2] || match[1] || "").trim().toLowerCase());
    for (const match of text.matchAll(MD_REF_DEFINITION)) {
      const image = imageLabels.has(match[1]!.trim().toLowerCase());
      add(match[2]!, image ? "autoload" : "link", image ? "markdown image reference" : "markdown link reference", spanOf(match));
    }
  }
  if (text.includes("<")) {
    for (const tag of anchoredMatches(text, HTML_TAG, "<", 0, ANCHORED)) {
      const name = tag[1]!.toLowerCase();
      const attributes = tag[2] ?? "";
      const tagSpan = spanOf(tag);
      const relLoads = name === "link" && !/\brel\s*=\s*["']?(?:nofollow|noopener|noreferrer|alternate|canonical|author|license|help)\b/i.test(attributes);
      for (const attribute of attributes.matchAll(HTML_ATTRIBUTE)) {
        const attributeName = attribute[1]!.toLowerCase();
        if (!URL_ATTRIBUTES.has(attributeName)) continue;
        const value = attribute[2] ?? attribute[3] ?? attribute[4] ?? "";
        if (attributeName === "content") {
          // <meta http-equiv="refresh" content="0; url=https://...">
          const refresh = /url\s*=\s*['"]?([^'"\s>]+)/i.exec(value);
          if (name === "meta" && refresh) add(refresh[1]!, "autoload", "<meta refresh>", tagSpan);
          continue;
        }
        const autoload = attributeName === "ping" || (AUTOLOAD_TAGS.has(name) && (attributeName !== "href" || relLoads || name === "use" || name === "image")) || attributeName === "background";
        const urls = attributeName === "srcset" ? value.split(",").map((candidate) => candidate.trim().split(/\s+/)[0] ?? "") : [value];
        for (const url of urls) if (url) add(url, autoload ? "autoload" : "link", `<${name} ${attributeName}>`, tagSpan);
      }
    }
  }
  if (/url\(|@import/i.test(text)) {
    for (const match of text.matchAll(CSS_URL)) add(match[2] ?? match[4] ?? "", "autoload", match[2] ? "css url()" : "css @import", spanOf(match));
  }
  if (text.includes("://")) {
    for (const match of anchoredMatches(text, BARE_URL, "://", 5)) {
      const span = spanOf(match);
      if (covered.some((c) => c.start <= span.start && span.start < c.end)) continue;
      add(match[0].replace(/[.,;:!?]+$/, ""), "link", "URL", span);
    }
  }
  return found;
}

function spanOf(match: RegExpMatchArray): Span {
  return { start: match.index!, end: match.index! + match[0].length };
}
