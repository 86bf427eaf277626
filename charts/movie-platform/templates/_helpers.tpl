{{/*
Shared pieces of the movie-platform chart. Object names are the component names themselves
(api-gateway, inventory-app, ...), as docs/contract.md and the ServicePolicies use them: one release per namespace.
*/}}

{{- define "movie-platform.chart" -}}
{{ .Chart.Name }}-{{ .Chart.Version | replace "+" "_" }}
{{- end }}

{{/* Selector labels: stable for the life of a release. Call with (dict "ctx" $ "component" "name"). */}}
{{- define "movie-platform.selectorLabels" -}}
app.kubernetes.io/name: {{ .component }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- end }}

{{/* The standard labels every object carries. Call with (dict "ctx" $ "component" "name"). */}}
{{- define "movie-platform.labels" -}}
{{ include "movie-platform.selectorLabels" . }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: movie-platform
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ include "movie-platform.chart" .ctx }}
{{- end }}

{{/* One of the project's own images. Call with (dict "ctx" $ "program" "inventory-app"). */}}
{{- define "movie-platform.image" -}}
{{- $image := .ctx.Values.image -}}
{{- $tag := $image.tag | default .ctx.Chart.AppVersion -}}
{{- if eq $tag "latest" }}{{ fail "image.tag must be a pinned version, not latest" }}{{ end -}}
{{- if $image.registry }}{{ $image.registry }}/{{ end }}{{ $image.repositoryPrefix }}/{{ .program }}:{{ $tag }}
{{- end }}

{{/* A third-party image from a {repository, tag} value. */}}
{{- define "movie-platform.externalImage" -}}
{{- if eq .tag "latest" }}{{ fail (printf "%s: tag must be a pinned version, not latest" .repository) }}{{ end -}}
{{ .repository }}:{{ .tag }}
{{- end }}

{{/*
A password that stays the same across upgrades: the explicit value when given, else the one already in
the Secret (lookup), else a new random one. Call with (dict "ctx" $ "secret" NAME "key" KEY "value" V).
Printed base64-encoded, for a Secret's data.
*/}}
{{- define "movie-platform.keptPassword" -}}
{{- if .value -}}
{{ .value | b64enc }}
{{- else -}}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace .secret -}}
{{- if and $existing (hasKey ($existing.data | default dict) .key) -}}
{{ index $existing.data .key }}
{{- else -}}
{{ randAlphaNum 32 | b64enc }}
{{- end -}}
{{- end -}}
{{- end }}

{{/* Secret name and key of a credential block (auth or token). Call with (dict "auth" A "default" NAME). */}}
{{- define "movie-platform.secretName" -}}
{{ .auth.existingSecret | default .default }}
{{- end }}

{{/* Pod-level security context for a numeric non-root user. Call with the user id. */}}
{{- define "movie-platform.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ . }}
runAsGroup: {{ . }}
fsGroup: {{ . }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Container-level security context: read-only root file system, no privileges, no capabilities. */}}
{{- define "movie-platform.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
{{- end }}

{{/* Prometheus base URL the operator reads. */}}
{{- define "movie-platform.prometheusUrl" -}}
{{- if .Values.operator.prometheusUrl -}}
{{ .Values.operator.prometheusUrl }}
{{- else if .Values.prometheus.enabled -}}
http://prometheus:9090
{{- else -}}
{{ fail "autoscaling.mode=operator needs Prometheus: set prometheus.enabled=true or operator.prometheusUrl" }}
{{- end -}}
{{- end }}

{{/* Scheduling fields of a component's values (nodeSelector, tolerations, affinity), if any. */}}
{{- define "movie-platform.scheduling" -}}
{{- $fields := dict -}}
{{- range $name := list "nodeSelector" "tolerations" "affinity" -}}
{{- with index $ $name }}{{ $_ := set $fields $name . }}{{ end -}}
{{- end -}}
{{- if $fields }}{{ toYaml $fields }}{{ end -}}
{{- end }}

{{/*
A Deployment's nodeSelector, tolerations and affinity (as movie-platform.scheduling), its tolerations
extended by nodeLoss.tolerationSeconds: how long its pods stay bound to a node that went NotReady or
unreachable before they are evicted and their ReplicaSet starts them elsewhere. The component's own
toleration of either taint wins. Call with (dict "ctx" $ "values" V).
*/}}
{{- define "movie-platform.deploymentScheduling" -}}
{{- $values := .values -}}
{{- $seconds := dig "tolerationSeconds" nil (.ctx.Values.nodeLoss | default dict) -}}
{{- if kindIs "invalid" $seconds -}}
{{- include "movie-platform.scheduling" $values -}}
{{- else -}}
{{- $tolerations := list -}}
{{- $taken := dict -}}
{{- range $values.tolerations | default list -}}
{{- $tolerations = append $tolerations . -}}
{{- with .key }}{{ $_ := set $taken . true }}{{ end -}}
{{- end -}}
{{- range $key := list "node.kubernetes.io/not-ready" "node.kubernetes.io/unreachable" -}}
{{- if not (hasKey $taken $key) -}}
{{- $tolerations = append $tolerations (dict "key" $key "operator" "Exists" "effect" "NoExecute" "tolerationSeconds" ($seconds | int)) -}}
{{- end -}}
{{- end -}}
{{- include "movie-platform.scheduling" (merge (dict "tolerations" $tolerations) (omit $values "tolerations")) -}}
{{- end -}}
{{- end }}

{{/* The environment every service reads (the README's "Configuration"). */}}
{{- define "movie-platform.serviceEnv" -}}
- name: BIND_ADDRESS
  value: "0.0.0.0"
- name: LOG_LEVEL
  value: {{ .Values.serviceDefaults.logLevel | quote }}
- name: ACCESS_LOG
  value: {{ ternary "on" "off" .Values.serviceDefaults.accessLog | quote }}
- name: HTTP_THREADS
  value: {{ .Values.serviceDefaults.httpThreads | quote }}
- name: MAX_REQUEST_BYTES
  value: {{ .Values.serviceDefaults.maxRequestBytes | int64 | quote }}
- name: SHUTDOWN_DRAIN_TIMEOUT
  value: "{{ (include "movie-platform.shutdown" . | fromYaml).drainTimeoutSeconds | int }}s"
{{- end }}

{{/*
Where the services reach a server the chart may bundle: its own Service, or (enabled: false) the external
one. Call with (dict "key" "inventoryDatabase" "values" V "service" "inventory-database" "port" 5432);
prints YAML {host, port, external, cidrs} (fromYaml). Fails when external is chosen without a host or a
password Secret: the chart generates no password for a server it does not run.
*/}}
{{- define "movie-platform.server" -}}
{{- if include "movie-platform.bundled" .values -}}
{{ dict "host" .service "port" .port "external" false "cidrs" (list) | toYaml }}
{{- else -}}
{{- $ext := .values.external | default dict -}}
{{- if not $ext.host -}}
{{ fail (printf "%s.enabled=false (an external server) needs %s.external.host" .key .key) }}
{{- end -}}
{{- if not .values.auth.existingSecret -}}
{{ fail (printf "%s.enabled=false (an external server) needs %s.auth.existingSecret: the Secret holding its password under %s.auth.existingSecretPasswordKey (%s)" .key .key .key .values.auth.existingSecretPasswordKey) }}
{{- end -}}
{{- if .values.auth.password -}}
{{ fail (printf "%s.enabled=false (an external server): put its password in the Secret %s.auth.existingSecret, not in %s.auth.password" .key .key .key) }}
{{- end -}}
{{ dict "host" $ext.host "port" ($ext.port | default .port) "external" true "cidrs" ($ext.cidrs | default (list)) | toYaml }}
{{- end -}}
{{- end }}

{{/*
Whether the chart runs a server (inventoryDatabase, billingDatabase, rabbitmq): "true" or nothing. A
missing enabled counts as true: `helm upgrade --reuse-values` from a chart before the value keeps the
old chart's values, without it.
*/}}
{{- define "movie-platform.bundled" -}}
{{- if or (not (hasKey . "enabled")) .enabled }}true{{ end -}}
{{- end }}

{{/*
Whether a database runs as a Patroni cluster (inventoryDatabase.ha, billingDatabase.ha): "true" or
nothing. Call with the database's values. Only a bundled database; a missing ha counts as off
(helm upgrade --reuse-values from a chart before it).
*/}}
{{- define "movie-platform.patroni" -}}
{{- if and (include "movie-platform.bundled" .) (dig "ha" "enabled" false .) }}true{{ end -}}
{{- end }}

{{/* The three servers, each as movie-platform.server prints it. Call with the root context. */}}
{{- define "movie-platform.inventoryDatabaseServer" -}}
{{ include "movie-platform.server" (dict "key" "inventoryDatabase" "values" .Values.inventoryDatabase "service" "inventory-database" "port" 5432) }}
{{- end }}
{{- define "movie-platform.billingDatabaseServer" -}}
{{ include "movie-platform.server" (dict "key" "billingDatabase" "values" .Values.billingDatabase "service" "billing-database" "port" 5432) }}
{{- end }}
{{- define "movie-platform.rabbitmqServer" -}}
{{ include "movie-platform.server" (dict "key" "rabbitmq" "values" .Values.rabbitmq "service" "rabbitmq" "port" 5672) }}
{{- end }}

{{/* A user name, database or vhost as one percent-encoded URI segment ("/" -> %2F, "@" -> %40). */}}
{{- define "movie-platform.uriSegment" -}}
{{ urlquery . | replace "+" "%20" }}
{{- end }}

{{/* AMQP URL built in the container from the Secret-sourced RABBITMQ_PASSWORD (no password here). */}}
{{- define "movie-platform.rabbitmqEnv" -}}
{{- $mq := .Values.rabbitmq -}}
{{- $server := include "movie-platform.rabbitmqServer" . | fromYaml -}}
{{- /* The bundled broker's default vhost "/", written as the chart always has. */}}
{{- $vhost := ternary "%2f" (include "movie-platform.uriSegment" (dig "external" "vhost" "/" $mq)) (not $server.external) -}}
- name: RABBITMQ_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "movie-platform.secretName" (dict "auth" $mq.auth "default" "rabbitmq-credentials") }}
      key: {{ $mq.auth.existingSecretPasswordKey }}
- name: RABBITMQ_URL
  value: "amqp://{{ include "movie-platform.uriSegment" $mq.auth.username }}:$(RABBITMQ_PASSWORD)@{{ $server.host }}:{{ $server.port }}/{{ $vhost }}"
{{- end }}

{{/*
The probes, resources and hardening a service container shares. Call with
(dict "ctx" $ "values" .Values.inventoryApp "port" "http").
*/}}
{{- define "movie-platform.serviceContainerCommon" -}}
startupProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 2
  failureThreshold: 30
livenessProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 10
  timeoutSeconds: 2
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /readyz, port: http}
  periodSeconds: 5
  timeoutSeconds: 2
  failureThreshold: 2
resources:
  {{- toYaml .values.resources | nindent 2 }}
securityContext:
  {{- include "movie-platform.containerSecurityContext" . | nindent 2 }}
{{- end }}

{{/* A StatefulSet's volumeClaimTemplates entry "data". Call with (dict "ctx" $ "component" C "persistence" P). */}}
{{- define "movie-platform.volumeClaim" -}}
- metadata:
    name: data
    labels:
      {{- include "movie-platform.selectorLabels" . | nindent 6 }}
  spec:
    accessModes:
      {{- toYaml (.persistence.accessModes | default (list "ReadWriteOnce")) | nindent 6 }}
    {{- if eq .persistence.storageClass "-" }}
    storageClassName: ""
    {{- else if .persistence.storageClass }}
    storageClassName: {{ .persistence.storageClass }}
    {{- end }}
    resources:
      requests:
        storage: {{ .persistence.size }}
{{- end }}

{{/*
The topologySpreadConstraints of a replicated component when topologySpread.enabled. Call with
(dict "ctx" $ "component" C). Cordoned and unreachable nodes (taints the pod does not tolerate) are no
domain (nodeTaintsPolicy Honor), so a drain or a lost node never holds a replacement pod back.
*/}}
{{- define "movie-platform.topologySpread" -}}
{{- with .ctx.Values.topologySpread }}
{{- if .enabled -}}
topologySpreadConstraints:
  - topologyKey: {{ .topologyKey }}
    maxSkew: {{ .maxSkew }}
    whenUnsatisfiable: {{ .whenUnsatisfiable }}
    nodeTaintsPolicy: Honor
    labelSelector:
      matchLabels:
        {{- include "movie-platform.selectorLabels" $ | nindent 8 }}
{{- end }}
{{- end }}
{{- end }}

{{/*
A service container's preStop pause (shutdown.preStopSeconds), if any: Kubernetes' sleep action where the
cluster has it (1.30 and later), else the image's /bin/sleep (the images are Debian bookworm-slim).
*/}}
{{- define "movie-platform.preStop" -}}
{{- $seconds := (include "movie-platform.shutdown" . | fromYaml).preStopSeconds | int }}
{{- if gt $seconds 0 -}}
lifecycle:
  preStop:
    {{- if semverCompare ">=1.30.0-0" .Capabilities.KubeVersion.Version }}
    sleep: {seconds: {{ $seconds }}}
    {{- else }}
    exec:
      command: [/bin/sleep, {{ $seconds | quote }}]
    {{- end }}
{{- end }}
{{- end }}

{{/*
The shutdown values with their defaults, as YAML (fromYaml): a release upgraded with --reuse-values from a
chart without them has none.
*/}}
{{- define "movie-platform.shutdown" -}}
{{- $s := .Values.shutdown | default dict -}}
preStopSeconds: {{ ternary $s.preStopSeconds 0 (hasKey $s "preStopSeconds") | int }}
drainTimeoutSeconds: {{ ternary $s.drainTimeoutSeconds 10 (hasKey $s "drainTimeoutSeconds") | int }}
{{- end }}
