/** The gateway's admin API as the page calls it: JSON over fetch with the admin key as a bearer token. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | null,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export type Query = Record<string, string | number | undefined | null>;

export class Api {
  constructor(private readonly key: string) {}

  get<T>(path: string, query: Query = {}): Promise<T> {
    return this.request<T>("GET", path, query);
  }

  post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.request<T>("POST", path, {}, body);
  }

  delete<T>(path: string): Promise<T> {
    return this.request<T>("DELETE", path);
  }

  /** A file the API answers with (an export): its text, for the page to offer as a download. */
  async text(path: string, query: Query = {}): Promise<string> {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) if (value !== undefined && value !== null && value !== "") params.set(name, String(value));
    const response = await fetch(path + (params.size ? `?${params.toString()}` : ""), { headers: { authorization: `Bearer ${this.key}` }, cache: "no-store" }).catch((error: Error) => {
      throw new ApiError(0, `The gateway did not answer (${error.message}).`, "unreachable");
    });
    const text = await response.text();
    if (!response.ok) throw new ApiError(response.status, `${path} answered ${response.status}.`, null);
    return text;
  }

  private async request<T>(method: string, path: string, query: Query = {}, body?: unknown): Promise<T> {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) if (value !== undefined && value !== null && value !== "") params.set(name, String(value));
    const url = path + (params.size ? `?${params.toString()}` : "");
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: { authorization: `Bearer ${this.key}`, accept: "application/json", ...(body !== undefined ? { "content-type": "application/json" } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        cache: "no-store",
      });
    } catch (error) {
      throw new ApiError(0, `The gateway did not answer (${(error as Error).message}).`, "unreachable");
    }
    const text = await response.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: reported below
    }
    if (!response.ok) {
      const error = (json as { error?: { message?: unknown; code?: unknown } } | null)?.error;
      throw new ApiError(response.status, typeof error?.message === "string" ? error.message : `${method} ${path} answered ${response.status}.`, typeof error?.code === "string" ? error.code : null);
    }
    if (json === null && text) throw new ApiError(response.status, `${method} ${path} did not answer with JSON.`, "not_json");
    return json as T;
  }
}
