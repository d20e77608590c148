#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A throwaway Dovecot LMTP server for the tests, in the foreground from a config written
# into DIR (nothing under /etc is read or changed).
#   dovecot_instance.sh start DIR [USER...]   prints "port N" and "socket PATH"; users
#                                             default to alice and bob
#   dovecot_instance.sh stop DIR
# The LMTP service listens on 127.0.0.1:N (a free port) and on the Unix socket DIR/run/lmtp;
# no other listener is configured (protocols = lmtp, ssl = no). Users come from a
# passwd-file userdb, all with the uid/gid of the `mail` user (never 0); mail goes to
# DIR/mail/USER as a maildir (USER@any.domain is USER), so DIR/mail/USER/new/ holds what
# was delivered. An unknown user is refused at RCPT (550 5.1.1). The log is
# DIR/dovecot.log. Must run as root.
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?directory}
shift 2 || true
PY=/usr/bin/python3

case $cmd in
start)
  [ "$(id -u)" -eq 0 ] || { echo "dovecot_instance: needs root" >&2; exit 1; }
  command -v dovecot >/dev/null || { echo "dovecot_instance: dovecot not installed" >&2; exit 1; }
  [ -x /usr/lib/dovecot/lmtp ] || { echo "dovecot_instance: dovecot-lmtpd not installed" >&2; exit 1; }
  users=("$@")
  [ ${#users[@]} -gt 0 ] || users=(alice bob)
  uid=$(id -u mail) gid=$(id -g mail)
  mkdir -p "$dir/run" "$dir/state" "$dir/mail"
  chmod 755 "$dir"
  chown "$uid:$gid" "$dir/mail"
  : >"$dir/users"
  for u in "${users[@]}"; do
    echo "$u::$uid:$gid::$dir/mail/$u::" >>"$dir/users"
  done
  port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  cat >"$dir/dovecot.conf" <<CONF
# Written by tests/lmtp/dovecot_instance.sh for one test run.
protocols = lmtp
listen = 127.0.0.1
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
info_log_path = $dir/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
first_valid_uid = $uid
last_valid_uid = $uid
first_valid_gid = $gid
mail_location = maildir:$dir/mail/%n
postmaster_address = postmaster@example.com
hostname = lmtp.example.com
lmtp_rcpt_check_quota = no
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%n $dir/users
}
userdb {
  driver = passwd-file
  args = username_format=%n $dir/users
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $port
  }
  unix_listener lmtp {
    mode = 0666
  }
}
CONF
  : >"$dir/dovecot.log"
  dovecot -F -c "$dir/dovecot.conf" >>"$dir/dovecot.log" 2>&1 &
  echo $! >"$dir/dovecot.pid"
  # Ready when both listeners answer with the LMTP greeting.
  for _ in $(seq 1 100); do
    if $PY - "$port" "$dir/run/lmtp" <<'PYEOF' 2>/dev/null
import socket, sys
for fam, addr in ((socket.AF_INET, ("127.0.0.1", int(sys.argv[1]))), (socket.AF_UNIX, sys.argv[2])):
    s = socket.socket(fam)
    s.settimeout(2)
    s.connect(addr)
    if not s.recv(512).startswith(b"220 "):
        sys.exit(1)
    s.sendall(b"QUIT\r\n")
    s.close()
PYEOF
    then
      echo "port $port"
      echo "socket $dir/run/lmtp"
      exit 0
    fi
    kill -0 "$(cat "$dir/dovecot.pid")" 2>/dev/null || break
    sleep 0.1
  done
  echo "dovecot_instance: Dovecot did not start; its log:" >&2
  cat "$dir/dovecot.log" >&2
  "$0" stop "$dir" || true
  exit 1
  ;;
stop)
  [ -f "$dir/dovecot.pid" ] || exit 0
  pid=$(cat "$dir/dovecot.pid")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$dir/dovecot.pid"
  ;;
*)
  echo "usage: $0 start|stop DIR [USER...]" >&2
  exit 2
  ;;
esac
