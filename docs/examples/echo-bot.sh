#!/bin/sh
# A p2pcat bot in ten lines: p2pcat listen 5050 --exec ./echo-bot.sh
# Its stdin is the room as NDJSON records (CHAT, PEER_UP, ...), one per line;
# every line it prints is a request, sent to the room ({"message":...}).
while IFS= read -r line; do
  case $line in
    *'"type":"CHAT"'*)
      who=$(printf '%s\n' "$line" | sed -n 's/.*"username":"\(\([^"\\]\|\\.\)*\)".*/\1/p')
      msg=$(printf '%s\n' "$line" | sed -n 's/.*"message":"\(\([^"\\]\|\\.\)*\)".*/\1/p')
      printf '{"message":"%s said: %s"}\n' "$who" "$msg" ;;
  esac
done
