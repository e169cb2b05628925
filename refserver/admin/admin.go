// Package admin is the reference server's HTTP JSON API for provisioning:
// create rooms, set their members, managers and presenters, update their
// settings, disable and enable them, invite users, and read counters.
// There is no delete: rooms are disabled, never deleted, and keep their
// history.
//
// Every request but GET /healthz must carry the server's token
// (Authorization: Bearer TOKEN); a body must be application/json; a
// request from a browser page of another origin (its Origin header names
// another host) is refused. So a web page cannot drive the API, neither
// cross-site nor through DNS rebinding, and neither can another user of
// the machine who cannot read the token.
//
// The bodies it reads and writes are the wire types of package adminapi,
// which the harness's client (refserver/adminclient) uses too; WireRoom
// and StoreRoom convert them to and from the store's rooms.
package admin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gcload/gcload/refserver/adminapi"
	"github.com/gcload/gcload/refserver/channel"
	"github.com/gcload/gcload/refserver/store"
	"github.com/gcload/gcload/sipauth/accounts"
)

// MaxBody bounds a request body (a 16,000-member list is about 600 KB).
const MaxBody = 8 << 20

// Rooms is what the API manages; *channel.Hub implements it.
type Rooms interface {
	Rooms() []store.Room
	Room(id string) (store.Room, error)
	Online(id string) ([]string, error)
	CreateRoom(ctx context.Context, r store.Room) (store.Room, error)
	UpdateRoom(ctx context.Context, r store.Room) (store.Room, error)
	SetRole(ctx context.Context, id string, role store.Role, users []string) error
	SetDisabled(ctx context.Context, id string, disabled bool) error
	Invite(ctx context.Context, id, user, by string) (store.Invitation, error)
}

// Categories is the category hierarchy the API manages, when Rooms
// implements it (*channel.Hub does).
type Categories interface {
	Categories() []store.Category
	Category(id string) (store.Category, store.Rights, error)
	PutCategory(ctx context.Context, c store.Category) (store.Category, error)
}

// Archive is the compliance archive the API reads, when Rooms implements
// it (*channel.Hub does).
type Archive interface {
	ReadArchive(ctx context.Context, q store.ArchiveQuery) ([]store.Event, store.Cursor, error)
	ArchiveHead(ctx context.Context) (store.Cursor, error)
}

// Options of the API's guard.
type Options struct {
	// Token is the bearer token every request but GET /healthz must
	// carry; it must not be empty.
	Token string
	// Addr is the address the API listens on (host:port): requests whose
	// Origin is that address, or localhost, 127.0.0.1 or [::1] with its
	// port, are same-origin; any other Origin is refused.
	Addr string
	// TokenHint ends the message of a 401: where the token is to be found.
	TokenHint string
	// Accounts, when set, is the server's account table: POST
	// /api/accounts adds to it, GET /api/accounts lists it (never a
	// password: the table keeps only hashes).
	Accounts Accounts
}

// Accounts is the account table the API manages; *accounts.Store
// implements it.
type Accounts interface {
	Add(c accounts.Credential) error
	List() []accounts.Account
	Len() int
}

// Handler serves the API behind its guard (see the package comment).
// stats, when set, is served at GET /api/stats.
func Handler(rooms Rooms, stats func() any, o Options) http.Handler {
	return guard(o, routes(rooms, stats, o.Accounts))
}

// guard checks, in order, the Origin (403), the token (401) and the type
// of a body (415) before h sees a request.
func guard(o Options, h http.Handler) http.Handler {
	_, port, _ := net.SplitHostPort(o.Addr)
	same := map[string]bool{}
	for _, host := range []string{"localhost", "127.0.0.1", "[::1]"} {
		same[host+":"+port] = true
	}
	if host, _, err := net.SplitHostPort(o.Addr); err == nil && host != "" {
		same[net.JoinHostPort(host, port)] = true
	}
	want := []byte("Bearer " + o.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" {
			u, err := url.Parse(origin)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !same[u.Host] {
				writeJSON(w, http.StatusForbidden, adminapi.Error{Error: fmt.Sprintf("requests from origin %q are refused: the admin API serves no web pages", origin)})
				return
			}
		}
		if r.Method == http.MethodGet && r.URL.Path == adminapi.HealthPath {
			h.ServeHTTP(w, r)
			return
		}
		if got := []byte(r.Header.Get("Authorization")); o.Token == "" || subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gcload admin"`)
			msg := "this admin API needs its token: send Authorization: Bearer TOKEN"
			if o.TokenHint != "" {
				msg += " (" + o.TokenHint + ")"
			}
			writeJSON(w, http.StatusUnauthorized, adminapi.Error{Error: msg})
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "" || r.ContentLength > 0 || len(r.TransferEncoding) > 0 {
			if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
				writeJSON(w, http.StatusUnsupportedMediaType, adminapi.Error{Error: fmt.Sprintf("a body must be Content-Type: application/json, not %q", ct)})
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

func routes(rooms Rooms, stats func() any, accts Accounts) http.Handler {
	a := &api{rooms: rooms, stats: stats, accounts: accts}
	mux := http.NewServeMux()
	room := adminapi.RoomsPath + "/{id}"
	mux.HandleFunc("GET "+adminapi.HealthPath, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, adminapi.Health{Status: "ok"}) })
	mux.HandleFunc("GET "+adminapi.StatsPath, a.getStats)
	mux.HandleFunc("GET "+adminapi.RoomsPath, a.list)
	mux.HandleFunc("POST "+adminapi.RoomsPath, a.create)
	mux.HandleFunc("GET "+room, a.get)
	mux.HandleFunc("PATCH "+room, a.update)
	mux.HandleFunc("DELETE "+room, a.noDelete)
	mux.HandleFunc("GET "+room+"/online", a.online)
	mux.HandleFunc("PUT "+room+"/{role}", a.setRole)
	mux.HandleFunc("POST "+room+"/disable", a.disable(true))
	mux.HandleFunc("POST "+room+"/enable", a.disable(false))
	mux.HandleFunc("POST "+room+"/invitations", a.invite)
	if ar, ok := rooms.(Archive); ok {
		mux.HandleFunc("GET "+adminapi.ArchivePath, readArchive(ar))
		mux.HandleFunc("GET "+adminapi.ArchiveHeadPath, archiveHead(ar))
	}
	if cats, ok := rooms.(Categories); ok {
		mux.HandleFunc("GET "+adminapi.CategoriesPath, listCategories(cats))
		mux.HandleFunc("GET "+adminapi.CategoriesPath+"/{id}", getCategory(cats))
		mux.HandleFunc("PUT "+adminapi.CategoriesPath+"/{id}", putCategory(cats))
	}
	mux.HandleFunc("GET "+adminapi.AccountsPath, a.listAccounts)
	mux.HandleFunc("POST "+adminapi.AccountsPath, a.addAccounts)
	return mux
}

type api struct {
	rooms    Rooms
	stats    func() any
	accounts Accounts
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeErr(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, channel.ErrNotFound), errors.Is(err, store.ErrNotFound), errors.Is(err, channel.ErrNoCategory):
		code = http.StatusNotFound
	case errors.Is(err, channel.ErrExists):
		code = http.StatusConflict
	case errors.Is(err, channel.ErrInvalid), errors.Is(err, errBadRequest):
		code = http.StatusBadRequest
	}
	writeJSON(w, code, adminapi.Error{Error: err.Error()})
}

var errBadRequest = errors.New("bad request")

// decode reads a JSON body strictly: unknown fields are errors that name
// the field.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, MaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: body: %w", errBadRequest, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: body: more than one JSON value", errBadRequest)
	}
	return nil
}

func (a *api) getStats(w http.ResponseWriter, _ *http.Request) {
	if a.stats == nil {
		writeJSON(w, 200, map[string]any{})
		return
	}
	writeJSON(w, 200, a.stats())
}

func (a *api) list(w http.ResponseWriter, _ *http.Request) {
	rooms := a.rooms.Rooms()
	var out []adminapi.Room
	if rooms != nil {
		out = make([]adminapi.Room, len(rooms))
	}
	for i, r := range rooms {
		out[i] = WireRoom(r)
	}
	writeJSON(w, 200, out)
}

func (a *api) get(w http.ResponseWriter, r *http.Request) {
	room, err := a.rooms.Room(r.PathValue("id"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, WireRoom(room))
}

// WireRoom is a stored room as the API answers it.
func WireRoom(r store.Room) adminapi.Room {
	return adminapi.Room{
		ID: r.ID, Name: r.Name, Description: r.Description, Topic: r.Topic, Category: r.Category,
		Privacy: string(r.Privacy), Type: string(r.Type), Disabled: r.Disabled,
		Members: r.Members, Managers: r.Managers, Presenters: r.Presenters,
		LastSeq: r.LastSeq, Created: r.Created,
	}
}

// StoreRoom is the room a creation body describes, as the store keeps it
// (not yet validated: the hub does that when it creates the room).
func StoreRoom(n adminapi.NewRoom) store.Room {
	return store.Room{
		ID: n.ID, Name: n.Name, Description: n.Description, Topic: n.Topic, Category: n.Category,
		Privacy: store.Privacy(n.Privacy), Type: store.RoomType(n.Type), Disabled: n.Disabled,
		Members: n.Members, Managers: n.Managers, Presenters: n.Presenters,
	}
}

// StoreRooms converts creation bodies (the rooms a server starts with,
// refserver.WithRooms).
func StoreRooms(rooms ...adminapi.NewRoom) []store.Room {
	out := make([]store.Room, len(rooms))
	for i, r := range rooms {
		out[i] = StoreRoom(r)
	}
	return out
}

func (a *api) create(w http.ResponseWriter, r *http.Request) {
	var spec adminapi.NewRoom
	if err := decode(r, &spec); err != nil {
		writeErr(w, err)
		return
	}
	rm := StoreRoom(spec)
	if rm.Members == nil {
		rm.Members = []string{}
	}
	room, err := a.rooms.CreateRoom(r.Context(), rm)
	if err != nil {
		writeErr(w, err)
		return
	}
	if spec.Disabled {
		if err := a.rooms.SetDisabled(r.Context(), room.ID, true); err != nil {
			writeErr(w, err)
			return
		}
		room.Disabled = true
	}
	w.Header().Set("Location", adminapi.RoomPath(room.ID))
	writeJSON(w, http.StatusCreated, WireRoom(room))
}

// update changes the fields present in the body; roles are replaced only
// when listed.
func (a *api) update(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	cur, err := a.rooms.Room(id)
	if err != nil {
		writeErr(w, err)
		return
	}
	var patch map[string]json.RawMessage
	if err := decode(r, &patch); err != nil {
		writeErr(w, err)
		return
	}
	spec := adminapi.NewRoom{
		ID: cur.ID, Name: cur.Name, Description: cur.Description, Topic: cur.Topic, Category: cur.Category,
		Privacy: string(cur.Privacy), Type: string(cur.Type),
	}
	fields := map[string]any{
		"name": &spec.Name, "description": &spec.Description, "topic": &spec.Topic, "category": &spec.Category,
		"privacy": &spec.Privacy, "type": &spec.Type, "members": &spec.Members, "managers": &spec.Managers, "presenters": &spec.Presenters,
	}
	for k, raw := range patch {
		dst, ok := fields[k]
		if !ok {
			writeErr(w, fmt.Errorf("%w: field %q cannot be changed here (known: name, description, topic, category, privacy, type, members, managers, presenters; use /disable and /enable)", errBadRequest, k))
			return
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			writeErr(w, fmt.Errorf("%w: field %q: %w", errBadRequest, k, err))
			return
		}
	}
	room, err := a.rooms.UpdateRoom(r.Context(), StoreRoom(spec))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, WireRoom(room))
}

func (a *api) noDelete(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Allow", "GET, PATCH")
	writeJSON(w, http.StatusMethodNotAllowed, adminapi.Error{Error: "rooms are never deleted: disable the room with POST /api/rooms/{id}/disable; it keeps its history"})
}

func (a *api) online(w http.ResponseWriter, r *http.Request) {
	users, err := a.rooms.Online(r.PathValue("id"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, adminapi.Users{Users: users})
}

// setRole replaces the members, managers or presenters of a room. The body
// is {"users": [...]} or a bare JSON array.
func (a *api) setRole(w http.ResponseWriter, r *http.Request) {
	var role store.Role
	switch adminapi.Role(r.PathValue("role")) {
	case adminapi.Members:
		role = store.Member
	case adminapi.Managers:
		role = store.Manager
	case adminapi.Presenters:
		role = store.Presenter
	default:
		writeJSON(w, http.StatusNotFound, adminapi.Error{Error: "no such list " + r.PathValue("role") + ": use members, managers or presenters"})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody))
	if err != nil {
		writeErr(w, fmt.Errorf("%w: body: %w", errBadRequest, err))
		return
	}
	var users []string
	if trimmed := strings.TrimSpace(string(body)); strings.HasPrefix(trimmed, "[") {
		err = json.Unmarshal(body, &users)
	} else {
		var wrapped adminapi.Users
		dec := json.NewDecoder(strings.NewReader(trimmed))
		dec.DisallowUnknownFields()
		err = dec.Decode(&wrapped)
		users = wrapped.Users
	}
	if err != nil {
		writeErr(w, fmt.Errorf("%w: body: %w", errBadRequest, err))
		return
	}
	if users == nil {
		users = []string{}
	}
	if err := a.rooms.SetRole(r.Context(), r.PathValue("id"), role, users); err != nil {
		writeErr(w, err)
		return
	}
	room, err := a.rooms.Room(r.PathValue("id"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, WireRoom(room))
}

func (a *api) disable(disabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if err := a.rooms.SetDisabled(r.Context(), id, disabled); err != nil {
			writeErr(w, err)
			return
		}
		room, err := a.rooms.Room(id)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, 200, WireRoom(room))
	}
}

func (a *api) invite(w http.ResponseWriter, r *http.Request) {
	var body adminapi.NewInvitation
	if err := decode(r, &body); err != nil {
		writeErr(w, err)
		return
	}
	inv, err := a.rooms.Invite(r.Context(), r.PathValue("id"), body.User, body.By)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, adminapi.Invitation{ID: inv.ID, Room: inv.RoomID, User: inv.User, By: inv.By, Created: inv.Created})
}

// readArchive serves GET /api/archive?after=CURSOR&limit=N.
func readArchive(ar Archive) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		after, err := store.ParseCursor(q.Get("after"))
		if err != nil {
			writeErr(w, fmt.Errorf("%w: parameter after: %w", errBadRequest, err))
			return
		}
		limit := adminapi.MaxArchiveRead
		if v := q.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > adminapi.MaxArchiveRead {
				writeErr(w, fmt.Errorf("%w: parameter limit %q: want 1 to %d", errBadRequest, v, adminapi.MaxArchiveRead))
				return
			}
			limit = n
		}
		evs, next, err := ar.ReadArchive(r.Context(), store.ArchiveQuery{After: after, Limit: limit})
		if err != nil {
			writeErr(w, err)
			return
		}
		out := adminapi.Archive{Records: make([]adminapi.ArchiveRecord, 0, len(evs)), Next: next.String()}
		for _, e := range evs {
			out.Records = append(out.Records, adminapi.ArchiveRecord{Cursor: e.Cursor.String(), Kind: string(e.Kind), Room: e.RoomID, User: e.User,
				Time: e.TS, Seq: e.Seq, Text: e.Text, Detail: e.Detail})
		}
		writeJSON(w, http.StatusOK, out)
	}
}

// archiveHead serves GET /api/archive/head.
func archiveHead(ar Archive) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := ar.ArchiveHead(r.Context())
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, adminapi.ArchiveHead{Cursor: c.String()})
	}
}

func (a *api) noAccounts(w http.ResponseWriter) bool {
	if a.accounts == nil {
		writeJSON(w, http.StatusNotFound, adminapi.Error{Error: "this server keeps no accounts"})
		return true
	}
	return false
}

func (a *api) listAccounts(w http.ResponseWriter, _ *http.Request) {
	if a.noAccounts(w) {
		return
	}
	list := a.accounts.List()
	out := make([]adminapi.Account, len(list))
	for i, acct := range list {
		out[i] = adminapi.Account{URI: acct.URI, User: acct.Login}
	}
	writeJSON(w, 200, adminapi.Accounts{Accounts: out})
}

// addAccounts adds (or replaces, by URI) the accounts of the body,
// {"accounts": [{"uri", "user", "password"}, ...]} or a bare array. Every
// account is checked before any is added; a problem names the account by
// its index and URI, never its password.
func (a *api) addAccounts(w http.ResponseWriter, r *http.Request) {
	if a.noAccounts(w) {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody))
	if err != nil {
		writeErr(w, fmt.Errorf("%w: body: %w", errBadRequest, err))
		return
	}
	var specs []adminapi.NewAccount
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if trimmed := strings.TrimSpace(string(body)); strings.HasPrefix(trimmed, "[") {
		err = dec.Decode(&specs)
	} else {
		var wrapped adminapi.NewAccounts
		err = dec.Decode(&wrapped)
		specs = wrapped.Accounts
	}
	if err != nil {
		writeErr(w, fmt.Errorf("%w: body: %w", errBadRequest, err))
		return
	}
	creds := make([]accounts.Credential, len(specs))
	var probs []string
	for i, sp := range specs {
		creds[i] = accounts.Credential{URI: sp.URI, User: sp.User, Password: sp.Password}
		if err := creds[i].Validate(); err != nil {
			probs = append(probs, fmt.Sprintf("accounts[%d]: %v", i, err))
		}
		if len(probs) == 20 {
			break
		}
	}
	if len(probs) > 0 {
		writeErr(w, fmt.Errorf("%w: %s", errBadRequest, strings.Join(probs, "; ")))
		return
	}
	for _, c := range creds {
		if err := a.accounts.Add(c); err != nil {
			writeErr(w, err)
			return
		}
	}
	writeJSON(w, 200, adminapi.AccountsAdded{Added: len(creds), Accounts: a.accounts.Len()})
}

// WireCategory is a category as the API answers it.
func WireCategory(c store.Category, r store.Rights) adminapi.Category {
	return adminapi.Category{
		ID: c.ID, Name: c.Name, Parent: c.Parent, Override: c.Override,
		Members: nonNil(c.Members), Creators: nonNil(c.Creators),
		AllowedMembers: slices.Sorted(maps.Keys(r.Members)), AllowedCreators: slices.Sorted(maps.Keys(r.Creators)),
		Created: c.Created,
	}
}

// StoreCategory is the category a PUT body describes (not yet validated:
// the hub does that).
func StoreCategory(id string, n adminapi.NewCategory) store.Category {
	return store.Category{ID: id, Name: n.Name, Parent: n.Parent, Override: n.Override, Members: nonNil(n.Members), Creators: nonNil(n.Creators)}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func listCategories(cats Categories) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		out := []adminapi.Category{}
		for _, c := range cats.Categories() {
			_, r, err := cats.Category(c.ID)
			if err != nil {
				continue // not there any more
			}
			out = append(out, WireCategory(c, r))
		}
		writeJSON(w, 200, out)
	}
}

func getCategory(cats Categories) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, rights, err := cats.Category(r.PathValue("id"))
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, 200, WireCategory(c, rights))
	}
}

func putCategory(cats Categories) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var spec adminapi.NewCategory
		if err := decode(r, &spec); err != nil {
			writeErr(w, err)
			return
		}
		id := r.PathValue("id")
		_, _, err := cats.Category(id)
		created := err != nil
		c, err := cats.PutCategory(r.Context(), StoreCategory(id, spec))
		if err != nil {
			writeErr(w, err)
			return
		}
		_, rights, err := cats.Category(c.ID)
		if err != nil {
			writeErr(w, err)
			return
		}
		code := http.StatusOK
		if created {
			code = http.StatusCreated
			w.Header().Set("Location", adminapi.CategoryPath(c.ID))
		}
		writeJSON(w, code, WireCategory(c, rights))
	}
}
