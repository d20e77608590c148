#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A private Postfix instance for tests, on 127.0.0.1, in a directory of its own.
#
# Usage:
#   postfix_instance.sh start DIR [PORT] [RELAY]   start; prints "port NNNNN" on stdout
#   postfix_instance.sh stop DIR                   stop the instance and remove DIR
#   postfix_instance.sh wait DIR COUNT [SECONDS]   wait until DIR/mail/new holds COUNT files
#
# DIR is created (it must not exist or be empty) and holds everything: DIR/etc (main.cf,
# master.cf), DIR/queue (queue_directory), DIR/data (data_directory), DIR/mail (a maildir
# receiving every message for any recipient @example.com and @localhost, delivered by
# virtual(8)), DIR/maillog (Postfix's log: master runs as "postfix start-fg" logging to stdout), DIR/port.
# PORT: the smtpd port (default: a free port). RELAY: "HOST:PORT" to relay mail for any
# other domain through Postfix's smtp client (which pipelines) instead of bouncing it, or
# "lmtp:unix:PATH" / "lmtp:inet:HOST:PORT" to deliver it with Postfix's LMTP client.
# Settings that matter to the tests: mynetworks=127.0.0.0/8, smtpd_forbid_bare_newline=yes
# (with no exclusions), no chroot, no TLS, compatibility_level=3.6.
# Nothing outside DIR is written; the system-wide Postfix is not touched. Needs root
# (Postfix's master runs as root and drops to the "postfix" user for its daemons).
set -euo pipefail

die() { echo "postfix_instance: $*" >&2; exit 1; }

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

DAEMON_DIR=$(postconf -dh daemon_directory 2>/dev/null || echo /usr/lib/postfix/sbin)

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: $0 start|stop|wait DIR ..."

case "$cmd" in
start)
  port=${3:-}; relay=${4:-}
  [ "$(id -u)" -eq 0 ] || die "needs root (Postfix master runs as root)"
  id postfix >/dev/null 2>&1 || die "no 'postfix' user: install the postfix package"
  [ -x "$DAEMON_DIR/master" ] || die "no $DAEMON_DIR/master"
  [ -n "$port" ] || port=$(free_port)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  case "$dir" in /|/etc*|/var/spool/postfix*|/usr*) die "refusing DIR=$dir";; esac
  mkdir -p "$dir/etc" "$dir/queue" "$dir/data" "$dir/mail"
  # Postfix wants its queue and data to belong to mail_owner; DIR's parents must be
  # traversable by that user for virtual(8) to reach the mailbox.
  chmod 755 "$dir"
  for q in active bounce corrupt defer deferred flush hold incoming private saved trace; do
    mkdir -p "$dir/queue/$q"; chown postfix "$dir/queue/$q"; chmod 700 "$dir/queue/$q"
  done
  mkdir -p "$dir/queue/maildrop" "$dir/queue/public" "$dir/queue/pid"
  chown postfix:postdrop "$dir/queue/maildrop" "$dir/queue/public"
  chmod 730 "$dir/queue/maildrop"; chmod 710 "$dir/queue/public"
  chown root "$dir/queue" "$dir/queue/pid"; chmod 755 "$dir/queue" "$dir/queue/pid"
  chown postfix "$dir/data" "$dir/mail"; chmod 700 "$dir/data"
  postfix_uid=$(id -u postfix); postfix_gid=$(id -g postfix)
  transport_line="default_transport = error:no external delivery in tests"
  relay_line=""
  if [ "${relay#lmtp:}" != "$relay" ]; then
    transport_line="default_transport = $relay"
  elif [ -n "$relay" ]; then
    transport_line="default_transport = smtp"
    relay_line="relayhost = [${relay%:*}]:${relay##*:}"
  fi
  cat > "$dir/etc/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
command_directory = /usr/sbin
daemon_directory = $DAEMON_DIR
meta_directory = /etc/postfix
shlib_directory = no
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix-test.example.org
mydomain = example.org
myorigin = \$myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = permit_mynetworks, reject
smtpd_forbid_bare_newline = yes
smtpd_forbid_bare_newline_exclusions =
smtp_tls_security_level = none
smtpd_tls_security_level = none
smtputf8_enable = no
biff = no
alias_maps =
alias_database =
local_recipient_maps =
virtual_mailbox_domains = example.com, localhost
virtual_mailbox_base = $dir
virtual_mailbox_maps = static:mail/
virtual_uid_maps = static:$postfix_uid
virtual_gid_maps = static:$postfix_gid
virtual_minimum_uid = 1
$transport_line
$relay_line
maillog_file = /dev/stdout
smtp_host_lookup = native
disable_dns_lookups = yes
smtp_dns_support_level = disabled
delay_warning_time = 0
queue_run_delay = 1s
minimal_backoff_time = 2s
maximal_backoff_time = 4s
CF
  cat > "$dir/etc/master.cf" <<CF
127.0.0.1:$port inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
lmtp      unix  -       -       n       -       -       lmtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
CF
  echo "$port" > "$dir/port"
  # "postfix start-fg" keeps master in the foreground (plain "master -w", as "postfix
  # start" runs it, exits early when the config directory is not the default one).
  # setsid + background: the instance outlives this script until "stop".
  MAIL_CONFIG="$dir/etc" setsid postfix -c "$dir/etc" start-fg </dev/null >"$dir/maillog" 2>&1 &
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "port $port"
      exit 0
    fi
    sleep 0.1
  done
  tail -20 "$dir/maillog" >&2 || true
  die "smtpd did not listen on $port"
  ;;
stop)
  [ -d "$dir" ] || exit 0
  pidf="$dir/queue/pid/master.pid"
  if [ -f "$pidf" ]; then
    pid=$(tr -dc 0-9 < "$pidf")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  # the daemons exit on their own once master is gone; wait for them briefly
  for _ in $(seq 1 50); do
    pgrep -f -- "-c $dir/etc" >/dev/null 2>&1 || pgrep -f "$dir/" >/dev/null 2>&1 || break
    sleep 0.1
  done
  case "$dir" in /|/etc*|/var/spool/postfix*|/usr*) die "refusing to remove $dir";; esac
  rm -rf "$dir"
  ;;
wait)
  want=${3:?count}; secs=${4:-30}
  for _ in $(seq 1 $((secs * 10))); do
    # virtual(8) makes the maildir at its first delivery: until then nothing is there
    # (find would fail, and under pipefail end the wait at once).
    n=0
    [ -d "$dir/mail/new" ] && n=$(find "$dir/mail/new" -type f | wc -l)
    [ "$n" -ge "$want" ] && exit 0
    sleep 0.1
  done
  echo "postfix_instance: $n of $want messages delivered in ${secs}s" >&2
  tail -20 "$dir/maillog" >&2 || true
  exit 1
  ;;
*) die "unknown command $cmd";;
esac
