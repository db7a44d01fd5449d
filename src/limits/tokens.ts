/**
 * Token counts for limits and budgets when the upstream gives none (`usage` is
 * missing from most streamed responses): gpt-tokenizer's o200k_base, loaded on
 * first need. Until it has loaded, a count is estimated at four characters per
 * token, the tokenizer's long-run average on English text.
 */
type CountTokens = (text: string) => number;

let counter: CountTokens | null = null;
let loading: Promise<CountTokens> | null = null;

export function loadTokenCounter(): Promise<CountTokens> {
  loading ??= import("gpt-tokenizer/encoding/o200k_base").then((module) => {
    counter = (text: string) => module.countTokens(text);
    return counter;
  });
  return loading;
}

/** Tokens in `text`: exact once the tokenizer is loaded, estimated before. */
export function countTokens(text: string): number {
  if (counter !== null) return counter(text);
  void loadTokenCounter().catch(() => undefined);
  return Math.ceil(text.length / 4);
}
