// Package adminclient calls the reference server's HTTP JSON admin API
// (docs/admin-api.md) for the harness: provisioning rooms, reading stats.
// It imports nothing of the server, so the harness stays apart from it.
//
// The API wants the server's bearer token: the caller puts it in the
// context of its calls with WithToken (as gRPC carries per-call
// credentials), so that every function between the caller and Call (the
// swarm's and the conformance suite's provisioning) passes it along
// without knowing of it.
package adminclient

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// maxBody bounds the answer read.
const maxBody = 1 << 20

// TokenEnv is the environment variable gcload's commands read the admin
// token from when no --admin-token is given.
const TokenEnv = "GCLOAD_ADMIN_TOKEN"

type tokenKey struct{}

// WithToken returns a context whose calls carry token (Authorization:
// Bearer); an empty token leaves ctx as it is.
func WithToken(ctx context.Context, token string) context.Context {
	if token == "" {
		return ctx
	}
	return context.WithValue(ctx, tokenKey{}, token)
}

// Token returns the token WithToken put in ctx ("" when none).
func Token(ctx context.Context) string {
	t, _ := ctx.Value(tokenKey{}).(string)
	return t
}

// Call sends one request (body, when not nil, is JSON) to base + path and
// returns the status code and the answer's body, with the token of ctx
// (WithToken). It fails only when no answer came; the caller judges the
// status. Without a deadline in ctx it gives up after 10 s.
func Call(ctx context.Context, method, base, path string, body []byte) (int, []byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(base, "/")+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if t := Token(ctx); t != "" {
		req.Header.Set("Authorization", "Bearer "+t)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxBody))
	return res.StatusCode, b, err
}

// StatusError is an answer outside 2xx.
type StatusError struct {
	Method, URL string
	Code        int
	Body        string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.URL, e.Code, http.StatusText(e.Code), e.Body)
	if e.Code == http.StatusUnauthorized {
		msg += "; give the server's admin token with --admin-token or " + TokenEnv
	}
	return msg
}

// Do is Call that also fails, with a *StatusError, on an answer outside
// 2xx.
func Do(ctx context.Context, method, base, path string, body []byte) ([]byte, error) {
	code, b, err := Call(ctx, method, base, path, body)
	if err != nil {
		return nil, err
	}
	if code/100 != 2 {
		return b, &StatusError{Method: method, URL: strings.TrimRight(base, "/") + path, Code: code, Body: strings.TrimSpace(string(b))}
	}
	return b, nil
}
