{{- define "unamentis.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "unamentis.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "unamentis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "unamentis.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "unamentis.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "unamentis.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: unamentis
{{- end -}}

{{- define "unamentis.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "unamentis.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "unamentis.secretName" -}}
{{- default (printf "%s-secrets" (include "unamentis.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "unamentis.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The database host: the bundled StatefulSet's Service or the external host. */}}
{{- define "unamentis.dbHost" -}}
{{- if .Values.postgresql.bundled.enabled -}}
{{- printf "%s-postgresql" (include "unamentis.fullname" .) -}}
{{- else -}}
{{- required "postgresql.external.host is required when postgresql.bundled.enabled is false" .Values.postgresql.external.host -}}
{{- end -}}
{{- end -}}

{{- define "unamentis.dbPort" -}}
{{- if .Values.postgresql.bundled.enabled -}}5432{{- else -}}{{ .Values.postgresql.external.port }}{{- end -}}
{{- end -}}

{{- define "unamentis.dbQuery" -}}
{{- if .Values.postgresql.bundled.enabled -}}{{- else -}}?sslmode={{ .Values.postgresql.external.sslmode }}{{- end -}}
{{- end -}}

{{- define "unamentis.s3Endpoint" -}}
{{- if .Values.objectStorage.bundledMinio.enabled -}}
{{- printf "http://%s-minio:9000" (include "unamentis.fullname" .) -}}
{{- else -}}
{{- .Values.objectStorage.endpoint -}}
{{- end -}}
{{- end -}}

{{- define "unamentis.secretRef" -}}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ include "unamentis.secretName" .root }}
      key: {{ .key }}
      optional: {{ .optional | default false }}
{{- end -}}

{{/* Environment shared by every runtime container (core, stateless, migrate). */}}
{{- define "unamentis.runtimeEnv" -}}
- name: UNAMENTIS_ENV
  value: {{ .Values.runtime.env | quote }}
- name: UNAMENTIS_LOG_LEVEL
  value: {{ .Values.runtime.logLevel | quote }}
- name: UNAMENTIS_APP_ROLE
  value: {{ .Values.runtime.appRole | quote }}
- name: UNAMENTIS_STORAGE_URL
  value: {{ printf "s3://%s%s" .Values.objectStorage.bucket (ternary (printf "/%s" .Values.objectStorage.prefix) "" (ne .Values.objectStorage.prefix "")) | quote }}
{{- with (include "unamentis.s3Endpoint" .) }}
- name: UNAMENTIS_S3_ENDPOINT_URL
  value: {{ . | quote }}
{{- end }}
- name: UNAMENTIS_S3_REGION
  value: {{ .Values.objectStorage.region | quote }}
- name: UNAMENTIS_S3_FORCE_PATH_STYLE
  value: {{ .Values.objectStorage.forcePathStyle | quote }}
{{- if or .Values.objectStorage.bundledMinio.enabled .Values.secrets.s3AccessKeyId .Values.secrets.existingSecret }}
{{ include "unamentis.secretRef" (dict "root" . "env" "UNAMENTIS_S3_ACCESS_KEY_ID" "key" "s3-access-key-id" "optional" true) }}
{{ include "unamentis.secretRef" (dict "root" . "env" "UNAMENTIS_S3_SECRET_ACCESS_KEY" "key" "s3-secret-access-key" "optional" true) }}
{{- end }}
- name: HOME
  value: /tmp
- name: XDG_CACHE_HOME
  value: /tmp/.cache
{{- end -}}

{{/* Environment of the serving containers: the RUNTIME role only (never the owner). */}}
{{- define "unamentis.servingEnv" -}}
{{ include "unamentis.runtimeEnv" . }}
{{ include "unamentis.secretRef" (dict "root" . "env" "APP_DB_PASSWORD" "key" "app-role-password") }}
- name: DATABASE_URL
  value: {{ printf "postgresql://%s:$(APP_DB_PASSWORD)@%s:%s/%s%s" .Values.runtime.appRole (include "unamentis.dbHost" .) (include "unamentis.dbPort" .) .Values.postgresql.database (include "unamentis.dbQuery" .) | quote }}
{{ include "unamentis.secretRef" (dict "root" . "env" "UNAMENTIS_JWT_SECRET" "key" "jwt-secret") }}
{{ include "unamentis.secretRef" (dict "root" . "env" "UNAMENTIS_ORIGIN_SECRET" "key" "origin-secret" "optional" true) }}
- name: UNAMENTIS_REGISTRATION
  value: {{ .Values.runtime.registration | quote }}
{{- with .Values.runtime.corsOrigins }}
- name: UNAMENTIS_CORS_ORIGINS
  value: {{ join "," . | quote }}
{{- end }}
{{- with .Values.runtime.redisUrl }}
- name: REDIS_URL
  value: {{ . | quote }}
{{- end }}
{{- range $name, $value := .Values.runtime.extraEnv }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{- define "unamentis.gpuLlmUrl" -}}
{{- if .Values.gpu.ollama.enabled -}}{{ printf "http://%s-ollama:11434" (include "unamentis.fullname" .) }}{{- else -}}{{ .Values.gpu.external.llmUrl }}{{- end -}}
{{- end -}}
{{- define "unamentis.gpuSpeechUrl" -}}
{{- if .Values.gpu.speaches.enabled -}}{{ printf "http://%s-speaches:8000/v1" (include "unamentis.fullname" .) }}{{- end -}}
{{- end -}}

{{- define "unamentis.podSecurityContext" -}}
{{ toYaml .Values.podSecurityContext }}
{{- end -}}

{{- define "unamentis.containerSecurityContext" -}}
{{ toYaml .Values.containerSecurityContext }}
{{- end -}}

{{/* Hardening for third-party images that run as their own user. */}}
{{- define "unamentis.hardenedContainer" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities: {drop: [ALL]}
seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{/* The migration hook: before install/upgrade; after install when the database is bundled (part of the release). */}}
{{- define "unamentis.migrationHook" -}}
{{- if .Values.postgresql.bundled.enabled -}}post-install,pre-upgrade{{- else -}}pre-install,pre-upgrade{{- end -}}
{{- end -}}

{{/* Path prefixes served by the stateless Deployment (from runtime/route_table.py, stateless families
whose core exceptions are plain prefixes; /api/curricula stays on the core because some of its core
paths have a wildcard segment that a Prefix path cannot express). */}}
{{- define "unamentis.corePrefixesInStatelessFamilies" -}}
/api/kb/audio /api/kb/prefetch /api/kb/manifest /api/kb/coverage /api/kb/feedback
{{- end -}}
{{- define "unamentis.statelessPrefixes" -}}
/api/auth /api/kb /api/sessions /api/fov /api/metrics /api/clients /api/logs /api/modules
{{- end -}}

{{/* A one-off pod spec (JSON) for `kubectl run --overrides`: the admin CLI with the owner's DSN,
labelled like the migration so the NetworkPolicies admit it. */}}
{{- define "unamentis.adminPod" -}}
{{- $root := .root -}}
{{- $dsn := printf "postgresql://%s:$(OWNER_DB_PASSWORD)@%s:%s/%s%s" $root.Values.postgresql.ownerUser (include "unamentis.dbHost" $root) (include "unamentis.dbPort" $root) $root.Values.postgresql.database (include "unamentis.dbQuery" $root) -}}
{{- $env := list (dict "name" "OWNER_DB_PASSWORD" "valueFrom" (dict "secretKeyRef" (dict "name" (include "unamentis.secretName" $root) "key" "owner-password"))) (dict "name" "UNAMENTIS_DATABASE_ADMIN_URL" "value" $dsn) (dict "name" "UNAMENTIS_APP_ROLE" "value" $root.Values.runtime.appRole) -}}
{{- $container := dict "name" "uma-admin" "image" (include "unamentis.image" $root) "args" .args "env" $env "securityContext" $root.Values.containerSecurityContext -}}
{{- $labels := dict "app.kubernetes.io/instance" $root.Release.Name "app.kubernetes.io/name" (include "unamentis.name" $root) "app.kubernetes.io/component" "migrate" -}}
{{- toJson (dict "apiVersion" "v1" "kind" "Pod" "metadata" (dict "labels" $labels) "spec" (dict "automountServiceAccountToken" false "securityContext" $root.Values.podSecurityContext "containers" (list $container))) -}}
{{- end -}}
