// An error the REST API answers with its own status code and message.

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Extra response headers (Allow for 405, Retry-After for 429). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}
