// Package k8s renders the Kubernetes manifests of a distributed gcload
// run: a ConfigMap holding the scenario, the coordinator (a Job of one pod
// and a Service in front of it), and the shards (an Indexed Job of N pods:
// completionMode Indexed, completions = parallelism = N). Both mount the
// scenario from the ConfigMap; each shard pod takes its shard index from
// JOB_COMPLETION_INDEX (0 to N−1, shard index+1) and reaches the
// coordinator at the Service's name; the shards send their results to the
// coordinator, so no volume is shared. Shard pods request the memory and
// CPU the scenario needs (Size, from the generator's measured costs).
//
// The pods run these commands (the contract with the CLI):
//
//	coordinator: gcload coordinate /etc/gcload/scenario.yaml --shards N --listen :PORT --out /work/results [--serve-results D] [--set K=V]...
//	shard:       gcload run /etc/gcload/scenario.yaml --coordinator http://NAME-coordinator:PORT [--set K=V]...
//
// Render writes YAML documents for kubectl apply -f.
package k8s

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gcload/gcload/scenarios"
	"gopkg.in/yaml.v3"
)

// Defaults of Options left zero.
const (
	DefaultPort              = 8440
	DefaultCoordinatorCPU    = "250m"
	DefaultCoordinatorMemory = "512Mi"
	// ScenarioDir is where the ConfigMap is mounted in every pod, and
	// ScenarioKey the scenario's file name there.
	ScenarioDir = "/etc/gcload"
	ScenarioKey = "scenario.yaml"
	// WorkDir is every pod's working folder (an emptyDir): results are
	// written there.
	WorkDir = "/work"
	// CompletionIndexAnnotation is the pod annotation an Indexed Job sets
	// to the pod's completion index.
	CompletionIndexAnnotation = "batch.kubernetes.io/job-completion-index"
)

// Options say what to render.
type Options struct {
	// Shards is the number of shard pods, N.
	Shards int
	// Image is gcload's container image (make image builds one).
	Image string
	// ImagePullPolicy is the containers' (default IfNotPresent).
	ImagePullPolicy string
	// Name prefixes every object's name (default "gcload-" and the
	// scenario's name).
	Name string
	// Namespace is the objects' namespace (default: none, kubectl's).
	Namespace string
	// Port is the coordinator's port (default 8440).
	Port int
	// Set are --set overrides of the scenario, applied to the sizing
	// and passed to both commands.
	Set []string
	// ShardCPU and ShardMemory replace the derived requests (Kubernetes
	// quantities); CoordinatorCPU and CoordinatorMemory are the
	// coordinator's (defaults 250m and 512Mi: a choice, not a
	// measurement; merging holds every shard's accounting in memory).
	ShardCPU, ShardMemory             string
	CoordinatorCPU, CoordinatorMemory string
	// ServeResults is how long the coordinator serves the merged results
	// folder after the verdict (gcload coordinate --serve-results), for
	// kubectl port-forward and a download: the pod's folder is an
	// emptyDir, gone with the pod. Zero: not served.
	ServeResults time.Duration
}

var (
	dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	notLabel = regexp.MustCompile(`[^a-z0-9-]+`)
	quantity = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$`)
)

// maxName leaves room in a DNS label (63) for "-coordinator" and an
// Indexed Job pod's "-INDEX-XXXXX".
const maxName = 40

// Render parses the scenario (file names it in errors; data is its
// bytes, which go into the ConfigMap unchanged), sizes the shards, and
// writes the manifests to w as YAML documents.
func Render(w io.Writer, file string, data []byte, o Options) (Sizing, error) {
	spec, _, err := scenarios.Parse(file, data, o.Set)
	if err != nil {
		return Sizing{}, err
	}
	if err := o.fill(spec); err != nil {
		return Sizing{}, err
	}
	if o.Shards > 1 && spec.Target.Lookup == "" {
		return Sizing{}, fmt.Errorf("%s: no target: the shards need one shared server (set target.lookup and target.server in the scenario, or --set target.lookup=... --set target.server=...); the embedded server serves one process only", file)
	}
	sz := Size(spec, o.Shards)
	docs := o.objects(data, sz)
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	for _, d := range docs {
		if err := enc.Encode(d); err != nil {
			return Sizing{}, err
		}
	}
	return sz, enc.Close()
}

// fill checks the options and fills their defaults.
func (o *Options) fill(spec *scenarios.Spec) error {
	var errs []error
	if o.Shards < 1 {
		errs = append(errs, fmt.Errorf("--shards %d: want at least 1", o.Shards))
	}
	if o.Image == "" {
		errs = append(errs, errors.New("--image: required (make image builds one; push it where the cluster pulls from)"))
	}
	if o.Name == "" {
		o.Name = strings.Trim(notLabel.ReplaceAllString("gcload-"+strings.ToLower(spec.Name), "-"), "-")
		if len(o.Name) > maxName {
			o.Name = strings.TrimRight(o.Name[:maxName], "-")
		}
	}
	if !dnsLabel.MatchString(o.Name) || len(o.Name) > maxName {
		errs = append(errs, fmt.Errorf("--name %q: want at most %d lowercase letters, digits and '-', starting and ending with a letter or digit", o.Name, maxName))
	}
	if o.Namespace != "" && (!dnsLabel.MatchString(o.Namespace) || len(o.Namespace) > 63) {
		errs = append(errs, fmt.Errorf("--namespace %q: not a Kubernetes namespace name", o.Namespace))
	}
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.Port < 1 || o.Port > 65535 {
		errs = append(errs, fmt.Errorf("--port %d: want 1 to 65535", o.Port))
	}
	if o.ServeResults < 0 {
		errs = append(errs, fmt.Errorf("--serve-results %v: must not be negative", o.ServeResults))
	}
	switch o.ImagePullPolicy {
	case "":
		o.ImagePullPolicy = "IfNotPresent"
	case "Always", "IfNotPresent", "Never":
	default:
		errs = append(errs, fmt.Errorf("--pull %q: want Always, IfNotPresent or Never", o.ImagePullPolicy))
	}
	if o.CoordinatorCPU == "" {
		o.CoordinatorCPU = DefaultCoordinatorCPU
	}
	if o.CoordinatorMemory == "" {
		o.CoordinatorMemory = DefaultCoordinatorMemory
	}
	for flag, q := range map[string]string{"--shard-cpu": o.ShardCPU, "--shard-memory": o.ShardMemory, "--coordinator-cpu": o.CoordinatorCPU, "--coordinator-memory": o.CoordinatorMemory} {
		if q != "" && !quantity.MatchString(q) {
			errs = append(errs, fmt.Errorf("%s %q: not a Kubernetes quantity (e.g. 500m, 2, 256Mi, 1Gi)", flag, q))
		}
	}
	return errors.Join(errs...)
}

// CoordinatorURL is the address shard pods reach the coordinator at: its
// Service, by name, in their own namespace.
func (o *Options) CoordinatorURL() string {
	return fmt.Sprintf("http://%s-coordinator:%d", o.Name, o.Port)
}

// ---- the Kubernetes objects, as much of their API as gcload sets

type meta struct {
	Name        string            `yaml:"name,omitempty"`
	Namespace   string            `yaml:"namespace,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

type configMap struct {
	APIVersion string            `yaml:"apiVersion"`
	Kind       string            `yaml:"kind"`
	Metadata   meta              `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
}

type service struct {
	APIVersion string      `yaml:"apiVersion"`
	Kind       string      `yaml:"kind"`
	Metadata   meta        `yaml:"metadata"`
	Spec       serviceSpec `yaml:"spec"`
}

type serviceSpec struct {
	Type     string            `yaml:"type"`
	Selector map[string]string `yaml:"selector"`
	Ports    []servicePort     `yaml:"ports"`
}

type servicePort struct {
	Name       string `yaml:"name"`
	Protocol   string `yaml:"protocol"`
	Port       int    `yaml:"port"`
	TargetPort string `yaml:"targetPort"`
}

type job struct {
	APIVersion string  `yaml:"apiVersion"`
	Kind       string  `yaml:"kind"`
	Metadata   meta    `yaml:"metadata"`
	Spec       jobSpec `yaml:"spec"`
}

type jobSpec struct {
	CompletionMode string      `yaml:"completionMode,omitempty"`
	Completions    int         `yaml:"completions"`
	Parallelism    int         `yaml:"parallelism"`
	BackoffLimit   int         `yaml:"backoffLimit"`
	Template       podTemplate `yaml:"template"`
}

type podTemplate struct {
	Metadata meta    `yaml:"metadata"`
	Spec     podSpec `yaml:"spec"`
}

type podSpec struct {
	RestartPolicy   string      `yaml:"restartPolicy"`
	SecurityContext podSecurity `yaml:"securityContext"`
	Affinity        *affinity   `yaml:"affinity,omitempty"`
	Containers      []container `yaml:"containers"`
	Volumes         []volume    `yaml:"volumes"`
}

type podSecurity struct {
	RunAsNonRoot bool `yaml:"runAsNonRoot"`
	RunAsUser    int  `yaml:"runAsUser"`
	RunAsGroup   int  `yaml:"runAsGroup"`
}

type affinity struct {
	PodAntiAffinity podAntiAffinity `yaml:"podAntiAffinity"`
}

type podAntiAffinity struct {
	Preferred []weightedTerm `yaml:"preferredDuringSchedulingIgnoredDuringExecution"`
}

type weightedTerm struct {
	Weight int          `yaml:"weight"`
	Term   affinityTerm `yaml:"podAffinityTerm"`
}

type affinityTerm struct {
	LabelSelector labelSelector `yaml:"labelSelector"`
	TopologyKey   string        `yaml:"topologyKey"`
}

type labelSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

type container struct {
	Name            string            `yaml:"name"`
	Image           string            `yaml:"image"`
	ImagePullPolicy string            `yaml:"imagePullPolicy"`
	Args            []string          `yaml:"args"`
	WorkingDir      string            `yaml:"workingDir"`
	Env             []envVar          `yaml:"env,omitempty"`
	Ports           []containerPort   `yaml:"ports,omitempty"`
	Resources       resources         `yaml:"resources"`
	ReadinessProbe  *probe            `yaml:"readinessProbe,omitempty"`
	VolumeMounts    []volumeMount     `yaml:"volumeMounts"`
	SecurityContext containerSecurity `yaml:"securityContext"`
}

type containerSecurity struct {
	AllowPrivilegeEscalation bool         `yaml:"allowPrivilegeEscalation"`
	ReadOnlyRootFilesystem   bool         `yaml:"readOnlyRootFilesystem"`
	Capabilities             capabilities `yaml:"capabilities"`
}

type capabilities struct {
	Drop []string `yaml:"drop"`
}

type envVar struct {
	Name      string        `yaml:"name"`
	Value     string        `yaml:"value,omitempty"`
	ValueFrom *envVarSource `yaml:"valueFrom,omitempty"`
}

type envVarSource struct {
	FieldRef fieldRef `yaml:"fieldRef"`
}

type fieldRef struct {
	FieldPath string `yaml:"fieldPath"`
}

type containerPort struct {
	Name          string `yaml:"name"`
	ContainerPort int    `yaml:"containerPort"`
	Protocol      string `yaml:"protocol"`
}

type resources struct {
	Requests map[string]string `yaml:"requests"`
}

type probe struct {
	HTTPGet       httpGet `yaml:"httpGet"`
	PeriodSeconds int     `yaml:"periodSeconds"`
}

type httpGet struct {
	Path string `yaml:"path"`
	Port string `yaml:"port"`
}

type volumeMount struct {
	Name      string `yaml:"name"`
	MountPath string `yaml:"mountPath"`
	ReadOnly  bool   `yaml:"readOnly,omitempty"`
}

type volume struct {
	Name      string           `yaml:"name"`
	ConfigMap *configMapVolume `yaml:"configMap,omitempty"`
	EmptyDir  *struct{}        `yaml:"emptyDir,omitempty"`
}

type configMapVolume struct {
	Name string `yaml:"name"`
}

// nonRoot is the distroless image's nonroot user (Dockerfile).
const nonRoot = 65532

func (o *Options) labels(component string) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":       "gcload",
		"app.kubernetes.io/instance":   o.Name,
		"app.kubernetes.io/component":  component,
		"app.kubernetes.io/managed-by": "gcload",
	}
}

func (o *Options) meta(name, component string, annotations map[string]string) meta {
	return meta{Name: name, Namespace: o.Namespace, Labels: o.labels(component), Annotations: annotations}
}

func (o *Options) sets() []string {
	var a []string
	for _, s := range o.Set {
		a = append(a, "--set", s)
	}
	return a
}

// pod is what the coordinator's and the shards' pods share.
func (o *Options) pod(component string, c container) podTemplate {
	c.Image, c.ImagePullPolicy, c.WorkingDir = o.Image, o.ImagePullPolicy, WorkDir
	c.VolumeMounts = []volumeMount{
		{Name: "scenario", MountPath: ScenarioDir, ReadOnly: true},
		{Name: "work", MountPath: WorkDir},
		{Name: "tmp", MountPath: "/tmp"}, // the root filesystem is read-only
	}
	c.SecurityContext = containerSecurity{ReadOnlyRootFilesystem: true, Capabilities: capabilities{Drop: []string{"ALL"}}}
	return podTemplate{
		Metadata: meta{Labels: o.labels(component)},
		Spec: podSpec{
			RestartPolicy:   "Never",
			SecurityContext: podSecurity{RunAsNonRoot: true, RunAsUser: nonRoot, RunAsGroup: nonRoot},
			Containers:      []container{c},
			Volumes: []volume{
				{Name: "scenario", ConfigMap: &configMapVolume{Name: o.Name + "-scenario"}},
				{Name: "work", EmptyDir: &struct{}{}},
				{Name: "tmp", EmptyDir: &struct{}{}},
			},
		},
	}
}

func (o *Options) coordinatorArgs(scenarioPath, port string) []string {
	a := []string{"coordinate", scenarioPath, "--shards", strconv.Itoa(o.Shards), "--listen", ":" + port, "--out", WorkDir + "/results"}
	if o.ServeResults > 0 {
		a = append(a, "--serve-results", o.ServeResults.String())
	}
	return a
}

func (o *Options) objects(scenario []byte, sz Sizing) []any {
	scenarioPath := ScenarioDir + "/" + ScenarioKey
	cm := configMap{APIVersion: "v1", Kind: "ConfigMap", Metadata: o.meta(o.Name+"-scenario", "scenario", nil), Data: map[string]string{ScenarioKey: string(scenario)}}
	svc := service{APIVersion: "v1", Kind: "Service", Metadata: o.meta(o.Name+"-coordinator", "coordinator", nil), Spec: serviceSpec{
		Type: "ClusterIP", Selector: o.labels("coordinator"),
		Ports: []servicePort{{Name: "http", Protocol: "TCP", Port: o.Port, TargetPort: "http"}},
	}}
	port := strconv.Itoa(o.Port)
	coordPod := o.pod("coordinator", container{
		Name:           "coordinator",
		Args:           append(o.coordinatorArgs(scenarioPath, port), o.sets()...),
		Ports:          []containerPort{{Name: "http", ContainerPort: o.Port, Protocol: "TCP"}},
		Resources:      resources{Requests: map[string]string{"cpu": o.CoordinatorCPU, "memory": o.CoordinatorMemory}},
		ReadinessProbe: &probe{HTTPGet: httpGet{Path: "/v1/healthz", Port: "http"}, PeriodSeconds: 2},
	})
	coord := job{APIVersion: "batch/v1", Kind: "Job", Metadata: o.meta(o.Name+"-coordinator", "coordinator", nil), Spec: jobSpec{
		Completions: 1, Parallelism: 1, BackoffLimit: 0, Template: coordPod,
	}}
	cpu, mem := sz.CPU(), sz.Memory()
	if o.ShardCPU != "" {
		cpu = o.ShardCPU
	}
	if o.ShardMemory != "" {
		mem = o.ShardMemory
	}
	shardPod := o.pod("shard", container{
		Name: "shard",
		Args: append([]string{"run", scenarioPath, "--coordinator", "$(GCLOAD_COORDINATOR)"}, o.sets()...),
		Env: []envVar{
			{Name: "GCLOAD_COORDINATOR", Value: o.CoordinatorURL()},
			// Kubernetes sets it in Indexed Jobs too; named here so that the
			// manifest says where the shard index comes from
			{Name: "JOB_COMPLETION_INDEX", ValueFrom: &envVarSource{FieldRef: fieldRef{FieldPath: "metadata.annotations['" + CompletionIndexAnnotation + "']"}}},
		},
		Resources: resources{Requests: map[string]string{"cpu": cpu, "memory": mem}},
	})
	// spread the shards over nodes when the cluster has several: shards
	// on one node share its CPU and network
	shardPod.Spec.Affinity = &affinity{PodAntiAffinity: podAntiAffinity{Preferred: []weightedTerm{{
		Weight: 100, Term: affinityTerm{LabelSelector: labelSelector{MatchLabels: o.labels("shard")}, TopologyKey: "kubernetes.io/hostname"},
	}}}}
	shards := job{APIVersion: "batch/v1", Kind: "Job", Metadata: o.meta(o.Name+"-shards", "shard", map[string]string{
		"gcload.io/requests": sz.Explain(),
	}), Spec: jobSpec{
		CompletionMode: "Indexed", Completions: o.Shards, Parallelism: o.Shards,
		// a shard cannot rejoin a run that started: a failed pod is not
		// replaced, and the coordinator names it in the verdict
		BackoffLimit: 0,
		Template:     shardPod,
	}}
	return []any{cm, svc, coord, shards}
}
