// The haproxy.cfg template, embedded because the single-file executable cannot read files next to
// the code. haproxy/haproxy.cfg.template is the readable copy; a unit test keeps the two identical.
// {{name}} placeholders are filled by render.ts; a placeholder alone on a line that expands to
// nothing removes the line.

export const HAPROXY_TEMPLATE = `# haproxy.cfg for governor cluster "{{scope}}". Rendered by governor from the cluster view in etcd:
# do not edit. When the leader or the streaming replicas change, governor changes the running HAProxy
# over its runtime API (no reload) and rewrites this file to match; a member joining reloads it.
#   port {{rw_port}}: read-write, the member holding the leader key (nobody while there is none)
#   port {{ro_port}}: read-only, the streaming replicas in round robin{{fallback_note}}
# Template: haproxy/haproxy.cfg.template in the governor repository.

global
    # Master-worker: a reload starts a new worker and leaves established sessions on the old one.
    master-worker
    # Runtime API; "expose-fd listeners" hands the listening sockets to the new worker on reload,
    # so no connection is refused while it starts. Owned by the unprivileged user HAProxy runs as:
    # governor's own HAProxy runs as governor's user (mode 600); under systemd HAProxy runs as
    # haproxy and governor reaches the socket through group haproxy (mode 660).
    stats socket {{stats_socket}} mode {{stats_socket_mode}} level admin expose-fd listeners
    pidfile {{pid_file}}
    maxconn {{maxconn}}

defaults
    mode tcp
    maxconn {{maxconn}}
    timeout connect 1s
    # Database sessions are long-lived and often idle: do not cut them after seconds.
    timeout client 30m
    timeout server 30m
    timeout check 1s
    option tcpka

listen master
    bind {{bind_address}}:{{rw_port}}{{bind_options}}
    # A refused connection (a master that just stopped) is closed at once rather than retried: each
    # retry waits a 1 s turn-around, which held clients for up to 3 s during a switchover. The client
    # reconnects and reaches whichever member holds the key by then.
    retries 0
    option httpchk
    http-check send meth GET uri /primary
    http-check expect status 200
    # One server, pointed at the leader-key holder over the runtime API the moment the key changes
    # (and marked up then: its /primary check is the second guard). A server whose /primary check
    # fails twice is marked down and its sessions are cut; a server that is down is checked every
    # {{down_interval_ms}} ms.
    default-server inter {{check_interval_ms}} downinter {{down_interval_ms}} fall 2 rise 1 on-marked-down shutdown-sessions init-addr libc,none
{{master_servers}}

listen replicas
    bind {{bind_address}}:{{ro_port}}{{bind_options}}
    balance roundrobin
    option httpchk
    http-check send meth GET uri /replica
    http-check expect status 200
    default-server inter {{check_interval_ms}} downinter {{down_interval_ms}} fall 2 rise 1 on-marked-down shutdown-sessions init-addr libc,none
{{replica_servers}}
{{stats_section}}
`;
