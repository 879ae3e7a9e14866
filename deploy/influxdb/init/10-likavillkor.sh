#!/bin/bash
# Likavillkor: runs once, when the influxdb:2.x container sets up an empty data volume
# (DOCKER_INFLUXDB_INIT_MODE=setup), after the initial org, bucket and admin token exist.
#
# 1. Map an InfluxQL database/retention policy to the bucket (DBRP), so that Grafana's InfluxQL
#    data source and the dashboards in ../dashboards can query it.
# 2. Give Grafana a read-only InfluxDB 1.x-compatible login for that bucket (never the admin token).
set -euo pipefail

db="${LIKAVILLKOR_INFLUXQL_DB:-likavillkor}"

influx v1 dbrp create \
  --org "${DOCKER_INFLUXDB_INIT_ORG}" \
  --bucket-id "${DOCKER_INFLUXDB_INIT_BUCKET_ID}" \
  --db "${db}" \
  --rp autogen \
  --default

influx v1 auth create \
  --org "${DOCKER_INFLUXDB_INIT_ORG}" \
  --username "${GRAFANA_INFLUX_USER:-grafana}" \
  --password "${GRAFANA_INFLUX_PASSWORD:?GRAFANA_INFLUX_PASSWORD is not set}" \
  --read-bucket "${DOCKER_INFLUXDB_INIT_BUCKET_ID}" \
  --description "Grafana (Likavillkor), read-only"

echo "likavillkor: InfluxQL database '${db}' mapped to bucket ${DOCKER_INFLUXDB_INIT_BUCKET}; grafana login created"
