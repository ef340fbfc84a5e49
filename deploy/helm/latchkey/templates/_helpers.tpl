{{/* Chart name, truncated to the 63 characters a label allows. */}}
{{- define "latchkey.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: the release name, plus the chart name unless it already contains it. */}}
{{- define "latchkey.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "latchkey.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "latchkey.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "latchkey.selectorLabels" -}}
app.kubernetes.io/name: {{ include "latchkey.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "latchkey.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "latchkey.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "latchkey.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The Secret holding master.key and database-url. */}}
{{- define "latchkey.secretName" -}}
{{- default (include "latchkey.fullname" .) .Values.existingSecret }}
{{- end }}

{{- define "latchkey.postgres" -}}
{{- if eq .Values.database.type "postgres" }}true{{ end }}
{{- end }}

{{/* Whether the pods read a master key file from the Secret. */}}
{{- define "latchkey.hasMasterKey" -}}
{{- if or .Values.existingSecret .Values.masterKey }}true{{ end }}
{{- end }}

{{/* Refuses settings that cannot work, naming the value to change. */}}
{{- define "latchkey.validate" -}}
{{- if not (has .Values.database.type (list "sqlite" "postgres")) }}
{{- fail (printf "database.type must be sqlite or postgres (got %q)" .Values.database.type) }}
{{- end }}
{{- if include "latchkey.postgres" . }}
{{- if not (or .Values.existingSecret .Values.database.url) }}
{{- fail "database.type=postgres needs database.url or existingSecret (with a database-url key)" }}
{{- end }}
{{- if and .Values.database.url (not (regexMatch "^postgres(ql)?://" .Values.database.url)) }}
{{- fail "database.url must start with postgres:// or postgresql://" }}
{{- end }}
{{- if not (include "latchkey.hasMasterKey" .) }}
{{- fail "database.type=postgres needs masterKey or existingSecret (with a master.key key): every replica must share one master key" }}
{{- end }}
{{- else }}
{{- if gt (int .Values.replicaCount) 1 }}
{{- fail "replicaCount > 1 needs database.type=postgres: a SQLite file cannot be shared between pods" }}
{{- end }}
{{- if .Values.database.url }}
{{- fail "database.url is only used with database.type=postgres" }}
{{- end }}
{{- end }}
{{- if and .Values.masterKey (not (regexMatch "^([0-9a-fA-F]{64}|[A-Za-z0-9+/_-]{43}=?)$" .Values.masterKey)) }}
{{- fail "masterKey must be 64 hex characters or base64 of 32 bytes (latchkey master-key generate FILE writes one)" }}
{{- end }}
{{- if not (regexMatch "^https?://[^/?#]+" .Values.config.publicURL) }}
{{- fail "config.publicURL must be the absolute http(s) URL users see" }}
{{- end }}
{{- end }}
