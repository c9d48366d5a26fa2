{{/*
Names and labels.
*/}}
{{- define "aftersales.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "aftersales.fullname" -}}
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

{{- define "aftersales.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "aftersales.instanceLabels" -}}
app.kubernetes.io/name: {{ include "aftersales.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The server pods. The component keeps the migration job's pod out of the Deployment's,
the Services' and the PDB's selectors. */}}
{{- define "aftersales.selectorLabels" -}}
{{ include "aftersales.instanceLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{/* Every resource's labels (plus a component where it has one). */}}
{{- define "aftersales.labels" -}}
helm.sh/chart: {{ include "aftersales.chart" . }}
{{ include "aftersales.instanceLabels" . }}
app.kubernetes.io/version: {{ (.Values.image.tag | default .Chart.AppVersion) | toString | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: aftersales
{{- end }}

{{- define "aftersales.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "aftersales.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "aftersales.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end -}}
{{- end }}

{{/*
The gRPC service whose health the readiness probe checks: SERVING while the pod takes calls,
NOT_SERVING from the moment it starts draining. The overall health ("") stays SERVING while
the process serves, so liveness and startup check that one.
*/}}
{{- define "aftersales.grpcServiceName" -}}
aftersales.v1.AftersalesService
{{- end }}

{{/*
Database wiring. Exactly one source of the URL:
- database.existingSecret: a Secret the operator manages (recommended);
- database.url: plain values, stored in the chart's Secret;
- engine=sqlite with neither: the file on the pod's data volume.
*/}}
{{- define "aftersales.sqliteDefaultUrl" -}}
sqlite:///var/lib/aftersales/aftersales.db
{{- end }}

{{- define "aftersales.isSqlite" -}}
{{- if eq .Values.database.engine "sqlite" }}true{{ end }}
{{- end }}

{{/* Whether the chart's own Secret holds the database URL. */}}
{{- define "aftersales.chartHoldsDatabaseUrl" -}}
{{- if and (not .Values.database.existingSecret) .Values.database.url }}true{{ end }}
{{- end }}

{{/* Whether the chart's own Secret holds the page-token key (given or generated). */}}
{{- define "aftersales.chartHoldsPageToken" -}}
{{- if not .Values.pageTokenSecret.existingSecret }}true{{ end }}
{{- end }}

{{/* The page-token key the chart stores: the value given, else the one already in the
release's Secret (kept across upgrades), else a new random one. */}}
{{- define "aftersales.pageTokenValue" -}}
{{- if .Values.pageTokenSecret.value }}
{{- .Values.pageTokenSecret.value }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "aftersales.fullname" .) }}
{{- $data := dict }}
{{- if $existing }}{{ $data = $existing.data | default dict }}{{ end }}
{{- if hasKey $data "page-token-secret" }}
{{- index $data "page-token-secret" | b64dec }}
{{- else }}
{{- randAlphaNum 48 }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The AFTERSALES_DATABASE_URL entry of a container's env. `secretName` is the Secret to read
when the chart holds the URL (the release Secret for the pods, the hook Secret for the
migration job).
*/}}
{{- define "aftersales.databaseUrlEnv" -}}
{{- $root := .root -}}
- name: AFTERSALES_DATABASE_URL
{{- if $root.Values.database.existingSecret }}
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.database.existingSecret | quote }}
      key: {{ $root.Values.database.existingSecretKey | quote }}
{{- else if $root.Values.database.url }}
  valueFrom:
    secretKeyRef:
      name: {{ .secretName | quote }}
      key: database-url
{{- else }}
  value: {{ include "aftersales.sqliteDefaultUrl" $root | quote }}
{{- end }}
{{- end }}

{{/*
Refuse configurations that cannot work, with a message saying what to change. Included by
every template that renders a workload, so `helm template`, `helm lint` and `helm install`
all stop on them.
*/}}
{{- define "aftersales.validate" -}}
{{- $db := .Values.database -}}
{{- $url := $db.url | default "" | toString -}}
{{- if not (has $db.engine (list "postgres" "sqlite")) }}
{{- fail (printf "database.engine must be postgres or sqlite, not %q" $db.engine) }}
{{- end }}
{{- if and $db.existingSecret $url }}
{{- fail "database: set database.existingSecret or database.url, not both" }}
{{- end }}
{{- if and .Values.pageTokenSecret.existingSecret .Values.pageTokenSecret.value }}
{{- fail "pageTokenSecret: set pageTokenSecret.existingSecret or pageTokenSecret.value, not both" }}
{{- end }}
{{- if hasPrefix "sqlite:" $url }}
{{- if ne $db.engine "sqlite" }}
{{- fail "database.url is a SQLite URL: an embedded database file cannot be shared between pods. Use PostgreSQL for more than one replica, or set database.engine=sqlite with replicaCount=1" }}
{{- end }}
{{- else if $url }}
{{- if not (or (hasPrefix "postgres://" $url) (hasPrefix "postgresql://" $url)) }}
{{- fail "database.url must start with postgres:// or postgresql:// (or sqlite: with database.engine=sqlite)" }}
{{- end }}
{{- if eq $db.engine "sqlite" }}
{{- fail "database.engine is sqlite but database.url is a PostgreSQL URL: set database.engine=postgres" }}
{{- end }}
{{- end }}
{{- if eq $db.engine "sqlite" }}
{{- if gt (int .Values.replicaCount) 1 }}
{{- fail (printf "database.engine=sqlite with replicaCount=%d: an embedded SQLite file cannot be shared between pods, so each pod would have a separate database (a case written through one pod missing on the others). Use PostgreSQL to scale out, or set replicaCount=1" (int .Values.replicaCount)) }}
{{- end }}
{{- if .Values.autoscaling.enabled }}
{{- fail "database.engine=sqlite with autoscaling.enabled: an embedded SQLite file cannot be shared between pods. Use PostgreSQL to scale out, or turn autoscaling off" }}
{{- end }}
{{- else }}
{{- if not (or $db.existingSecret $url) }}
{{- fail "database: PostgreSQL needs its URL. Set database.existingSecret to a Secret holding it (recommended; key database.existingSecretKey, default database-url) or database.url; or database.engine=sqlite to try the chart with one replica" }}
{{- end }}
{{- end }}
{{- if gt (int $db.writers) (int $db.maxConnections) }}
{{- fail (printf "database.writers (%d) must not exceed database.maxConnections (%d): each group-commit writer holds one of the pool's connections while it commits" (int $db.writers) (int $db.maxConnections)) }}
{{- end }}
{{- $pdb := .Values.podDisruptionBudget -}}
{{- if and $pdb.enabled ($pdb.minAvailable | default "" | toString) ($pdb.maxUnavailable | default "" | toString) }}
{{- fail "podDisruptionBudget: set minAvailable or maxUnavailable, not both (set maxUnavailable to \"\" to use minAvailable)" }}
{{- end }}
{{- if and $pdb.enabled (not ($pdb.minAvailable | default "" | toString)) (not ($pdb.maxUnavailable | default "" | toString)) }}
{{- fail "podDisruptionBudget: set minAvailable or maxUnavailable (or enabled=false)" }}
{{- end }}
{{- if not (has .Values.lifecycle.preStopMode (list "exec" "sleepAction" "none")) }}
{{- fail (printf "lifecycle.preStopMode must be exec, sleepAction or none, not %q" .Values.lifecycle.preStopMode) }}
{{- end }}
{{- if not (has .Values.logging.format (list "json" "text")) }}
{{- fail (printf "logging.format must be json or text, not %q" .Values.logging.format) }}
{{- end }}
{{- end }}

{{/* terminationGracePeriodSeconds: preStop wait + drain + margin. */}}
{{- define "aftersales.terminationGracePeriodSeconds" -}}
{{- $preStop := 0 -}}
{{- if ne .Values.lifecycle.preStopMode "none" }}{{ $preStop = int .Values.lifecycle.preStopSleepSeconds }}{{ end -}}
{{- add $preStop (int .Values.server.drainSeconds) (int .Values.terminationGraceMarginSeconds) }}
{{- end }}
