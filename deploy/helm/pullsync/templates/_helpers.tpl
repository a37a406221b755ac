{{- define "pullsync.name" -}}pullsync{{- end -}}

{{- define "pullsync.fullname" -}}
{{- if contains "pullsync" .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}{{- else -}}{{ printf "%s-pullsync" .Release.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "pullsync.selectorLabels" -}}
app.kubernetes.io/name: pullsync
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "pullsync.labels" -}}
{{ include "pullsync.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "pullsync.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}{{ default (include "pullsync.fullname" .) .Values.serviceAccount.name }}{{- else -}}{{ default "default" .Values.serviceAccount.name }}{{- end -}}
{{- end -}}

{{/* The Secret holding the admission webhook's serving certificate. */}}
{{- define "pullsync.admissionSecret" -}}
{{- if .Values.admission.certManager.enabled -}}
{{ include "pullsync.fullname" . }}-admission-tls
{{- else -}}
{{ .Values.admission.tls.secretName }}
{{- end -}}
{{- end }}

{{- /* The provider endpoint's certificate Secret: given, or cert-manager's. */}}
{{- define "pullsync.providerSecret" -}}
{{- if .Values.credentialProvider.certManager.enabled -}}
{{ include "pullsync.fullname" . }}-provider-tls
{{- else -}}
{{ .Values.credentialProvider.tls.secretName }}
{{- end -}}
{{- end -}}

{{- /* The Service's ClusterIP as Kubernetes puts it in every pod of the namespace. */}}
{{- define "pullsync.serviceHostVar" -}}
{{ include "pullsync.fullname" . | upper | replace "-" "_" }}_SERVICE_HOST
{{- end -}}

