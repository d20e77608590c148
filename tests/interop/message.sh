# SPDX-License-Identifier: MIT
# make_message FILE [TAG]: writes the test message (CRLF line ends, dot lines, 8-bit-free)
# used by the interop tests; TAG goes into the Subject so each test finds its own.
make_message() {
  local tag=${2:-interop}
  printf '%s\r\n' \
    "From: Sender <sender@example.com>" \
    "To: Rcpt One <one@example.com>, two@example.com" \
    "Date: Wed, 25 Nov 2026 12:00:00 +0000" \
    "Message-ID: <$tag.$$@example.com>" \
    "Subject: smtpcore interop $tag" \
    "" \
    "First line of the body." \
    ".A line that starts with a dot (stuffed on the wire)." \
    ".." \
    "." \
    " . " \
    "Last line." > "$1"
}
