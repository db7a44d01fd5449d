/**
 * The admin key in the browser. It comes from the sign-in form or from the
 * login link `bulwark serve` prints (`/ui/#key=...`: a fragment, which
 * browsers never send to the server, so it stays out of access logs and
 * Referer headers). The page moves it into sessionStorage, which dies with
 * the tab, and wipes it from the address bar and history at once.
 */
const STORAGE_KEY = "bulwark.adminKey";

export function takeKeyFromLocation(): string | null {
  const hash = window.location.hash.replace(/^#/, "");
  if (!hash) return null;
  const params = new URLSearchParams(hash);
  const key = params.get("key");
  if (key === null) return null;
  params.delete("key");
  const rest = params.toString();
  history.replaceState(null, "", window.location.pathname + window.location.search + (rest ? `#${rest}` : ""));
  return key.trim() || null;
}

export function storedKey(): string | null {
  try {
    return sessionStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

export function storeKey(key: string | null): void {
  try {
    if (key === null) sessionStorage.removeItem(STORAGE_KEY);
    else sessionStorage.setItem(STORAGE_KEY, key);
  } catch {
    // Storage off (private mode policies): the key then lives only in this page's memory.
  }
}
