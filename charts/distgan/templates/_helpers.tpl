{{/* Names and labels shared by every object. */}}
{{- define "distgan.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "distgan.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "distgan.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "distgan.labels" -}}
app.kubernetes.io/name: {{ include "distgan.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The release's server and devices (the NetworkPolicy's and the PodMonitor's pods). */}}
{{- define "distgan.podSelector" -}}
app.kubernetes.io/name: {{ include "distgan.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "distgan.selector" -}}
{{ include "distgan.podSelector" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* registry/repository:tag[-suffix][@digest]. Call with (dict "root" . "repository" R "suffix" S "digest" D). */}}
{{- define "distgan.image" -}}
{{- $tag := default .root.Chart.AppVersion .root.Values.image.tag -}}
{{- $image := printf "%s/%s:%s" .root.Values.image.registry .repository (ternary (printf "%s-%s" $tag .suffix) $tag (ne .suffix "")) -}}
{{- if .digest }}{{ printf "%s@%s" $image .digest }}{{ else }}{{ $image }}{{ end -}}
{{- end -}}

{{/* An official image (the in-chart brokers): repository:tag[@digest]. */}}
{{- define "distgan.brokerImage" -}}
{{- if .digest }}{{ printf "%s:%s@%s" .repository .tag .digest }}{{ else }}{{ printf "%s:%s" .repository .tag }}{{ end -}}
{{- end -}}

{{- define "distgan.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}{{ default (include "distgan.fullname" .) .Values.serviceAccount.name }}{{- else -}}{{ default "default" .Values.serviceAccount.name }}{{- end -}}
{{- end -}}

{{/* The Secret and key of an in-chart broker's password. Call with (list . "rabbitmq"). */}}
{{- define "distgan.brokerSecret" -}}
{{- $root := index . 0 -}}
{{- $auth := (index $root.Values (index . 1)).auth -}}
{{- default (printf "%s-%s-auth" (include "distgan.fullname" $root) (index . 1)) $auth.existingSecret -}}
{{- end -}}

{{/* Whether the PodMonitor is rendered: asked for, and its CRD served by the cluster. */}}
{{- define "distgan.podMonitor" -}}
{{- if and .Values.metrics.podMonitor.enabled (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1/PodMonitor") -}}true{{- end -}}
{{- end -}}

{{/* Pod annotations: the config checksum, scrape annotations (unless a PodMonitor scrapes),
    the workload's own. Call with (dict "root" . "port" P "extra" ANNOTATIONS). */}}
{{- define "distgan.podAnnotations" -}}
checksum/config: {{ include (print .root.Template.BasePath "/configmap.yaml") .root | sha256sum }}
{{- if and .root.Values.metrics.annotations (not (include "distgan.podMonitor" .root)) }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- with .extra }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* RabbitMQ and Redis: each process builds its URL from RABBITMQ_URL and RABBITMQ_PASSWORD
    (REDIS_URL, REDIS_PASSWORD), so that a password may hold @ / : # (no $(VAR) splicing). */}}
{{- define "distgan.connectionEnv" -}}
{{- $fullname := include "distgan.fullname" . -}}
{{- if .Values.rabbitmq.enabled }}
- name: RABBITMQ_URL
  value: {{ printf "amqp://%s@%s-rabbitmq:5672" .Values.rabbitmq.auth.username $fullname | quote }}
- name: RABBITMQ_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "distgan.brokerSecret" (list . "rabbitmq") }}
      key: {{ .Values.rabbitmq.auth.passwordKey }}
{{- else }}
- name: RABBITMQ_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.rabbitmq.external.existingSecret }}
      key: {{ .Values.rabbitmq.external.urlKey }}
{{- with .Values.rabbitmq.external.passwordKey }}
- name: RABBITMQ_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $.Values.rabbitmq.external.existingSecret }}
      key: {{ . }}
{{- end }}
{{- end }}
{{- if .Values.redis.enabled }}
- name: REDIS_URL
  value: {{ printf "redis://%s-redis:6379" $fullname | quote }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "distgan.brokerSecret" (list . "redis") }}
      key: {{ .Values.redis.auth.passwordKey }}
{{- else }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.external.existingSecret }}
      key: {{ .Values.redis.external.urlKey }}
{{- with .Values.redis.external.passwordKey }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $.Values.redis.external.existingSecret }}
      key: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Cross-field rules the schema cannot state; included by the ConfigMap, so every render checks them. */}}
{{- define "distgan.validate" -}}
{{- $d := .Values.devices -}}
{{- $r := .Values.run -}}
{{- $replicas := int $d.replicas -}}
{{- if eq $r.method "centralized" -}}
{{- if gt $replicas 0 -}}
{{- fail (printf "devices.replicas is %d, and run.method centralized trains on the server alone: set devices.replicas=0 (a device refuses to start with this method)" $replicas) -}}
{{- end -}}
{{- else -}}
{{- if gt $replicas (int $d.shards) -}}
{{- fail (printf "devices.replicas (%d) is above devices.shards (%d): a device's shard is its ordinal, and devices %d and up would have no data and exit. Raise devices.shards too (every device restarts on its new shard), or keep replicas <= shards" $replicas (int $d.shards) (int $d.shards)) -}}
{{- end -}}
{{- if and (gt $replicas 0) (gt (int $r.quorum) $replicas) -}}
{{- fail (printf "run.quorum (%d) is above devices.replicas (%d): no round could ever count. Lower run.quorum or add devices" (int $r.quorum) $replicas) -}}
{{- end -}}
{{- if and (gt $replicas 0) (gt (int $r.minDevices) $replicas) -}}
{{- fail (printf "run.minDevices (%d) is above devices.replicas (%d): no round would ever start. Lower run.minDevices or add devices" (int $r.minDevices) $replicas) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.server.persistence.existingClaim (not .Values.server.persistence.enabled) -}}
{{- fail "server.persistence.existingClaim is set and server.persistence.enabled is false: enable persistence to mount it" -}}
{{- end -}}
{{- end -}}
