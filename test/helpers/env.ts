// Tests that start a cluster with settings only the environment carries (S3 endpoint and keys):
// set them in this process, which the demo's governors inherit, and put back what was there.

/** Set `env` in process.env; the returned function restores every variable as it was. */
export function overrideEnvironment(env: Record<string, string>): () => void {
  const saved: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(env)) {
    saved[name] = process.env[name];
    process.env[name] = value;
  }
  return () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}
