// Package adminclient is the harness's typed client of the reference
// server's HTTP JSON admin API (docs/admin-api.md): provisioning rooms,
// their roles and invitations, reading the server's counters. Requests
// and answers are the wire types of package adminapi, which the server's
// handler uses too. It imports nothing of the server, so the harness
// (the swarm, the conformance suite, loadrun, the CLI) stays apart from
// it.
package adminclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gcload/gcload/refserver/adminapi"
)

// maxBody bounds the answer read.
const maxBody = 8 << 20

// DefaultTimeout bounds a call whose context has no deadline.
const DefaultTimeout = 10 * time.Second

// TokenEnv is the environment variable gcload's commands read the admin
// token from when no --admin-token is given.
const TokenEnv = "GCLOAD_ADMIN_TOKEN"

// Errors an answer's status maps to, for errors.Is (the error itself is a
// *StatusError).
var (
	ErrBadRequest   = errors.New("adminclient: bad request")     // 400
	ErrUnauthorized = errors.New("adminclient: unauthorized")    // 401
	ErrNotFound     = errors.New("adminclient: not found")       // 404
	ErrExists       = errors.New("adminclient: room exists")     // 409
	ErrRefused      = errors.New("adminclient: request refused") // any other status outside 2xx
)

// Client calls one server's admin API. Its zero value is not usable: make
// it with New.
type Client struct {
	base  string
	token string
	hc    *http.Client
}

// New returns a client of the API at baseURL (http://HOST:PORT) with the
// server's bearer token (empty: none, for GET /healthz only).
func New(baseURL, token string) *Client {
	return &Client{base: strings.TrimRight(baseURL, "/"), token: token, hc: http.DefaultClient}
}

// StatusError is an answer outside 2xx.
type StatusError struct {
	Method, URL string
	Code        int
	// Message is the server's error text (adminapi.Error), else the
	// answer's body.
	Message string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.URL, e.Code, http.StatusText(e.Code), e.Message)
	if e.Code == http.StatusUnauthorized {
		msg += "; give the server's admin token with --admin-token or " + TokenEnv
	}
	return msg
}

// Is maps the status to ErrBadRequest, ErrUnauthorized, ErrNotFound,
// ErrExists or ErrRefused.
func (e *StatusError) Is(target error) bool {
	switch e.Code {
	case http.StatusBadRequest:
		return target == ErrBadRequest
	case http.StatusUnauthorized:
		return target == ErrUnauthorized
	case http.StatusNotFound:
		return target == ErrNotFound
	case http.StatusConflict:
		return target == ErrExists
	}
	return target == ErrRefused
}

// Health calls GET /healthz (no token needed).
func (c *Client) Health(ctx context.Context) error {
	var h adminapi.Health
	if err := c.do(ctx, http.MethodGet, adminapi.HealthPath, nil, &h); err != nil {
		return err
	}
	if h.Status != "ok" {
		return fmt.Errorf("adminclient: %s%s says status %q", c.base, adminapi.HealthPath, h.Status)
	}
	return nil
}

// Stats reads the server's counters.
func (c *Client) Stats(ctx context.Context) (adminapi.Stats, error) {
	var st adminapi.Stats
	err := c.do(ctx, http.MethodGet, adminapi.StatsPath, nil, &st)
	return st, err
}

// Rooms lists every room with its roles.
func (c *Client) Rooms(ctx context.Context) ([]adminapi.Room, error) {
	var rs []adminapi.Room
	err := c.do(ctx, http.MethodGet, adminapi.RoomsPath, nil, &rs)
	return rs, err
}

// Room reads one room (ErrNotFound when there is none).
func (c *Client) Room(ctx context.Context, id string) (adminapi.Room, error) {
	return c.room(ctx, http.MethodGet, adminapi.RoomPath(id), nil)
}

// CreateRoom creates a room (ErrExists when its ID is taken).
func (c *Client) CreateRoom(ctx context.Context, r adminapi.NewRoom) (adminapi.Room, error) {
	return c.room(ctx, http.MethodPost, adminapi.RoomsPath, r)
}

// UpdateRoom changes the fields p sets.
func (c *Client) UpdateRoom(ctx context.Context, id string, p adminapi.RoomPatch) (adminapi.Room, error) {
	return c.room(ctx, http.MethodPatch, adminapi.RoomPath(id), p)
}

// SetRole replaces a room's members, managers or presenters.
func (c *Client) SetRole(ctx context.Context, id string, role adminapi.Role, users []string) (adminapi.Room, error) {
	if users == nil {
		users = []string{}
	}
	return c.room(ctx, http.MethodPut, adminapi.RoomPath(id, string(role)), adminapi.Users{Users: users})
}

// SetMembers replaces a room's members.
func (c *Client) SetMembers(ctx context.Context, id string, users []string) (adminapi.Room, error) {
	return c.SetRole(ctx, id, adminapi.Members, users)
}

// Disable disables a room: everyone online leaves it, joins are refused,
// its history is kept.
func (c *Client) Disable(ctx context.Context, id string) (adminapi.Room, error) {
	return c.room(ctx, http.MethodPost, adminapi.RoomPath(id, "disable"), nil)
}

// Enable enables a disabled room again.
func (c *Client) Enable(ctx context.Context, id string) (adminapi.Room, error) {
	return c.room(ctx, http.MethodPost, adminapi.RoomPath(id, "enable"), nil)
}

// Online lists the users online in a room, in join order.
func (c *Client) Online(ctx context.Context, id string) ([]string, error) {
	var u adminapi.Users
	err := c.do(ctx, http.MethodGet, adminapi.RoomPath(id, "online"), nil, &u)
	return u.Users, err
}

// Invite invites user to a room on behalf of by.
func (c *Client) Invite(ctx context.Context, id, user, by string) (adminapi.Invitation, error) {
	var inv adminapi.Invitation
	err := c.do(ctx, http.MethodPost, adminapi.RoomPath(id, "invitations"), adminapi.NewInvitation{User: user, By: by}, &inv)
	return inv, err
}

// Archive reads up to limit records of the compliance archive after the
// cursor after ("" for its start); the answer's Next is the cursor of the
// next page.
func (c *Client) Archive(ctx context.Context, after string, limit int) (adminapi.Archive, error) {
	var a adminapi.Archive
	q := url.Values{}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	path := adminapi.ArchivePath
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	err := c.do(ctx, http.MethodGet, path, nil, &a)
	return a, err
}

// ArchiveHead returns the cursor of the archive's newest settled record.
func (c *Client) ArchiveHead(ctx context.Context) (string, error) {
	var h adminapi.ArchiveHead
	err := c.do(ctx, http.MethodGet, adminapi.ArchiveHeadPath, nil, &h)
	return h.Cursor, err
}

// AddAccounts adds (or replaces, by URI) accounts on a server that keeps
// them (--auth ntlm or digest); a server that keeps none answers 404
// (ErrNotFound).
func (c *Client) AddAccounts(ctx context.Context, accts []adminapi.NewAccount) (adminapi.AccountsAdded, error) {
	var a adminapi.AccountsAdded
	err := c.do(ctx, http.MethodPost, adminapi.AccountsPath, adminapi.NewAccounts{Accounts: accts}, &a)
	return a, err
}

// Accounts lists a server's accounts (addresses and logins, never
// passwords).
func (c *Client) Accounts(ctx context.Context) ([]adminapi.Account, error) {
	var a adminapi.Accounts
	err := c.do(ctx, http.MethodGet, adminapi.AccountsPath, nil, &a)
	return a.Accounts, err
}

// Categories lists the categories.
func (c *Client) Categories(ctx context.Context) ([]adminapi.Category, error) {
	var out []adminapi.Category
	err := c.do(ctx, http.MethodGet, adminapi.CategoriesPath, nil, &out)
	return out, err
}

// Category reads one category.
func (c *Client) Category(ctx context.Context, id string) (adminapi.Category, error) {
	var out adminapi.Category
	err := c.do(ctx, http.MethodGet, adminapi.CategoryPath(id), nil, &out)
	return out, err
}

// PutCategory creates or replaces a category.
func (c *Client) PutCategory(ctx context.Context, id string, cat adminapi.NewCategory) (adminapi.Category, error) {
	var out adminapi.Category
	err := c.do(ctx, http.MethodPut, adminapi.CategoryPath(id), cat, &out)
	return out, err
}

func (c *Client) room(ctx context.Context, method, path string, body any) (adminapi.Room, error) {
	var r adminapi.Room
	err := c.do(ctx, method, path, body, &r)
	return r, err
}

// do sends one request (body, when not nil, as JSON) and decodes a 2xx
// answer into out. Without a deadline in ctx it gives up after
// DefaultTimeout.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("adminclient: %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	url := c.base + path
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return fmt.Errorf("adminclient: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("adminclient: %w", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxBody))
	if err != nil {
		return fmt.Errorf("adminclient: %s %s: reading the answer: %w", method, url, err)
	}
	if res.StatusCode/100 != 2 {
		se := &StatusError{Method: method, URL: url, Code: res.StatusCode, Message: strings.TrimSpace(string(b))}
		var e adminapi.Error
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			se.Message = e.Error
		}
		return se
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("adminclient: %s %s: the answer is not what the API answers: %w", method, url, err)
		}
	}
	return nil
}
