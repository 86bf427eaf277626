{{/* Every rule group of rules/*.yaml (the alerts of docs/monitoring.md), for the chart's Prometheus and the PrometheusRule. */}}
{{- define "movie-platform.ruleGroups" -}}
{{- $groups := list -}}
{{- range $path, $_ := .Files.Glob "rules/*.yaml" -}}
{{- $groups = concat $groups ((($.Files.Get $path) | fromYaml).groups | default list) -}}
{{- end -}}
{{ toYaml (dict "groups" $groups) }}
{{- end }}
