{{/*
Backups of a bundled database with pgBackRest (values backup.*; docs/operations.md, "Backups and
restore"). The values with their defaults: a release upgraded with --reuse-values from a chart without
them has none, and backups stay off.
*/}}
{{- define "movie-platform.backup" -}}
{{- $b := deepCopy (.Values.backup | default dict) -}}
{{- $_ := set $b "enabled" (and (hasKey $b "enabled") $b.enabled) -}}
{{- toYaml $b }}
{{- end }}

{{/*
The repository's volume claim of a database, empty with backups off or an S3 repository. Call with
(dict "ctx" $ "name" "inventory-database" "key" "inventoryDatabase").
*/}}
{{- define "movie-platform.backupClaim" -}}
{{- $b := include "movie-platform.backup" .ctx | fromYaml -}}
{{- if and $b.enabled (not (dig "repository" "s3" "enabled" false $b)) -}}
{{- dig "repository" "existingClaim" .key "" $b | default (printf "%s-backup" .name) -}}
{{- end -}}
{{- end }}

{{/*
The environment of pgBackRest (images/postgresql/pgbackrest.sh) for a database's containers. Call with
(dict "ctx" $ "name" "inventory-database" "key" "inventoryDatabase").
*/}}
{{- define "movie-platform.backupEnv" -}}
{{- $b := include "movie-platform.backup" .ctx | fromYaml -}}
{{- $s3 := dig "repository" "s3" dict $b -}}
- name: PGBACKREST_STANZA
  value: {{ .name }}
- name: PGBACKREST_REPO1_RETENTION_FULL
  value: {{ $b.retention.full | quote }}
- name: PGBACKREST_REPO1_RETENTION_DIFF
  value: {{ $b.retention.diff | quote }}
- name: ARCHIVE_TIMEOUT
  value: {{ $b.archiveTimeoutSeconds | quote }}
{{- if $s3.enabled }}
- name: PGBACKREST_REPO1_TYPE
  value: s3
- name: PGBACKREST_REPO1_PATH
  value: {{ printf "%s/%s" (trimSuffix "/" $s3.path) .name | quote }}
- name: PGBACKREST_REPO1_S3_BUCKET
  value: {{ required "backup.repository.s3.bucket is required with s3.enabled" $s3.bucket | quote }}
- name: PGBACKREST_REPO1_S3_ENDPOINT
  value: {{ required "backup.repository.s3.endpoint is required with s3.enabled" $s3.endpoint | quote }}
- name: PGBACKREST_REPO1_S3_REGION
  value: {{ required "backup.repository.s3.region is required with s3.enabled" $s3.region | quote }}
- name: PGBACKREST_REPO1_S3_URI_STYLE
  value: {{ $s3.uriStyle | quote }}
- name: PGBACKREST_REPO1_S3_KEY
  valueFrom:
    secretKeyRef:
      name: {{ required "backup.repository.s3.existingSecret is required with s3.enabled" $s3.existingSecret }}
      key: {{ $s3.accessKeyKey }}
- name: PGBACKREST_REPO1_S3_KEY_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $s3.existingSecret }}
      key: {{ $s3.secretKeyKey }}
{{- end }}
{{- end }}
