#!/usr/bin/env bash
# One-shot, once Kibana answers (compose.yml's setup-kibana): the data views for gelfingest's indices
# (logstash-* with sequence, ecs-gelfingest-* with event.sequence), a Discover search sorted by
# @timestamp then sequence, and Advanced Settings' context:tieBreakerFields, so Kibana breaks timestamp
# ties by the sequence. Safe to run again: the objects are overwritten.
set -euo pipefail
kibana=${KIBANA_URL:-http://kibana:5601}
auth="elastic:${ELASTIC_PASSWORD:?set ELASTIC_PASSWORD}"
here=$(dirname "$0")

# 503 until Kibana is available (200 when available or degraded): curl -f fails on it. Grepping the body
# for "level":"available" would match the first plugin that is.
until curl -sf -o /dev/null -u "$auth" "$kibana/api/status"; do
    echo "setup-kibana: waiting for $kibana"; sleep 5
done

out=$(curl -sS -u "$auth" -H 'kbn-xsrf: gelfingest' \
    -F "file=@$here/saved-objects.ndjson" "$kibana/api/saved_objects/_import?overwrite=true")
if ! grep -q '"success":true' <<<"$out"; then
    echo "setup-kibana: importing the data views failed: $out" >&2
    exit 1
fi

out=$(curl -sS -u "$auth" -H 'kbn-xsrf: gelfingest' -H 'x-elastic-internal-origin: kibana' \
    -H 'Content-Type: application/json' -X POST "$kibana/api/kibana/settings" \
    -d '{"changes": {"context:tieBreakerFields": ["sequence", "event.sequence"],
                     "defaultIndex": "gelfingest-logstash"}}')
if ! grep -q '"context:tieBreakerFields"' <<<"$out"; then
    echo "setup-kibana: setting context:tieBreakerFields failed: $out" >&2
    exit 1
fi
echo "setup-kibana: data views logstash-* and ecs-gelfingest-*, their searches sorted by the sequence," \
     "and context:tieBreakerFields = sequence, event.sequence"
