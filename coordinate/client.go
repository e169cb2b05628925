package coordinate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of ClientOptions left zero.
const (
	DefaultSamples     = 16
	DefaultSampleGap   = 5 * time.Millisecond
	DefaultDialTimeout = 5 * time.Minute
)

// ClientOptions configure a shard's Client.
type ClientOptions struct {
	// URL is the coordinator's base URL, http://HOST:PORT or https://.
	URL string
	// Index is the shard's 1-based index (see ShardIndex); Of the number
	// of shards it expects, or 0 to take the coordinator's.
	Index, Of int
	// Host names the shard's machine in the coordinator's reports.
	Host string
	// Version is gcload's version and ScenarioHash the scenario's hash
	// (HashScenario): the coordinator refuses a shard whose differ.
	Version, ScenarioHash string
	// Token is the run's token when the coordinator has one.
	Token string
	// HTTPClient makes the requests (default: a client with its own
	// connection pool; give one with a TLS configuration for https).
	// Its Timeout must be zero: requests are bounded one by one.
	HTTPClient *http.Client
	// Clock is the shard's clock (default time.Now). Tests give a clock
	// that is off by a known amount to check that the measured offset
	// finds it; a command never sets it.
	Clock func() time.Time
	// Samples is the number of clock exchanges per measurement (default
	// 16) and SampleGap the pause between two (default 5ms).
	Samples   int
	SampleGap time.Duration
	// DialTimeout bounds how long Dial keeps trying while the coordinator
	// cannot be reached (default 5 minutes: in a cluster, shards may start
	// before the coordinator).
	DialTimeout time.Duration
	// Logger receives the client's events (default: discarded).
	Logger *slog.Logger
}

// RefusedError is the coordinator refusing a request, with its reason.
type RefusedError struct {
	Op     string // what was asked: "registration", "results"...
	Status int    // HTTP status
	Reason string // the coordinator's words
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("coordinator refused the %s: %s", e.Op, e.Reason)
}

// Start is the shared start of a run, as a shard sees it.
type Start struct {
	// At is the start on the coordinator's clock.
	At time.Time
	// Local is the same instant on the shard's clock (At − Offset): what
	// the shard's engine waits for.
	Local time.Time
	// Offset is the shard's clock offset as the coordinator recorded it.
	Offset Offset
}

// Client is a shard's end of the protocol. Dial registers it; from then
// on it sends heartbeats from a goroutine of its own until Upload
// succeeds, Fail, or Close.
type Client struct {
	opts    ClientOptions
	base    *url.URL
	hc      *http.Client
	log     *slog.Logger
	session string
	of      int
	every   time.Duration // heartbeat interval
	silence time.Duration // coordinator's heartbeat timeout

	state     atomic.Value // string
	mu        sync.Mutex
	reason    string
	aborted   chan struct{}
	abortOnce sync.Once
	stopOnce  sync.Once
	ctx       context.Context // cancelled by stopHeartbeats
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

// Dial registers the shard with the coordinator, retrying while it cannot
// be reached (up to DialTimeout), and starts the heartbeats. A refusal
// (another scenario or version, an index out of range or taken, a run
// already started) is returned at once as a *RefusedError.
func Dial(ctx context.Context, opts ClientOptions) (*Client, error) {
	base, err := url.Parse(opts.URL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("coordinate: coordinator URL %q: want http://HOST:PORT or https://HOST:PORT", opts.URL)
	}
	if opts.Index < 1 || (opts.Of != 0 && opts.Index > opts.Of) {
		return nil, fmt.Errorf("coordinate: shard %d/%d: want 1 <= i <= N", opts.Index, opts.Of)
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Samples <= 0 {
		opts.Samples = DefaultSamples
	}
	if opts.SampleGap <= 0 {
		opts.SampleGap = DefaultSampleGap
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	c := &Client{opts: opts, base: base, hc: opts.HTTPClient, log: opts.Logger, aborted: make(chan struct{})}
	if c.hc == nil {
		c.hc = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.state.Store("registering")
	req := registerRequest{Index: opts.Index, Of: opts.Of, Host: opts.Host, Version: opts.Version, ScenarioHash: opts.ScenarioHash}
	var resp registerResponse
	deadline := time.Now().Add(opts.DialTimeout)
	wait := 100 * time.Millisecond
	for {
		_, err = c.call(ctx, http.MethodPost, PathRegister, opts.Token, req, &resp, 30*time.Second, "registration")
		var ref *RefusedError
		var cert *tls.CertificateVerificationError
		if err == nil || (errors.As(err, &ref) && ref.Status < 500) || errors.As(err, &cert) || ctx.Err() != nil {
			break // done, refused, or a certificate that will not become trusted
		}
		if time.Now().Add(wait).After(deadline) {
			return nil, fmt.Errorf("coordinate: no coordinator at %s within %v: %w", opts.URL, opts.DialTimeout, err)
		}
		c.log.Info("coordinator not reachable yet", "url", opts.URL, "err", err)
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
		wait = min(2*wait, 2*time.Second)
	}
	if err != nil {
		return nil, err
	}
	if resp.Session == "" || resp.Shards < opts.Index || resp.HeartbeatMS <= 0 {
		return nil, fmt.Errorf("coordinate: bad registration answer from %s", opts.URL)
	}
	c.session, c.of = resp.Session, resp.Shards
	c.every = time.Duration(resp.HeartbeatMS) * time.Millisecond
	c.silence = time.Duration(resp.HeartbeatTimeoutMS) * time.Millisecond
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.state.Store("registered")
	c.wg.Add(1)
	go c.heartbeats()
	return c, nil
}

// Shard returns the shard's index and the run's number of shards.
func (c *Client) Shard() (index, of int) { return c.opts.Index, c.of }

// Aborted is closed when the shard should stop its load: the coordinator
// aborted the run (AbortReason says why; it still expects the results),
// declared this shard dead or superseded, or could not be reached for
// longer than its heartbeat timeout.
func (c *Client) Aborted() <-chan struct{} { return c.aborted }

// AbortReason says why Aborted was closed.
func (c *Client) AbortReason() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason
}

func (c *Client) abort(reason string) {
	c.abortOnce.Do(func() {
		c.mu.Lock()
		c.reason = reason
		c.mu.Unlock()
		c.log.Warn("run aborted", "reason", reason)
		close(c.aborted)
	})
}

// heartbeats reports to the coordinator every interval until stopped.
func (c *Client) heartbeats() {
	defer c.wg.Done()
	t := time.NewTicker(c.every)
	defer t.Stop()
	lastOK := time.Now()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		var resp heartbeatResponse
		// waited for as long as the coordinator waits for the shard: a
		// heartbeat given up closes its connection, which the coordinator
		// takes for a dead process when nothing follows within its grace
		// (a starved shard's next heartbeat may come later)
		_, err := c.call(c.ctx, http.MethodPost, PathHeartbeat, c.session, heartbeatRequest{State: c.state.Load().(string)}, &resp, max(c.every, c.silence, 5*time.Second), "heartbeat")
		var ref *RefusedError
		switch {
		case c.ctx.Err() != nil:
			return
		case err == nil:
			lastOK = time.Now()
			if resp.Abort != "" {
				c.abort("the coordinator aborted the run: " + resp.Abort)
			}
		case errors.As(err, &ref) && ref.Status == http.StatusGone:
			c.abort(ref.Reason)
			return
		case time.Since(lastOK) > c.silence:
			c.abort(fmt.Sprintf("coordinator unreachable for %v: %v", time.Since(lastOK).Round(time.Millisecond), err))
			return
		}
	}
}

// stopHeartbeats stops the heartbeat goroutine and waits for it.
func (c *Client) stopHeartbeats() {
	c.stopOnce.Do(func() {
		c.cancel()
		c.wg.Wait()
	})
}

// Close stops the heartbeats. It does not tell the coordinator anything:
// a shard that closes without Upload or Fail is declared dead when its
// silence exceeds the coordinator's limits.
func (c *Client) Close() error {
	c.stopHeartbeats()
	if t, ok := c.hc.Transport.(interface{ CloseIdleConnections() }); ok && c.opts.HTTPClient == nil {
		t.CloseIdleConnections()
	}
	return nil
}

// Measure makes Samples clock exchanges with the coordinator and returns
// the offset of the one with the least round trip.
func (c *Client) Measure(ctx context.Context) (Offset, error) {
	off, _, err := c.measure(ctx)
	return off, err
}

func (c *Client) measure(ctx context.Context) (Offset, wireSample, error) {
	samples := make([]Sample, 0, c.opts.Samples)
	wires := make([]wireSample, 0, c.opts.Samples)
	for i := range c.opts.Samples {
		if i > 0 {
			if err := sleep(ctx, c.opts.SampleGap); err != nil {
				return Offset{}, wireSample{}, err
			}
		}
		t0 := c.opts.Clock().UnixNano()
		var resp clockResponse
		if _, err := c.call(ctx, http.MethodPost, PathClock, c.session, clockRequest{T0: t0}, &resp, 10*time.Second, "clock exchange"); err != nil {
			return Offset{}, wireSample{}, err
		}
		t3 := c.opts.Clock().UnixNano()
		if resp.T0 != t0 {
			return Offset{}, wireSample{}, errors.New("coordinate: clock answer for another exchange")
		}
		samples = append(samples, Sample{T0: time.Unix(0, t0), T1: time.Unix(0, resp.T1), T2: time.Unix(0, resp.T2), T3: time.Unix(0, t3)})
		wires = append(wires, wireSample{T0: t0, T1: resp.T1, T2: resp.T2, T3: t3})
	}
	off, err := Estimate(samples)
	if err != nil {
		return Offset{}, wireSample{}, err
	}
	w := wires[bestSample(samples)]
	w.Samples = len(wires)
	return off, w, nil
}

// Join measures the shard's clock offset, tells the coordinator the shard
// is ready, and waits for the shared start (every shard ready). It returns
// a *RefusedError when the run will not start (the barrier timed out, the
// run was aborted).
func (c *Client) Join(ctx context.Context) (Start, error) {
	c.state.Store("measuring")
	off, ws, err := c.measure(ctx)
	if err != nil {
		return Start{}, fmt.Errorf("coordinate: measuring the clock offset: %w", err)
	}
	c.log.Info("clock offset measured", "offset", off.Offset, "uncertainty", off.Uncertainty, "rtt", off.RTT)
	if _, err := c.call(ctx, http.MethodPost, PathReady, c.session, offsetRequest{Sample: ws}, nil, 10*time.Second, "ready"); err != nil {
		return Start{}, err
	}
	c.state.Store("ready")
	for {
		var resp startResponse
		status, err := c.call(ctx, http.MethodGet, PathStart, c.session, nil, &resp, pollWindow+30*time.Second, "start")
		if err != nil {
			return Start{}, err
		}
		if status == http.StatusOK {
			c.state.Store("running")
			return Start{At: resp.Start, Local: resp.Offset.FromCoordinator(resp.Start), Offset: resp.Offset}, nil
		}
	}
}

// Upload measures the clock offset again (the drift over the run), then
// sends the results folder dir as a tar.gz. Once the coordinator accepted
// it, the heartbeats stop. A refusal (too large, not a results folder) is
// a *RefusedError with the coordinator's reason; the caller may try again
// (the coordinator keeps nothing of a refused upload).
func (c *Client) Upload(ctx context.Context, dir string) error {
	c.state.Store("uploading")
	if _, ws, err := c.measure(ctx); err == nil {
		if _, err := c.call(ctx, http.MethodPost, PathOffset, c.session, offsetRequest{Sample: ws}, nil, 10*time.Second, "end offset"); err != nil {
			c.log.Warn("end offset not recorded", "err", err)
		}
	} else {
		c.log.Warn("end offset not measured", "err", err)
	}
	pr, pw := io.Pipe()
	archived := make(chan error, 1)
	go func() {
		err := WriteArchive(pw, dir)
		pw.CloseWithError(err)
		archived <- err
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.base.JoinPath(PathResults).String(), pr)
	if err != nil {
		pr.Close()
		<-archived
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.session)
	req.Header.Set("Content-Type", "application/gzip")
	resp, err := c.hc.Do(req)
	pr.CloseWithError(errUploadEnded) // the archiver stops if the server stopped reading
	aerr := <-archived
	if errors.Is(aerr, errUploadEnded) {
		aerr = nil // the coordinator answered before reading it all: its answer says why
	}
	if aerr != nil {
		if err == nil {
			resp.Body.Close()
		}
		return aerr // the folder could not be archived: the coordinator got a truncated stream
	}
	if err != nil {
		return fmt.Errorf("coordinate: sending results: %w", err)
	}
	defer resp.Body.Close()
	var ok uploadResponse
	if err := readAnswer(resp, &ok, "results"); err != nil {
		return err
	}
	c.state.Store("done")
	c.log.Info("results sent", "files", ok.Files, "bytes", ok.Bytes)
	c.stopHeartbeats()
	return nil
}

// Fail tells the coordinator the shard gives up, with why, and stops the
// heartbeats. The coordinator names the shard dead with that reason.
func (c *Client) Fail(ctx context.Context, cause error) error {
	msg := "unknown error"
	if cause != nil {
		msg = cause.Error()
	}
	_, err := c.call(ctx, http.MethodPost, PathFail, c.session, failRequest{Error: msg}, nil, 10*time.Second, "failure report")
	c.stopHeartbeats()
	return err
}

// call makes one JSON request and decodes a 2xx answer into out.
func (c *Client) call(ctx context.Context, method, path, auth string, in, out any, timeout time.Duration, op string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.JoinPath(path).String(), body)
	if err != nil {
		return 0, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("coordinate: %s: %w", op, err)
	}
	defer resp.Body.Close()
	return resp.StatusCode, readAnswer(resp, out, op)
}

// readAnswer decodes a 2xx answer into out, or returns the refusal.
func readAnswer(resp *http.Response, out any, op string) error {
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxJSON))
	if err != nil {
		return fmt.Errorf("coordinate: %s: reading the answer: %w", op, err)
	}
	if resp.StatusCode >= 300 {
		var e errorResponse
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
			if e.Error == "" {
				e.Error = resp.Status
			}
		}
		return &RefusedError{Op: op, Status: resp.StatusCode, Reason: e.Error}
	}
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("coordinate: %s: bad answer: %w", op, err)
		}
	}
	return nil
}

// errUploadEnded stops the archiver once the request is over.
var errUploadEnded = errors.New("coordinate: upload ended")

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// HashScenario identifies a scenario as run: its file's bytes and the
// overrides applied to it (--set), in order. Shards and coordinator
// compute it the same way; a shard with another hash is refused.
func HashScenario(scenario []byte, overrides []string) string {
	h := sha256.New()
	put := func(b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	put([]byte("gcload scenario v1"))
	put(scenario)
	for _, o := range overrides {
		put([]byte(o))
	}
	return hex.EncodeToString(h.Sum(nil))
}
