// The one error type configuration problems are reported with.

/** Invalid configuration. `errors` holds one line per problem, each starting with the dotted
 *  field it is about (or `ENV_VAR (dotted.field)` when the value came from the environment);
 *  `message` is those lines joined with newlines. Secrets are never echoed. */
export class ConfigError extends Error {
  readonly errors: string[];

  constructor(errors: string | string[]) {
    const list = typeof errors === 'string' ? [errors] : errors.length > 0 ? errors : ['invalid configuration'];
    super(list.join('\n'));
    this.name = 'ConfigError';
    this.errors = list;
  }
}
