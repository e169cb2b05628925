package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/gcload/gcload/deploy/k8s"
	"github.com/gcload/gcload/scenarios"
	"github.com/spf13/cobra"
)

// DefaultServeResults is how long a rendered coordinator serves the merged
// results after the verdict: time to port-forward and download them
// before the pod ends (its Job completes when it exits).
const DefaultServeResults = 15 * time.Minute

// K8sRenderOptions are the flags of gcload k8s render.
type K8sRenderOptions struct {
	Scenario string
	Out      string
	k8s.Options
}

// NewCmdK8s builds `gcload k8s` and its subcommands.
func NewCmdK8s(env *Env, runF func(*K8sRenderOptions) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "k8s",
		Short: "Run shards on Kubernetes",
	}
	o := &K8sRenderOptions{}
	render := &cobra.Command{
		Use:   "render SCENARIO --shards N --image IMAGE",
		Short: "Write the Kubernetes manifests of a distributed run",
		Long: `Write the manifests of a run of SCENARIO over N shard pods: a ConfigMap
holding the scenario, the coordinator (a Job of one pod and a Service), and
the shards (an Indexed Job: completionMode Indexed, completions and
parallelism N; each pod's shard index is its JOB_COMPLETION_INDEX plus 1).
The shards send their results to the coordinator, which merges and judges
them: no shared volume is needed. The coordinator logs the merged summary
and verdict, then serves the merged folder for --serve-results (15m):
kubectl port-forward job/NAME-coordinator 8440, then
curl -o results.tar.gz http://localhost:8440/v1/merged.

Shard pods request memory and CPU derived from the scenario: the users of
a shard times the generator's measured memory per user, and its
deliveries per second times the measured CPU per delivery (see
docs/distributed.md); --shard-cpu and --shard-memory replace them.
The scenario needs a target (target.lookup and target.server, in the file
or with --set) that every pod can reach.`,
		Example: `  gcload k8s render peak --shards 4 --image registry.example.com/gcload:1.0 \
      --set target.lookup=sip:ocschat@example.com --set target.server=gc.example.com:5061 \
      --namespace load --out peak.yaml
  kubectl apply -f peak.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			o.Scenario = args[0]
			if runF != nil {
				return runF(o)
			}
			return runK8sRender(env, o)
		},
	}
	f := render.Flags()
	f.IntVar(&o.Shards, "shards", 0, "number of shard pods (required)")
	f.StringVar(&o.Image, "image", "", "gcload's container image (required; make image builds one)")
	f.StringVar(&o.ImagePullPolicy, "pull", "", "image pull policy: Always, IfNotPresent (default) or Never")
	f.StringVar(&o.Namespace, "namespace", "", "namespace of the objects (default: kubectl's)")
	f.StringVar(&o.Name, "name", "", "prefix of the objects' names (default gcload-SCENARIO)")
	f.IntVar(&o.Port, "port", k8s.DefaultPort, "the coordinator's port")
	f.StringArrayVar(&o.Set, "set", nil, "override a scenario value, KEY=VALUE (repeatable); passed to every pod")
	f.StringVar(&o.ShardCPU, "shard-cpu", "", "CPU request of a shard pod (default: derived from the scenario)")
	f.StringVar(&o.ShardMemory, "shard-memory", "", "memory request of a shard pod (default: derived from the scenario)")
	f.StringVar(&o.CoordinatorCPU, "coordinator-cpu", k8s.DefaultCoordinatorCPU, "CPU request of the coordinator pod")
	f.StringVar(&o.CoordinatorMemory, "coordinator-memory", k8s.DefaultCoordinatorMemory, "memory request of the coordinator pod")
	f.DurationVar(&o.ServeResults, "serve-results", DefaultServeResults, "how long the coordinator serves the merged results after the verdict (kubectl port-forward, then GET /v1/merged); 0: not served (they are then only in its log)")
	f.StringVarP(&o.Out, "out", "o", "", "write the manifests to this file (default: standard output)")
	cmd.AddCommand(render)
	return cmd
}

// readScenario returns a scenario file's bytes, or a shipped scenario's
// when no such file exists (as scenarios.Load does).
func readScenario(path string) (name string, data []byte, err error) {
	data, err = os.ReadFile(path)
	if err == nil {
		return path, data, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", nil, err
	}
	b, serr := scenarios.ShippedFile(path)
	if serr != nil {
		return "", nil, fmt.Errorf("%w (%v)", err, serr)
	}
	return path, b, nil
}

func runK8sRender(env *Env, o *K8sRenderOptions) error {
	name, data, err := readScenario(o.Scenario)
	if err != nil {
		return badInput(err)
	}
	var buf bytes.Buffer
	sz, err := k8s.Render(&buf, name, data, o.Options)
	if err != nil {
		return badInput(err)
	}
	fmt.Fprintf(env.Stderr, "gcload k8s render: %d shards, each %s\n", sz.Shards, sz.Explain())
	if o.Out == "" {
		_, err := env.Stdout.Write(buf.Bytes())
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(o.Out), ".gcload-k8s-*")
	if err != nil {
		return badInput(err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), o.Out); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "manifests: %s (kubectl apply -f %s)\n", o.Out, o.Out)
	return nil
}
