// The addresses a member key advertises, checked before anyone connects to them: governor sends
// its REST credential to a member's api_url and opens PostgreSQL sessions to its conn_url, so a
// hostile or garbled key must not be able to point either at another scheme (file:, ftp:), carry
// credentials, smuggle line breaks into a request or a config file, or name a port that cannot be.
// Pure; each check returns the problem, or null when the URL is acceptable.

// A DNS name or IPv4 address, or an IPv6 address in brackets.
const HOST = String.raw`(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])`;
// Origin-form path without query, fragment, escapes or dot segments (Patroni's "/patroni"); every
// segment starts with its slash, so matching never backtracks.
const PATH = String.raw`(?:/[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,127})*/?`;
const API_URL_RE = new RegExp(String.raw`^https?://(${HOST}):(\d{1,5})(${PATH})$`);
const CONN_URL_RE = new RegExp(String.raw`^postgres(?:ql)?://(${HOST}):(\d{1,5})(?:/[A-Za-z0-9_.-]{0,63})?$`);
const MAX_URL_LENGTH = 1024;

function common(what: string, url: string): string | null {
  if (url.length > MAX_URL_LENGTH) return `${what} is longer than ${MAX_URL_LENGTH} characters`;
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x20\x7f]/.test(url)) return `${what} contains whitespace or control characters`;
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*@/.test(url)) return `${what} carries credentials (user@host)`;
  return null;
}

function portProblem(what: string, port: string): string | null {
  const n = Number(port);
  return n >= 1 && n <= 65535 ? null : `${what} port ${port} is outside 1-65535`;
}

/** api_url: http or https, a host, an explicit port 1-65535, a plain path; nothing else. */
export function apiUrlProblem(url: string): string | null {
  const problem = common('api_url', url);
  if (problem) return problem;
  if (!/^https?:\/\//.test(url)) return 'api_url must start with http:// or https://';
  const match = API_URL_RE.exec(url);
  if (!match) return 'api_url must be http(s)://host:port with an optional plain path (no query, fragment or escapes)';
  return portProblem('api_url', match[2]!);
}

/** conn_url: postgres:// or postgresql://, a host, an explicit port 1-65535, an optional database name. */
export function connUrlProblem(url: string): string | null {
  const problem = common('conn_url', url);
  if (problem) return problem;
  if (!/^postgres(?:ql)?:\/\//.test(url)) return 'conn_url must start with postgres:// or postgresql://';
  const match = CONN_URL_RE.exec(url);
  if (!match) return 'conn_url must be postgres://host:port with an optional database name (no parameters)';
  return portProblem('conn_url', match[2]!);
}
