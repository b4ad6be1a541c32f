// PostgreSQL parameters that may be set only in a member's own governor.yml (postgresql.parameters),
// never in the cluster-wide configuration (bootstrap.dcs, the DCS `config` key, PATCH/PUT /config,
// `governorctl edit-config`). Whoever can write the DCS or holds the REST password is not thereby
// allowed to run programs as the PostgreSQL OS user, load code into the postmaster, or point
// PostgreSQL at other files: each of these parameters does one of those.

/** Parameter → why it is local only (the error message says it). */
export const LOCAL_ONLY_PARAMETERS: Readonly<Record<string, string>> = {
  // Shell commands PostgreSQL runs as its OS user.
  archive_command: 'runs a shell command',
  restore_command: 'runs a shell command',
  archive_cleanup_command: 'runs a shell command',
  recovery_end_command: 'runs a shell command',
  ssl_passphrase_command: 'runs a shell command',
  // Shared libraries loaded into PostgreSQL's processes.
  archive_library: 'loads a shared library',
  shared_preload_libraries: 'loads shared libraries',
  session_preload_libraries: 'loads shared libraries',
  local_preload_libraries: 'loads shared libraries',
  dynamic_library_path: 'chooses where shared libraries are loaded from',
  jit_provider: 'loads a shared library',
  // Configuration-file directives: rendered into postgresql.conf they would pull in any file.
  include: 'includes another configuration file',
  include_if_exists: 'includes another configuration file',
  include_dir: 'includes other configuration files',
  // Files and directories: a writer could redirect PostgreSQL to other data, keys or sockets,
  // make it write files elsewhere (its log), or trigger a promotion with a file.
  data_directory: 'names a directory PostgreSQL uses',
  config_file: 'names a file PostgreSQL reads',
  hba_file: 'names a file PostgreSQL reads',
  ident_file: 'names a file PostgreSQL reads',
  external_pid_file: 'names a file PostgreSQL writes',
  unix_socket_directories: 'names directories PostgreSQL creates sockets in',
  unix_socket_group: 'decides who may reach the local socket',
  unix_socket_permissions: 'decides who may reach the local socket',
  ssl_cert_file: 'names a file PostgreSQL reads',
  ssl_key_file: 'names a file PostgreSQL reads',
  ssl_ca_file: 'names a file PostgreSQL reads',
  ssl_crl_file: 'names a file PostgreSQL reads',
  ssl_crl_dir: 'names a directory PostgreSQL reads',
  ssl_dh_params_file: 'names a file PostgreSQL reads',
  krb_server_keyfile: 'names a file PostgreSQL reads',
  log_directory: 'names a directory PostgreSQL writes',
  log_filename: 'names a file PostgreSQL writes',
  log_file_mode: 'decides who may read PostgreSQL\'s log',
  promote_trigger_file: 'names a file whose presence promotes a replica',
};

/** Why `name` (any case) may not be set cluster-wide, or null when it may. */
export function localOnlyReason(name: string): string | null {
  const lower = name.toLowerCase();
  return Object.hasOwn(LOCAL_ONLY_PARAMETERS, lower) ? LOCAL_ONLY_PARAMETERS[lower]! : null;
}

/** The error for a local-only parameter found at dotted path `field`. */
export function localOnlyMessage(reason: string): string {
  return `${reason}: such parameters may be set only in postgresql.parameters of each member's governor.yml, never in the cluster-wide configuration (etcd, REST, edit-config); remove it here`;
}
