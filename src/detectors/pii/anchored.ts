/**
 * Global regular-expression search that tries a pattern only where it can
 * match: next to an anchor string every match must contain near its start
 * (a "." in an IPv4 address, "://" in a URL, "[" opening a markdown link). A
 * global search tries every position of the text, and for patterns that start
 * with a look-behind, a word boundary or a character class that costs more
 * than finding the anchors with indexOf and trying a sticky copy of the pattern
 * at the few positions before each.
 */

export interface AnchoredOptions {
  /** Stop after this many matches. */
  readonly limit?: number;
  /**
   * How many characters of global search one try at a single position costs (the global search is
   * cheap for a pattern that opens with a plain character, dear for one that opens with a
   * look-behind or a character class): the anchored search hands over after 48 tries plus one per
   * this many characters of text. Defaults to 32.
   */
  readonly charsPerTry?: number;
}

/** Sticky copies of the global patterns. */
const stickyOf = new WeakMap<RegExp, RegExp>();

/**
 * Every match of `global` in `text` (the first `limit`), exactly what `text.matchAll(global)` gives, for a pattern whose
 * every match is non-empty and contains `anchor` starting at most `reach` characters after the
 * match's start. A text dense with anchors (more tries than the global search would cost) is
 * finished with the global search from where the anchored one got to.
 */
export function anchoredMatches(text: string, global: RegExp, anchor: string, reach: number, options: AnchoredOptions = {}): RegExpExecArray[] {
  const limit = options.limit ?? Infinity;
  let sticky = stickyOf.get(global);
  if (sticky === undefined) {
    sticky = new RegExp(global.source, global.flags.replace("g", "") + "y");
    stickyOf.set(global, sticky);
  }
  const matches: RegExpExecArray[] = [];
  let tries = 48 + Math.floor(text.length / (options.charsPerTry ?? 32));
  let from = 0;
  search: for (let at = text.indexOf(anchor); at !== -1; at = text.indexOf(anchor, Math.max(at + 1, from))) {
    if (tries <= 0) {
      global.lastIndex = from;
      for (let match = global.exec(text); match !== null && matches.length < limit; match = global.exec(text)) matches.push(match);
      global.lastIndex = 0;
      return matches;
    }
    for (let position = Math.max(from, at - reach); position <= at; position++) {
      tries--;
      sticky.lastIndex = position;
      const match = sticky.exec(text);
      if (match !== null) {
        matches.push(match);
        if (matches.length >= limit) return matches;
        from = match.index + match[0].length;
        continue search;
      }
    }
    from = at + 1;
  }
  return matches;
}
