package sipnet

import (
	"errors"
	"fmt"
	"strings"
)

// ErrBadAddress is wrapped by address parsing errors.
var ErrBadAddress = errors.New("sipnet: bad address")

// URIOf returns the URI inside a name-addr or addr-spec header value:
// `"Alice" <sip:alice@example.com;transport=tcp>;tag=1` gives
// `sip:alice@example.com;transport=tcp`; a bare `sip:a@b;tag=1` gives
// `sip:a@b` (parameters after an addr-spec belong to the header).
func URIOf(v string) (string, error) {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '<'); i >= 0 {
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			return "", fmt.Errorf("%w: unclosed '<' in %q", ErrBadAddress, v)
		}
		return v[i+1 : i+j], nil
	}
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	if v == "" {
		return "", fmt.Errorf("%w: empty", ErrBadAddress)
	}
	return v, nil
}

// AOR reduces a header value or URI to its address of record,
// "sip:user@host": no display name, port, parameters or headers; the host
// in lower case.
func AOR(v string) (string, error) {
	u, err := URIOf(v)
	if err != nil {
		return "", err
	}
	scheme, rest, ok := strings.Cut(u, ":")
	scheme = strings.ToLower(scheme)
	if !ok || (scheme != "sip" && scheme != "sips") {
		return "", fmt.Errorf("%w: %q is not a sip: URI", ErrBadAddress, u)
	}
	if i := strings.IndexAny(rest, ";?"); i >= 0 {
		rest = rest[:i]
	}
	user, host, ok := strings.Cut(rest, "@")
	if !ok {
		user, host = "", rest
	}
	if i := strings.IndexByte(user, ':'); i >= 0 { // user:password
		user = user[:i]
	}
	if strings.HasPrefix(host, "[") {
		if j := strings.IndexByte(host, ']'); j >= 0 {
			host = host[:j+1]
		}
	} else if i := strings.IndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	if host == "" {
		return "", fmt.Errorf("%w: no host in %q", ErrBadAddress, u)
	}
	host = strings.ToLower(host)
	if user == "" {
		return "sip:" + host, nil
	}
	return "sip:" + user + "@" + host, nil
}

// UserOf returns the user part of an AOR ("alice" of sip:alice@example.com).
func UserOf(aor string) string {
	s := strings.TrimPrefix(aor, "sip:")
	u, _, _ := strings.Cut(s, "@")
	return u
}
