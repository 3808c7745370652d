#!/usr/bin/env bash
# One-shot, before Kibana and gelfingest start (compose.yml's setup-elasticsearch): the password Kibana
# signs in with, and a user for gelfingest that may do only what gelfingest does: install index templates,
# create its indices and documents, and ask whether Elasticsearch answers. That last one is the cluster
# privilege monitor: gelfingest's start line and /readyz read GET / (cluster:monitor/main) and
# GET /_cluster/health (cluster:monitor/health), and both answer 403 without it.
set -euo pipefail
es=${ELASTICSEARCH_URL:-http://elasticsearch:9200}
auth="elastic:${ELASTIC_PASSWORD:?set ELASTIC_PASSWORD}"

call() {  # METHOD PATH BODY: fails (and says why) unless Elasticsearch answers 2xx
    local out status
    out=$(curl -sS -u "$auth" -H 'Content-Type: application/json' -X "$1" "$es$2" -d "$3" -w '\n%{http_code}')
    status=${out##*$'\n'}
    if [[ $status != 2* ]]; then
        echo "setup-elasticsearch: $1 $2 answered $status: ${out%$'\n'*}" >&2
        return 1
    fi
}

# -f: any answer but 2xx (401 while security starts, 408 before yellow, 503) means not yet.
until curl -sf -o /dev/null -u "$auth" "$es/_cluster/health?wait_for_status=yellow&timeout=5s"; do
    echo "setup-elasticsearch: waiting for $es"; sleep 2
done

call POST /_security/user/kibana_system/_password "{\"password\": \"${KIBANA_PASSWORD:?set KIBANA_PASSWORD}\"}"
call PUT /_security/role/gelfingest_writer '{
  "cluster": ["monitor", "manage_index_templates"],
  "indices": [{"names": ["logstash-*", "ecs-gelfingest-*"],
               "privileges": ["create_doc", "create_index", "auto_configure"]}]
}'
call PUT /_security/user/gelfingest "{\"password\": \"${GELFINGEST_ES_PASSWORD:?set GELFINGEST_ES_PASSWORD}\",
  \"roles\": [\"gelfingest_writer\"], \"full_name\": \"gelfingest (GELF in, Elasticsearch out)\"}"
echo "setup-elasticsearch: kibana_system's password set; user gelfingest (role gelfingest_writer) ready"
