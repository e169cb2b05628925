package refserver

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gcload/gcload/refserver/fault"
	"github.com/gcload/gcload/refserver/internal/ua"
	"github.com/gcload/gcload/refserver/store"
	"github.com/gcload/gcload/sipnet"
)

// sanitizeWarning keeps what a client sent printable ASCII for a Warning
// header's quoted text: double quotes become single ones (a quoted name
// stays readable), other bytes outside it '?'.
func sanitizeWarning(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c == '"':
			b[i] = '\''
		case c < 0x20 || c >= 0x7f || c == '\\':
			b[i] = '?'
		}
	}
	return string(b)
}

// registrar binds users to the connection they registered on: later
// requests on that connection must come From one of its users. One
// connection may carry many users (a front-end pool's connection does).
type registrar struct {
	expires int
	// maxUsers bounds the users registered on one connection
	maxUsers int
	faults   fault.Set
	auth     *authn
	mu       sync.Mutex
	n        int
	limited  atomic.Uint64 // registrations refused over maxUsers
}

type binding struct {
	mu    sync.Mutex
	users map[string]struct{}
	// the NTLM security associations of the connection's users (auth.go)
	sec atomic.Pointer[connSecurity]
}

func (r *registrar) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

func (r *registrar) bindingOf(c *sipnet.Conn, create bool) *binding {
	var b *binding
	c.UpdateValue(func(old any) any {
		if old != nil {
			b = old.(*binding)
			return old
		}
		if !create {
			return nil
		}
		b = &binding{users: map[string]struct{}{}}
		return b
	})
	return b
}

func (r *registrar) bound(c *sipnet.Conn, user string) bool {
	b := r.bindingOf(c, false)
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.users[user]
	return ok
}

func (r *registrar) connClosed(c *sipnet.Conn) {
	b := r.bindingOf(c, false)
	if b == nil {
		return
	}
	b.mu.Lock()
	n := len(b.users)
	b.users = map[string]struct{}{}
	b.mu.Unlock()
	if sec := b.sec.Load(); sec != nil {
		sec.dropAll()
	}
	r.mu.Lock()
	r.n -= n
	r.mu.Unlock()
}

// register answers REGISTER as section 2 of the protocol says SIPE needs:
// 200 with Expires, Supported: msrtc-event-categories on its own line,
// Allow-Events: vnd-microsoft-provisioning-v2, Server: RTC/3.5 and
// ms-keep-alive, once the user is authenticated (auth.go: a digest or
// NTLM challenge first, none on a trusted trunk or with --auth none).
// Expires: 0 removes the binding.
func (r *registrar) register(tx *sipnet.ServerTx) {
	m := tx.Msg
	to, err := sipnet.AOR(m.To)
	if err != nil {
		_ = tx.Respond(400, "Bad Request", ua.Warning("To: "+err.Error()))
		return
	}
	from, err := sipnet.AOR(m.From)
	if err != nil {
		_ = tx.Respond(400, "Bad Request", ua.Warning("From: "+err.Error()))
		return
	}
	if from != to {
		_ = tx.Respond(403, "Forbidden", ua.Warning("third-party registration of "+to+" by "+from+" is not allowed"))
		return
	}
	if !store.ValidUser(to) {
		// the address goes into XCCOS bodies (authors, rosters): it must
		// be sip:user@domain in characters XML allows
		_ = tx.Respond(400, "Bad Request", ua.Warning("To: "+sanitizeWarning(to)+" is not an address of the form sip:user@domain"))
		return
	}
	b := r.bindingOf(tx.Conn, true)
	if r.auth != nil && !r.auth.register(tx, b, to) {
		return
	}
	expires := r.expires
	contact, hasContact := m.Header("Contact")
	if v, ok := m.Header("Expires"); ok {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
			expires = min(n, r.expires)
		}
	}
	if i := strings.LastIndex(contact, ";expires="); i >= 0 && hasContact {
		if n, err := strconv.Atoi(strings.TrimSpace(contact[i+len(";expires="):])); err == nil && n >= 0 {
			expires = min(n, r.expires)
		}
	}
	b.mu.Lock()
	_, had := b.users[to]
	if !had && expires > 0 && len(b.users) >= r.maxUsers {
		n := len(b.users)
		b.mu.Unlock()
		r.limited.Add(1)
		_ = tx.Respond(403, "Forbidden", ua.Warning(fmt.Sprintf("%d users are registered on this connection, the most allowed (--max-users-per-conn); open another connection", n)))
		return
	}
	if expires == 0 {
		delete(b.users, to)
	} else {
		b.users[to] = struct{}{}
	}
	b.mu.Unlock()
	if expires > 0 {
		tx.Conn.SignIn() // no longer closed for want of a sign-in
	}
	r.mu.Lock()
	switch {
	case expires == 0 && had:
		r.n--
	case expires > 0 && !had:
		r.n++
	}
	r.mu.Unlock()
	hdrs := []sipnet.Header{{Name: "Expires", Value: strconv.Itoa(expires)}}
	if hasContact && contact != "*" {
		hdrs = append(hdrs, sipnet.Header{Name: "Contact", Value: stripExpires(contact) + ";expires=" + strconv.Itoa(expires)})
	}
	if r.faults.Has(fault.RegisterHeaders) {
		hdrs = append(hdrs, sipnet.Header{Name: "Supported", Value: "msrtc-event-categories, adhoclist"})
	} else {
		hdrs = append(hdrs,
			sipnet.Header{Name: "Supported", Value: "msrtc-event-categories"},
			sipnet.Header{Name: "Supported", Value: "adhoclist"})
	}
	hdrs = append(hdrs,
		sipnet.Header{Name: "Allow-Events", Value: "vnd-microsoft-provisioning-v2"},
		sipnet.Header{Name: "Server", Value: "RTC/3.5"},
		sipnet.Header{Name: "ms-keep-alive", Value: "UAS; tcp=no; hop-hop=yes; end-end=no; timeout=300"},
	)
	_ = tx.Respond(200, "OK", hdrs...) // signed with the user's association, if any
	if expires == 0 {
		if sec := b.sec.Load(); sec != nil {
			sec.remove(to)
		}
	}
}

func stripExpires(contact string) string {
	if i := strings.LastIndex(contact, ";expires="); i >= 0 {
		end := strings.IndexByte(contact[i+1:], ';')
		if end < 0 {
			return contact[:i]
		}
		return contact[:i] + contact[i+1+end:]
	}
	return contact
}

// provisioning answers the vnd-microsoft-provisioning-v2 SUBSCRIBE: the
// persistentChatConfiguration group names the lookup URI.
func (s *Server) subscribe(tx *sipnet.ServerTx) {
	ev, _ := tx.Msg.Header("Event")
	if !strings.EqualFold(strings.TrimSpace(ev), "vnd-microsoft-provisioning-v2") {
		_ = tx.Respond(489, "Bad Event", sipnet.Header{Name: "Allow-Events", Value: "vnd-microsoft-provisioning-v2"})
		return
	}
	body := s.provBody
	if s.o.faults.Has(fault.NoProvisioning) {
		body = nil
	}
	_ = tx.Reply(sipnet.Reply{
		Code: 200, Reason: "OK",
		Headers: []sipnet.Header{
			{Name: "Event", Value: "vnd-microsoft-provisioning-v2"},
			{Name: "Expires", Value: "0"},
			{Name: "ms-piggyback-cseq", Value: "1"},
		},
		ContentType: "application/vnd-microsoft-roaming-provisioning-v2+xml",
		Body:        body,
	})
}

// provisioningBody is the provisioning document: the
// persistentChatConfiguration group names the lookup URI.
func provisioningBody(lookupURI string) []byte {
	return []byte(`<provisionGroupList xmlns="http://schemas.microsoft.com/2006/09/sip/provisiongrouplist">` +
		`<provisionGroup name="ServerConfiguration"><propertyEntryList/></provisionGroup>` +
		`<provisionGroup name="persistentChatConfiguration"><propertyEntryList>` +
		`<property name="EnablePersistentChat">true</property>` +
		`<property name="DefaultPersistentChatPoolUri">` + lookupURI + `</property>` +
		`</propertyEntryList></provisionGroup></provisionGroupList>`)
}
