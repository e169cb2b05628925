// Package k8stest holds the tests that decode gcload's rendered Kubernetes
// manifests (deploy/k8s) strictly into the Kubernetes API types. It is a
// module of its own so that the Kubernetes API and its dependencies stay
// out of gcload's module; run its tests from this folder: go test ./...
package k8stest
