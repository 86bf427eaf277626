{{/*
The three services. Every template in this folder ranges over this map (component name -> values key),
so a service is described once; what differs between them is its environment, below.
*/}}
{{- define "movie-platform.services" -}}
api-gateway: apiGateway
billing-app: billingApp
inventory-app: inventoryApp
{{- end }}

{{/* PromQL selector of one service's series in this namespace. Call with (dict "ctx" $ "component" C). */}}
{{- define "movie-platform.promSelector" -}}
service="{{ .component }}",namespace="{{ .ctx.Release.Namespace }}"
{{- end }}

{{- define "movie-platform.env.api-gateway" -}}
{{ include "movie-platform.serviceEnv" . }}
- name: API_GATEWAY_PORT
  value: {{ .Values.apiGateway.port | quote }}
- name: INVENTORY_APP_URL
  value: "http://inventory-app-pods:{{ .Values.inventoryApp.port }}"
{{ include "movie-platform.rabbitmqEnv" . }}
- name: BILLING_QUEUE
  value: {{ .Values.billingApp.queue | quote }}
{{- if .Values.apiGateway.token.enabled }}
- name: API_GATEWAY_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "movie-platform.secretName" (dict "auth" .Values.apiGateway.token "default" "api-gateway-token") }}
      key: {{ .Values.apiGateway.token.existingSecretKey }}
{{- end }}
{{- with .Values.apiGateway.rateLimit }}
{{- if gt (int .requestsPerSecond) 0 }}
- name: API_GATEWAY_RATE_LIMIT_RPS
  value: {{ .requestsPerSecond | quote }}
- name: API_GATEWAY_RATE_LIMIT_BURST
  value: {{ .burst | quote }}
{{- end }}
{{- end }}
{{- end }}

{{- define "movie-platform.env.inventory-app" -}}
{{ include "movie-platform.serviceEnv" . }}
- name: INVENTORY_APP_PORT
  value: {{ .Values.inventoryApp.port | quote }}
- name: DB_POOL_SIZE
  value: {{ .Values.inventoryApp.dbPoolSize | quote }}
{{ include "movie-platform.databaseUrlEnv" (dict "ctx" . "db" .Values.inventoryDatabase "name" "inventory-database" "var" "INVENTORY_DATABASE_URL" "server" (include "movie-platform.inventoryDatabaseServer" . | fromYaml)) }}
{{- end }}

{{- define "movie-platform.env.billing-app" -}}
{{ include "movie-platform.serviceEnv" . }}
- name: BILLING_APP_PORT
  value: {{ .Values.billingApp.port | quote }}
{{ include "movie-platform.databaseUrlEnv" (dict "ctx" . "db" .Values.billingDatabase "name" "billing-database" "var" "BILLING_DATABASE_URL" "server" (include "movie-platform.billingDatabaseServer" . | fromYaml)) }}
{{ include "movie-platform.rabbitmqEnv" . }}
- name: BILLING_QUEUE
  value: {{ .Values.billingApp.queue | quote }}
{{- end }}

{{/*
A libpq URI built in the container: the password comes from the database's Secret into DATABASE_PASSWORD
and Kubernetes expands $(DATABASE_PASSWORD), so no password sits outside a Secret. "server" is where the
database is (movie-platform.server): the chart's Service or the external host. A Patroni cluster of the
chart's (ha.enabled) adds target_session_attrs=read-write: a connection that reaches a standby (kube-proxy
still routing to a leader that just handed over) is refused and made again, never kept for writes.
*/}}
{{- define "movie-platform.databaseUrlEnv" -}}
- name: DATABASE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "movie-platform.secretName" (dict "auth" .db.auth "default" (printf "%s-credentials" .name)) }}
      key: {{ .db.auth.existingSecretPasswordKey }}
- name: {{ .var }}
  value: "postgresql://{{ include "movie-platform.uriSegment" .db.auth.username }}:$(DATABASE_PASSWORD)@{{ .server.host }}:{{ .server.port }}/{{ include "movie-platform.uriSegment" .db.database }}{{ if and (not .server.external) (dig "ha" "enabled" false .db) }}?target_session_attrs=read-write{{ end }}"
{{- end }}
