{{/*
Chart name, overridable with nameOverride; truncated to 63 characters because some
Kubernetes name fields are limited to that (DNS-1123 label).
*/}}
{{- define "cloud-alarm-bridge.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: release name plus chart name, unless the release name already
contains the chart name. Truncated to 63 characters for the same reason as above.
*/}}
{{- define "cloud-alarm-bridge.fullname" -}}
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

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "cloud-alarm-bridge.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels: stable over upgrades, so they carry no version (a Deployment's selector
is immutable).
*/}}
{{- define "cloud-alarm-bridge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cloud-alarm-bridge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Common labels: the selector labels plus chart and version, and the user's commonLabels.
*/}}
{{- define "cloud-alarm-bridge.labels" -}}
helm.sh/chart: {{ include "cloud-alarm-bridge.chart" . }}
{{ include "cloud-alarm-bridge.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: cloud-alarm-bridge
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Name of the ServiceAccount the pod runs as.
*/}}
{{- define "cloud-alarm-bridge.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cloud-alarm-bridge.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Namespace of every object; namespaceOverride lets an umbrella chart place it elsewhere.
*/}}
{{- define "cloud-alarm-bridge.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride }}
{{- end }}

{{/*
Name of the Secret holding the callback token, and the key inside it.
*/}}
{{- define "cloud-alarm-bridge.tokenSecretName" -}}
{{- default (include "cloud-alarm-bridge.fullname" .) .Values.auth.existingSecret }}
{{- end }}

{{- define "cloud-alarm-bridge.tokenSecretKey" -}}
{{- if .Values.auth.existingSecret }}{{ .Values.auth.existingSecretKey }}{{ else }}token{{ end }}
{{- end }}

{{/*
What the checksum/secret annotation covers: the secret values given in values, never the
rendered Secret. A generated token is random on every render (lookup reuses the stored one
only when talking to a cluster), so hashing the Secret would roll the pods on the first
upgrade for nothing. Empty when the chart creates no Secret from values.
*/}}
{{- define "cloud-alarm-bridge.secretInputs" -}}
{{- if not .Values.auth.existingSecret }}
{{- toJson (dict "token" .Values.auth.token) }}
{{- end }}
{{- end }}

{{/*
Where Secrets are mounted in the container. The config file refers to files under it,
never to secret values, so the ConfigMap holds no credentials.
*/}}
{{- define "cloud-alarm-bridge.secretsDir" -}}
/etc/cloud-alarm-bridge-secrets
{{- end }}

{{/*
Path of a key of a user Secret referenced by alertmanager.targets[].
Takes a dict {name, key}.
*/}}
{{- define "cloud-alarm-bridge.secretFile" -}}
{{- printf "%s/alertmanager/%s/%s" (include "cloud-alarm-bridge.secretsDir" .root) .ref.name .ref.key }}
{{- end }}

{{/*
Every {name, key} Secret reference under alertmanager.targets, as a list, deduplicated.
Returned as YAML (include returns a string): {"refs": [...]}
*/}}
{{- define "cloud-alarm-bridge.targetSecretRefs" -}}
{{- $refs := dict }}
{{- range .Values.alertmanager.targets }}
{{- $cands := list }}
{{- with .basicAuth }}{{ $cands = append $cands .passwordSecret }}{{ end }}
{{- $cands = append $cands .bearerTokenSecret }}
{{- with .tlsConfig }}{{ $cands = concat $cands (list .caSecret .certSecret .keySecret) }}{{ end }}
{{- range $cands }}
{{- if . }}{{ $_ := set $refs (printf "%s/%s" .name .key) . }}{{ end }}
{{- end }}
{{- end }}
{{- $list := list }}
{{- range $k := keys $refs | sortAlpha }}{{ $list = append $list (get $refs $k) }}{{ end }}
{{- toYaml (dict "refs" $list) }}
{{- end }}

{{/*
The bridge's configuration file (YAML). Everything the chart configures goes here, so the
checksum/config annotation rolls the pods on any change; flags and BRIDGE_* variables
would override it (flag > env > file), so the chart sets none.
*/}}
{{- define "cloud-alarm-bridge.config" -}}
{{- $secretsDir := include "cloud-alarm-bridge.secretsDir" . }}
{{- $cfg := dict
  "listen" (printf "0.0.0.0:%d" (int .Values.containerPort))
  "log_level" .Values.bridge.logLevel
  "workers" .Values.bridge.workers
  "resend_interval" .Values.bridge.resendInterval
  "batch_size" .Values.bridge.batchSize
  "max_firing_age" .Values.bridge.maxFiringAge
  "vendor_timezone" .Values.bridge.vendorTimezone
  "max_body_bytes" .Values.bridge.maxBodyBytes
  "store_max_alerts" .Values.store.maxAlerts
  "token_file" (printf "%s/token" $secretsDir)
  "alertmanager_urls" .Values.alertmanager.urls
}}
{{- if eq .Values.store.type "sqlite" }}
{{- $_ := set $cfg "store" (printf "sqlite:///%s/bridge.db" .Values.store.sqlite.mountPath) }}
{{- end }}
{{- /* store.type=redis: set "store" to the redis:// URL here when the bridge supports it. */}}
{{- $targets := list }}
{{- range .Values.alertmanager.targets }}
{{- $t := dict "url" .url }}
{{- with .timeout }}{{ $_ := set $t "timeout" . }}{{ end }}
{{- $headers := deepCopy (.headers | default dict) }}
{{- with .tenant }}{{ $_ := set $headers "X-Scope-OrgID" . }}{{ end }}
{{- with $headers }}{{ $_ := set $t "headers" . }}{{ end }}
{{- with .basicAuth }}
{{- $_ := set $t "basic_auth" (dict "username" .username "password_file" (include "cloud-alarm-bridge.secretFile" (dict "root" $ "ref" .passwordSecret))) }}
{{- end }}
{{- with .bearerTokenSecret }}
{{- $_ := set $t "bearer_token_file" (include "cloud-alarm-bridge.secretFile" (dict "root" $ "ref" .)) }}
{{- end }}
{{- with .tlsConfig }}
{{- $tls := dict }}
{{- with .caSecret }}{{ $_ := set $tls "ca_file" (include "cloud-alarm-bridge.secretFile" (dict "root" $ "ref" .)) }}{{ end }}
{{- with .certSecret }}{{ $_ := set $tls "cert_file" (include "cloud-alarm-bridge.secretFile" (dict "root" $ "ref" .)) }}{{ end }}
{{- with .keySecret }}{{ $_ := set $tls "key_file" (include "cloud-alarm-bridge.secretFile" (dict "root" $ "ref" .)) }}{{ end }}
{{- if .insecureSkipVerify }}{{ $_ := set $tls "insecure_skip_verify" true }}{{ end }}
{{- $_ := set $t "tls_config" $tls }}
{{- end }}
{{- $targets = append $targets $t }}
{{- end }}
{{- if $targets }}{{ $_ := set $cfg "alertmanagers" $targets }}{{ end }}
{{- /* extraConfig wins over the generated keys: it is the escape hatch for anything else. */}}
{{- toYaml (merge (deepCopy .Values.extraConfig) $cfg) }}
{{- end }}
