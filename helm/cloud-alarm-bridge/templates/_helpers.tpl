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
The version is the image tag without a digest, cut to what a label value may hold.
*/}}
{{- define "cloud-alarm-bridge.labels" -}}
helm.sh/chart: {{ include "cloud-alarm-bridge.chart" . }}
{{ include "cloud-alarm-bridge.selectorLabels" . }}
app.kubernetes.io/version: {{ regexReplaceAll "[^A-Za-z0-9._-]" (.Values.image.tag | default .Chart.AppVersion | splitList "@" | first) "_" | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: cloud-alarm-bridge
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Labels of the pod template: the selector labels and podLabels only. A chart or version
label there would change the template on every chart bump and so recreate the pod (with
SQLite, a callback outage) although nothing in it changed.
*/}}
{{- define "cloud-alarm-bridge.podLabels" -}}
{{ include "cloud-alarm-bridge.selectorLabels" . }}
{{- with .Values.podLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The image reference: [global.imageRegistry/]repository:tag[@digest]. global.imageRegistry
replaces the registry part of image.repository (its first path element, when that has a dot
or a port, or is localhost), as the community charts' global.imageRegistry does.
*/}}
{{- define "cloud-alarm-bridge.image" -}}
{{- $repository := .Values.image.repository }}
{{- with (.Values.global | default dict).imageRegistry }}
{{- $parts := splitList "/" $repository }}
{{- if and (gt (len $parts) 1) (or (contains "." (first $parts)) (contains ":" (first $parts)) (eq (first $parts) "localhost")) }}
{{- $repository = join "/" (rest $parts) }}
{{- end }}
{{- $repository = printf "%s/%s" (trimSuffix "/" .) $repository }}
{{- end }}
{{- $ref := printf "%s:%s" $repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- with .Values.image.digest }}{{ $ref = printf "%s@%s" $ref . }}{{ end }}
{{- $ref }}
{{- end }}

{{/*
Seconds in a duration value: a number, or a string such as 500ms, 10s, 5m, 1h (the schema
allows one unit). Returned as a string of a float.
*/}}
{{- define "cloud-alarm-bridge.seconds" -}}
{{- if kindIs "string" . }}
{{- $number := regexFind "^[0-9]+(\\.[0-9]+)?" . | float64 }}
{{- $unit := regexReplaceAll "^[0-9]+(\\.[0-9]+)?" . "" }}
{{- mulf $number (get (dict "ms" 0.001 "s" 1 "m" 60 "h" 3600 "" 1) $unit) }}
{{- else }}
{{- float64 . }}
{{- end }}
{{- end }}

{{/*
The Alertmanager addresses of alertmanager.urls, or, when neither urls nor targets are set,
the default: every replica of the Alertmanager kube-prometheus-stack runs in `monitoring`,
found by the SRV records of its headless Service alertmanager-operated (port name web).
Setting either replaces the default, so no phantom target is left behind.
Returned as YAML: {"urls": [...]}
*/}}
{{- define "cloud-alarm-bridge.alertmanagerUrls" -}}
{{- $urls := .Values.alertmanager.urls }}
{{- if not (or $urls .Values.alertmanager.targets) }}
{{- $urls = list "dnssrv+http://_web._tcp.alertmanager-operated.monitoring.svc" }}
{{- end }}
{{- toYaml (dict "urls" $urls) }}
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
{{- $inputs := dict }}
{{- if not .Values.auth.existingSecret }}
{{- $_ := set $inputs "token" .Values.auth.token }}
{{- end }}
{{- if and .Values.admin.token (not .Values.admin.existingSecret) }}
{{- $_ := set $inputs "adminToken" .Values.admin.token }}
{{- end }}
{{- if and (eq .Values.store.type "redis") (not .Values.store.redis.existingSecret) .Values.store.redis.password }}
{{- $_ := set $inputs "redisPassword" .Values.store.redis.password }}
{{- end }}
{{- with $inputs }}{{ toJson . }}{{ end }}
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
The Secret key holding the Redis password, as YAML {name, key}; empty without a password.
*/}}
{{- define "cloud-alarm-bridge.redisPasswordRef" -}}
{{- $r := .Values.store.redis }}
{{- if $r.existingSecret }}
{{- toYaml (dict "name" $r.existingSecret "key" $r.existingSecretPasswordKey) }}
{{- else if $r.password }}
{{- toYaml (dict "name" (printf "%s-redis" (include "cloud-alarm-bridge.fullname" .)) "key" "password") }}
{{- end }}
{{- end }}

{{/*
Whether the Redis connection uses TLS ("true" or ""): rediss:// in store.redis.url, or
store.redis.tls.enabled without a url.
*/}}
{{- define "cloud-alarm-bridge.redisTls" -}}
{{- $r := .Values.store.redis }}
{{- if $r.url }}{{ if hasPrefix "rediss://" $r.url }}true{{ end }}
{{- else if $r.tls.enabled }}true{{ end }}
{{- end }}

{{/*
The Redis store URL, for the BRIDGE_STORE variable. The password is the literal
$(REDIS_PASSWORD): Kubernetes replaces it with the variable of that name, set from the
Secret just before, so the password is in no ConfigMap, argument or rendered value.
TLS files are the keys the Deployment projects under the secrets directory.
*/}}
{{- define "cloud-alarm-bridge.redisUrl" -}}
{{- $r := .Values.store.redis }}
{{- $dir := printf "%s/redis" (include "cloud-alarm-bridge.secretsDir" .) }}
{{- $scheme := "redis" }}{{ $user := $r.username }}{{ $hosts := "" }}{{ $rest := "" }}
{{- if $r.url }}
{{- $scheme = regexReplaceAll "://.*$" $r.url "" }}
{{- $after := regexReplaceAll "^[^:]*://" $r.url "" }}
{{- $authority := regexReplaceAll "[/?#].*$" $after "" }}
{{- $rest = trimPrefix $authority $after }}
{{- $hosts = regexReplaceAll "^.*@" $authority "" }}
{{- if contains "@" $authority }}{{ $user = regexReplaceAll "@.*$" $authority "" }}{{ end }}
{{- else if $r.sentinel.enabled }}
{{- $scheme = "redis+sentinel" }}
{{- $hosts = join "," $r.sentinel.sentinels }}
{{- $rest = printf "/%s/%d" $r.sentinel.masterName (int $r.db) }}
{{- else }}
{{- $scheme = ternary "rediss" "redis" $r.tls.enabled }}
{{- $hosts = printf "%s:%d" $r.host (int $r.port) }}
{{- $rest = printf "/%d" (int $r.db) }}
{{- end }}
{{- $userinfo := $user }}
{{- if include "cloud-alarm-bridge.redisPasswordRef" . }}{{ $userinfo = printf "%s:$(REDIS_PASSWORD)" $user }}{{ end }}
{{- $query := list }}
{{- with $r.keyPrefix }}{{ $query = append $query (printf "prefix=%s" (urlquery .)) }}{{ end }}
{{- if include "cloud-alarm-bridge.redisTls" . }}
{{- if or $r.tls.caSecret $r.tls.caConfigMap }}{{ $query = append $query (printf "ssl_ca_certs=%s/ca.crt" $dir) }}{{ end }}
{{- if $r.tls.clientCertSecret }}
{{- $query = append $query (printf "ssl_certfile=%s/tls.crt" $dir) }}
{{- $query = append $query (printf "ssl_keyfile=%s/tls.key" $dir) }}
{{- end }}
{{- if $r.tls.insecureSkipVerify }}{{ $query = concat $query (list "ssl_cert_reqs=none" "ssl_check_hostname=false") }}{{ end }}
{{- end }}
{{- range $k := keys $r.options | sortAlpha }}
{{- $query = append $query (printf "%s=%s" $k (urlquery (toString (get $r.options $k)))) }}
{{- end }}
{{- $url := printf "%s://%s%s%s" $scheme (ternary (printf "%s@" $userinfo) "" (ne $userinfo "")) $hosts $rest }}
{{- with $query }}{{ $url = printf "%s%s%s" $url (ternary "&" "?" (contains "?" $url)) (join "&" .) }}{{ end }}
{{- $url }}
{{- end }}

{{/*
The bridge's configuration file (YAML). Everything the chart configures goes here, so the
checksum/config annotation rolls the pods on any change; flags and BRIDGE_* variables
would override it (flag > env > file), so the chart sets none but BRIDGE_STORE for Redis,
whose URL carries the password from a Secret (a change to it changes the pod template).
*/}}
{{- define "cloud-alarm-bridge.config" -}}
{{- $secretsDir := include "cloud-alarm-bridge.secretsDir" . }}
{{- $cfg := dict
  "listen" (printf "0.0.0.0:%d" (int .Values.containerPort))
  "log_level" .Values.bridge.logLevel
  "workers" .Values.bridge.workers
  "resend_interval" .Values.bridge.resendInterval
  "shutdown_timeout" .Values.bridge.shutdownTimeout
  "alertmanager_refresh_interval" .Values.alertmanager.refreshInterval
  "batch_size" .Values.bridge.batchSize
  "max_firing_age" .Values.bridge.maxFiringAge
  "vendor_timezone" .Values.bridge.vendorTimezone
  "max_body_bytes" .Values.bridge.maxBodyBytes
  "store_max_alerts" .Values.store.maxAlerts
  "token_file" (printf "%s/token" $secretsDir)
}}
{{- with .Values.bridge.allowTopics }}
{{- $_ := set $cfg "allow_topics" . }}
{{- end }}
{{- if or .Values.admin.existingSecret .Values.admin.token }}
{{- $_ := set $cfg "admin_token_file" (printf "%s/admin-token" $secretsDir) }}
{{- end }}
{{- with (include "cloud-alarm-bridge.alertmanagerUrls" . | fromYaml).urls }}
{{- $_ := set $cfg "alertmanager_urls" . }}
{{- end }}
{{- if eq .Values.store.type "sqlite" }}
{{- $_ := set $cfg "store" (printf "sqlite:///%s/bridge.db" .Values.store.sqlite.mountPath) }}
{{- else }}
{{- /* The Redis URL may carry a password, so it is the BRIDGE_STORE variable instead. */}}
{{- $_ := set $cfg "lease_ttl" .Values.store.redis.leaseTtl }}
{{- end }}
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

{{/*
For NOTES.txt: how to query the first configured Alertmanager from a workstation. A cluster
Service name (svc, svc.ns, svc.ns.svc[.cluster.local], or pod.svc.ns.svc for a StatefulSet pod
behind a headless Service) becomes a port-forward to 127.0.0.1; anything else is used as is.
Returned as YAML: {url, portForward, namespace, resource, port, auth}.
*/}}
{{- define "cloud-alarm-bridge.notesAlertmanager" -}}
{{- $target := dict }}
{{- $urls := (include "cloud-alarm-bridge.alertmanagerUrls" . | fromYaml).urls }}
{{- if $urls }}
{{- /* dnssrv+ names no port: Alertmanager's own 9093 serves amtool through the port-forward. */}}
{{- $_ := set $target "url" (regexReplaceAll "^dnssrv\\+(https?)://_[^./]+\\._tcp\\.([^/]+)" (first $urls) "${1}://${2}:9093" | trimPrefix "dns+") }}
{{- else }}
{{- $target = first .Values.alertmanager.targets }}
{{- end }}
{{- $u := urlParse $target.url }}
{{- $hostPort := splitList ":" $u.host }}
{{- $host := first $hostPort }}
{{- $port := ternary (last $hostPort) (ternary "443" "80" (eq $u.scheme "https")) (eq (len $hostPort) 2) }}
{{- $labels := splitList "." (trimSuffix ".cluster.local" $host) }}
{{- $out := dict "url" $target.url "portForward" false "auth" false }}
{{- if or $target.basicAuth $target.bearerTokenSecret $target.tenant $target.headers (($target.tlsConfig | default dict).certSecret) }}
{{- $_ := set $out "auth" true }}
{{- end }}
{{- $svc := "" }}{{- $pod := "" }}{{- $ns := include "cloud-alarm-bridge.namespace" . }}
{{- if and (eq (len $labels) 1) (ne $host "localhost") }}
{{- $svc = first $labels }}
{{- else if eq (len $labels) 2 }}
{{- if ne (last $labels) "svc" }}{{ $svc = first $labels }}{{ $ns = last $labels }}{{ end }}
{{- else if and (eq (len $labels) 3) (eq (last $labels) "svc") }}
{{- $svc = index $labels 0 }}{{ $ns = index $labels 1 }}
{{- else if and (eq (len $labels) 4) (eq (last $labels) "svc") }}
{{- $pod = index $labels 0 }}{{ $ns = index $labels 2 }}
{{- end }}
{{- if or $svc $pod }}
{{- $_ := set $out "portForward" true }}
{{- $_ := set $out "namespace" $ns }}
{{- $_ := set $out "resource" (ternary (printf "pod/%s" $pod) (printf "svc/%s" $svc) (ne $pod "")) }}
{{- $_ := set $out "port" $port }}
{{- $_ := set $out "url" (printf "%s://127.0.0.1:%s%s" $u.scheme $port (trimSuffix "/" $u.path)) }}
{{- end }}
{{- toYaml $out }}
{{- end }}
