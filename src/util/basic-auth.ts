// The Authorization header members and governorctl send to a REST API that has
// restapi.authentication set (every member of a cluster shares it).

export function basicAuthHeaders(auth: { username: string; password: string } | null | undefined): Record<string, string> {
  return auth ? { Authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` } : {};
}
