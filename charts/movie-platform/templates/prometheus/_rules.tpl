{{/*
Recording rules the ServicePolicies need: billing_queue_messages{state} from RabbitMQ's per-queue series,
until billing-app exports the gauge itself (then drop this group).
*/}}
{{- define "movie-platform.operatorInputRules" -}}
name: movie-platform-operator-inputs
rules:
  - record: billing_queue_messages
    expr: sum by (namespace, queue) (rabbitmq_queue_messages_ready{queue="{{ .Values.billingApp.queue }}"})
    labels:
      state: ready
  - record: billing_queue_messages
    expr: sum by (namespace, queue) (rabbitmq_queue_messages_unacked{queue="{{ .Values.billingApp.queue }}"})
    labels:
      state: unacked
{{- end }}

{{/* Every rule group: the one above and the groups of files/prometheus-rules/*.yaml (observability). */}}
{{- define "movie-platform.ruleGroups" -}}
{{- $groups := list (include "movie-platform.operatorInputRules" . | fromYaml) -}}
{{- range $path, $_ := .Files.Glob "files/prometheus-rules/*.yaml" -}}
{{- $groups = concat $groups ((($.Files.Get $path) | fromYaml).groups | default list) -}}
{{- end -}}
{{ toYaml (dict "groups" $groups) }}
{{- end }}
