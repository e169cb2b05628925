package k8stest

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/gcload/gcload/coordinate"
	"github.com/gcload/gcload/deploy/k8s"
	"github.com/gcload/gcload/scenarios"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

const shards = 4

var set = []string{"target.lookup=sip:ocschat@example.com", "target.server=gc.example.com:5061"}

// manifests are the rendered objects, decoded strictly.
type manifests struct {
	configMap   corev1.ConfigMap
	service     corev1.Service
	coordinator batchv1.Job
	shards      batchv1.Job
	scenario    []byte
	sizing      k8s.Sizing
}

var docSep = regexp.MustCompile(`(?m)^---\n`)

// decode decodes one YAML document into the API type of its kind,
// strictly: an unknown or duplicated field is an error.
func decode(doc []byte, into map[string]any) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return err
	}
	key := tm.APIVersion + "/" + tm.Kind
	target, ok := into[key]
	if !ok {
		return fmt.Errorf("unexpected object %s", key)
	}
	return yaml.UnmarshalStrict(doc, target)
}

func render(t *testing.T) *manifests {
	t.Helper()
	data, err := scenarios.ShippedFile("peak")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	m := &manifests{scenario: data}
	if m.sizing, err = k8s.Render(&buf, "peak.yaml", data, k8s.Options{Shards: shards, Image: "registry.example.com/gcload:1.0", Namespace: "load", Set: set}); err != nil {
		t.Fatal(err)
	}
	docs := docSep.Split(buf.String(), -1)
	if len(docs) != 4 {
		t.Fatalf("%d documents, want 4", len(docs))
	}
	jobs := []*batchv1.Job{&m.coordinator, &m.shards}
	for _, d := range docs {
		var probe struct {
			Kind string `json:"kind"`
		}
		_ = yaml.Unmarshal([]byte(d), &probe)
		into := map[string]any{"v1/ConfigMap": &m.configMap, "v1/Service": &m.service}
		if probe.Kind == "Job" {
			into["batch/v1/Job"] = jobs[0]
			jobs = jobs[1:]
		}
		if err := decode([]byte(d), into); err != nil {
			t.Fatalf("strict decoding: %v\n%s", err, d)
		}
	}
	return m
}

// Strict decoding is strict: a field the API does not have is refused.
func TestStrictDecodingRefusesUnknownFields(t *testing.T) {
	var job batchv1.Job
	doc := "apiVersion: batch/v1\nkind: Job\nmetadata: {name: x}\nspec:\n  completionMode: Indexed\n  completionsMode: Indexed\n"
	if err := yaml.UnmarshalStrict([]byte(doc), &job); err == nil || !strings.Contains(err.Error(), "completionsMode") {
		t.Fatalf("error %v, want one naming the unknown field", err)
	}
}

func TestObjectsAndNames(t *testing.T) {
	m := render(t)
	for _, om := range []metav1.ObjectMeta{m.configMap.ObjectMeta, m.service.ObjectMeta, m.coordinator.ObjectMeta, m.shards.ObjectMeta} {
		if errs := validation.IsDNS1123Label(om.Name); len(errs) > 0 {
			t.Errorf("name %q: %v", om.Name, errs)
		}
		if om.Namespace != "load" {
			t.Errorf("%s in namespace %q", om.Name, om.Namespace)
		}
		for k, v := range om.Labels {
			if errs := append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...); len(errs) > 0 {
				t.Errorf("%s: label %s=%s: %v", om.Name, k, v, errs)
			}
		}
	}
	// an Indexed Job's pod hostname is JOB-INDEX: it must stay a DNS label
	if errs := validation.IsDNS1123Label(fmt.Sprintf("%s-%d", m.shards.Name, shards-1)); len(errs) > 0 {
		t.Errorf("pod hostname: %v", errs)
	}
}

func TestIndexedJob(t *testing.T) {
	m := render(t)
	s := m.shards.Spec
	if s.CompletionMode == nil || *s.CompletionMode != batchv1.IndexedCompletion {
		t.Fatalf("completionMode %v, want Indexed", s.CompletionMode)
	}
	if s.Completions == nil || *s.Completions != shards || s.Parallelism == nil || *s.Parallelism != shards {
		t.Errorf("completions %v parallelism %v, want %d", s.Completions, s.Parallelism, shards)
	}
	if s.BackoffLimit == nil || *s.BackoffLimit != 0 || s.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("backoffLimit %v restartPolicy %s: a failed shard must not be restarted into a running run", s.BackoffLimit, s.Template.Spec.RestartPolicy)
	}
	if len(s.Template.Spec.Containers) != 1 {
		t.Fatalf("%d containers", len(s.Template.Spec.Containers))
	}
	c := s.Template.Spec.Containers[0]
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}

	// the coordinator address: the Service's name and port
	svc := m.service
	wantURL := fmt.Sprintf("http://%s:%d", svc.Name, svc.Spec.Ports[0].Port)
	if env["GCLOAD_COORDINATOR"].Value != wantURL {
		t.Errorf("GCLOAD_COORDINATOR %q, want %q", env["GCLOAD_COORDINATOR"].Value, wantURL)
	}
	if !contains(c.Args, "--coordinator", "$(GCLOAD_COORDINATOR)") {
		t.Errorf("args %v do not pass the coordinator", c.Args)
	}

	// distinct shard indexes: the downward API gives each pod its completion
	// index (Kubernetes annotates pod k with k); gcload maps k to shard k+1
	idx := env[coordinate.EnvCompletionIndex]
	if idx.ValueFrom == nil || idx.ValueFrom.FieldRef == nil {
		t.Fatalf("%s not from the downward API: %+v", coordinate.EnvCompletionIndex, idx)
	}
	annotation := regexp.MustCompile(`^metadata\.annotations\['([^']+)'\]$`).FindStringSubmatch(idx.ValueFrom.FieldRef.FieldPath)
	if annotation == nil || annotation[1] != batchv1.JobCompletionIndexAnnotation {
		t.Fatalf("fieldPath %q, want the annotation %s", idx.ValueFrom.FieldRef.FieldPath, batchv1.JobCompletionIndexAnnotation)
	}
	seen := map[int]bool{}
	for k := range int(*s.Completions) {
		podAnnotations := map[string]string{batchv1.JobCompletionIndexAnnotation: fmt.Sprint(k)}
		lookup := func(name string) (string, bool) {
			if name == coordinate.EnvCompletionIndex {
				v, ok := podAnnotations[annotation[1]]
				return v, ok
			}
			return "", false
		}
		i, _, err := coordinate.ShardIndex("", lookup)
		if err != nil {
			t.Fatal(err)
		}
		if seen[i] || i < 1 || i > shards {
			t.Errorf("pod %d gets shard %d (seen: %v)", k, i, seen)
		}
		seen[i] = true
	}
	if len(seen) != shards {
		t.Errorf("shards %v, want 1 to %d", seen, shards)
	}

	// the shards spread over nodes when they can
	aff := s.Template.Spec.Affinity
	if aff == nil || aff.PodAntiAffinity == nil || len(aff.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 {
		t.Fatalf("no anti-affinity: %+v", aff)
	}
	term := aff.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm
	sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
	if err != nil || !sel.Matches(labels.Set(s.Template.Labels)) || term.TopologyKey != corev1.LabelHostname {
		t.Errorf("anti-affinity %+v does not select the shard pods by host (%v)", term, err)
	}
}

func contains(args []string, seq ...string) bool {
	for i := range args {
		if i+len(seq) <= len(args) && strings.Join(args[i:i+len(seq)], "\x00") == strings.Join(seq, "\x00") {
			return true
		}
	}
	return false
}

// The scenario is in the ConfigMap, mounted where both commands read it.
func TestScenarioConfigMap(t *testing.T) {
	m := render(t)
	if got := m.configMap.Data[k8s.ScenarioKey]; got != string(m.scenario) {
		t.Fatalf("the ConfigMap's %s differs from the scenario", k8s.ScenarioKey)
	}
	for _, j := range []batchv1.Job{m.coordinator, m.shards} {
		ps := j.Spec.Template.Spec
		var vol *corev1.Volume
		for i := range ps.Volumes {
			if ps.Volumes[i].ConfigMap != nil && ps.Volumes[i].ConfigMap.Name == m.configMap.Name {
				vol = &ps.Volumes[i]
			}
		}
		if vol == nil {
			t.Fatalf("%s does not mount the ConfigMap %s", j.Name, m.configMap.Name)
		}
		c := ps.Containers[0]
		var mount *corev1.VolumeMount
		for i := range c.VolumeMounts {
			if c.VolumeMounts[i].Name == vol.Name {
				mount = &c.VolumeMounts[i]
			}
		}
		if mount == nil || !mount.ReadOnly {
			t.Fatalf("%s: the scenario volume is not mounted read-only: %+v", j.Name, c.VolumeMounts)
		}
		if path := mount.MountPath + "/" + k8s.ScenarioKey; len(c.Args) < 2 || c.Args[1] != path {
			t.Errorf("%s runs %v, want the scenario at %s", j.Name, c.Args, path)
		}
		for i := 0; i+1 < len(set)*2; i += 2 {
			if !contains(c.Args, "--set", set[i/2]) {
				t.Errorf("%s does not pass --set %s", j.Name, set[i/2])
			}
		}
		if ps.SecurityContext == nil || ps.SecurityContext.RunAsNonRoot == nil || !*ps.SecurityContext.RunAsNonRoot {
			t.Errorf("%s may run as root", j.Name)
		}
	}
}

// The coordinator: one pod, behind the Service, results kept in its pod.
func TestCoordinator(t *testing.T) {
	m := render(t)
	s := m.coordinator.Spec
	if s.Completions == nil || *s.Completions != 1 || s.CompletionMode != nil && *s.CompletionMode == batchv1.IndexedCompletion {
		t.Errorf("coordinator job %+v", s)
	}
	c := s.Template.Spec.Containers[0]
	if !contains(c.Args, "--shards", fmt.Sprint(shards)) || !contains(c.Args, "--out", k8s.WorkDir+"/results") || c.Args[0] != "coordinate" {
		t.Errorf("coordinator args %v", c.Args)
	}
	sel := labels.SelectorFromSet(m.service.Spec.Selector)
	if !sel.Matches(labels.Set(s.Template.Labels)) || sel.Matches(labels.Set(m.shards.Spec.Template.Labels)) {
		t.Errorf("the Service selects %v: not the coordinator alone", m.service.Spec.Selector)
	}
	tp := m.service.Spec.Ports[0].TargetPort
	var port *corev1.ContainerPort
	for i := range c.Ports {
		if c.Ports[i].Name == tp.StrVal {
			port = &c.Ports[i]
		}
	}
	if port == nil || !contains(c.Args, "--listen", fmt.Sprintf(":%d", port.ContainerPort)) {
		t.Errorf("the Service's target port %v is not the port the coordinator listens on (%v)", tp, c.Args)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != coordinate.PathHealth {
		t.Errorf("readiness probe %+v, want GET %s", c.ReadinessProbe, coordinate.PathHealth)
	}
	// no volume but the scenario and an emptyDir: results travel over HTTP
	for _, v := range s.Template.Spec.Volumes {
		if v.ConfigMap == nil && v.EmptyDir == nil {
			t.Errorf("volume %+v is shared storage", v)
		}
	}
}

// Requests are non-zero and derived as documented: the peak scenario
// (60,000 users, 40 posts/s into rooms of 1,000) over four shards.
func TestShardRequests(t *testing.T) {
	m := render(t)
	req := m.shards.Spec.Template.Spec.Containers[0].Resources.Requests
	mem, cpu := req[corev1.ResourceMemory], req[corev1.ResourceCPU]
	if mem.IsZero() || cpu.IsZero() {
		t.Fatalf("requests %v", req)
	}
	users := 60000 / shards
	wantMem := int64(k8s.BaseMemory) + int64(users)*k8s.MemoryPerUser
	if got := mem.Value(); got < wantMem || got >= wantMem+1<<20 {
		t.Errorf("memory %s (%d B), want %d B rounded up to MiB", mem.String(), got, wantMem)
	}
	deliveries := 40.0 * 1000 / shards
	wantCPU := resource.NewMilliQuantity(int64(deliveries*k8s.CPUPerDelivery.Seconds()*1000+0.999), resource.DecimalSI)
	if cpu.Cmp(*wantCPU) != 0 {
		t.Errorf("cpu %s, want %s (%g deliveries/s x %v)", cpu.String(), wantCPU, deliveries, k8s.CPUPerDelivery)
	}
	if !strings.Contains(m.shards.Annotations["gcload.io/requests"], "BenchmarkIdleUserMemory") {
		t.Errorf("the derivation is not recorded: %v", m.shards.Annotations)
	}
	// the coordinator's requests parse too
	creq := m.coordinator.Spec.Template.Spec.Containers[0].Resources.Requests
	if q := creq[corev1.ResourceMemory]; q.IsZero() {
		t.Errorf("coordinator requests %v", creq)
	}
}
