{{/* Names and labels shared by every object. */}}
{{- define "distgan.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "distgan.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "distgan.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "distgan.image" -}}
{{- $tag := default .root.Chart.AppVersion .root.Values.image.tag -}}
{{- printf "%s/%s:%s" .root.Values.image.registry .repository (ternary (printf "%s-%s" $tag .suffix) $tag (ne .suffix "")) -}}
{{- end -}}

{{- define "distgan.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}{{ default (include "distgan.fullname" .) .Values.serviceAccount.name }}{{- else -}}{{ default "default" .Values.serviceAccount.name }}{{- end -}}
{{- end -}}

{{/* A bundled Bitnami chart's full name, as that chart computes it (common.names.fullname):
    its fullnameOverride; else the release name when it already contains the chart's name;
    else "<release>-<name>". Call with (list . "rabbitmq"). */}}
{{- define "distgan.subchartFullname" -}}
{{- $root := index . 0 -}}
{{- $chart := index . 1 -}}
{{- $values := index $root.Values $chart -}}
{{- if $values.fullnameOverride -}}
{{- $values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default $chart $values.nameOverride -}}
{{- if contains $name $root.Release.Name -}}
{{- $root.Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" $root.Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* RABBITMQ_URL and REDIS_URL, from the bundled charts' Secrets (the bundled Redis has
    auth on, as Bitnami's chart has by default, unless redis.auth.enabled is false) or the
    external ones. */}}
{{- define "distgan.connectionEnv" -}}
{{- if .Values.rabbitmq.enabled }}
- name: RABBITMQ_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "distgan.subchartFullname" (list . "rabbitmq") }}
      key: rabbitmq-password
{{- end }}
- name: RABBITMQ_URL
  {{- if .Values.rabbitmq.enabled }}
  value: {{ printf "amqp://%s:$(RABBITMQ_PASSWORD)@%s:5672" .Values.rabbitmq.auth.username (include "distgan.subchartFullname" (list . "rabbitmq")) | quote }}
  {{- else }}
  valueFrom:
    secretKeyRef:
      name: {{ .Values.rabbitmq.external.existingSecret }}
      key: {{ .Values.rabbitmq.external.urlKey }}
  {{- end }}
{{- if and .Values.redis.enabled (ne (dig "auth" "enabled" true .Values.redis) false) }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "distgan.subchartFullname" (list . "redis") }}
      key: redis-password
{{- end }}
- name: REDIS_URL
  {{- if .Values.redis.enabled }}
  {{- if ne (dig "auth" "enabled" true .Values.redis) false }}
  value: {{ printf "redis://:$(REDIS_PASSWORD)@%s-master:6379" (include "distgan.subchartFullname" (list . "redis")) | quote }}
  {{- else }}
  value: {{ printf "redis://%s-master:6379" (include "distgan.subchartFullname" (list . "redis")) | quote }}
  {{- end }}
  {{- else }}
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.external.existingSecret }}
      key: {{ .Values.redis.external.urlKey }}
  {{- end }}
{{- end -}}

{{- define "distgan.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
fsGroup: 1000
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "distgan.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}
