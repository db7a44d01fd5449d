import { describe, expect, it } from "vitest";
import { sortableId } from "../../src/util/sortable-id.js";

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const decodeTime = (id: string) => [...id.slice(0, 10)].reduce((time, c) => time * 32 + ALPHABET.indexOf(c), 0);

describe("sortable ids", () => {
  it("are 26-character ULIDs whose time part is the decision time", () => {
    const now = Date.UTC(2026, 10, 21, 12, 0, 0);
    const id = sortableId(now);
    expect(id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(decodeTime(id)).toBe(now);
  });

  it("sort in the order they were made, also within one millisecond and when the clock steps back", () => {
    const ids = [sortableId(2_000_000_000_000), sortableId(2_000_000_000_000), sortableId(2_000_000_000_000), sortableId(1_999_999_999_000), sortableId(2_000_000_000_001)];
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });

  it("do not repeat over many ids", () => {
    const ids = new Set(Array.from({ length: 20_000 }, () => sortableId()));
    expect(ids.size).toBe(20_000);
  });
});
