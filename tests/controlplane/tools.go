//go:build tools

// Package controlplane pins the commands the test harness builds: `go build` of these import
// paths inside this module gives kube-apiserver and etcd at the versions go.mod names.
package controlplane

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
