package check

import (
	"context"
	"fmt"
	"strings"

	"github.com/gcload/gcload/ruleid"
	"github.com/gcload/gcload/sipauth"
	"github.com/gcload/gcload/sipauth/digest"
	"github.com/gcload/gcload/sipauth/sipae"
	"github.com/gcload/gcload/sipnet"
)

// authRules are the rules about sign-in and signatures: they need the
// users' credentials.
var authRules = []string{ruleid.Challenge, ruleid.ServerSignature, ruleid.RefuseUnsigned, ruleid.Identity}

// skipAuth skips the rules about sign-in when the suite cannot judge
// them: it has no credentials, or its connections are a trunk (whose
// users the server does not challenge).
func (s *suite) skipAuth() {
	why := ""
	switch {
	case s.setup.Trunk:
		why = "the connections are a trunk (a client certificate): the server does not challenge their users"
	case !s.setup.HasCredentials():
		why = "the target has no credentials: give the users' passwords (--accounts FILE or --password PATTERN) to check its sign-in"
	}
	if why == "" {
		return
	}
	for _, r := range authRules {
		s.skip(r, why)
	}
}

// skipped reports whether every rule given is skipped (or not selected).
func (s *suite) skipped(rules ...string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range rules {
		if x := s.res[r]; x != nil && x.Skipped == "" {
			return false
		}
	}
	return true
}

// probeAuth: on a raw connection, a REGISTER without credentials must be
// challenged with a usable challenge; after the sign-in (NTLM), an
// unsigned and a badly signed SUBSCRIBE are refused while a signed one is
// taken; a SUBSCRIBE From another user is refused.
func probeAuth(ctx context.Context, s *suite, pr *probeRun) error {
	if s.skipped(ruleid.Challenge, ruleid.RefuseUnsigned, ruleid.Identity) {
		return nil
	}
	w, err := s.dialWire(ctx, s.t.Users[0])
	if err != nil {
		return err
	}
	defer w.Close()
	tag := sipnet.NewTag()
	first, res, err := w.signIn(tag)
	if first != nil && s.wants(ruleid.Challenge) {
		s.judgeChallenge(first, res, err)
	}
	switch {
	case err != nil:
		return fmt.Errorf("sign-in: %w", err)
	case res.StatusCode != 200:
		return fmt.Errorf("sign-in: REGISTER answered %d %s (%s)", res.StatusCode, res.Reason, warningOf(res))
	}
	subscribe := func(from string, sign int) (*sipnet.Message, error) {
		return w.do(req{method: "SUBSCRIBE", ruri: from, branch: true, callID: newID(), fromTag: tag, from: from, to: from, sign: sign,
			extra: []string{"Event: vnd-microsoft-provisioning-v2", "Accept: application/vnd-microsoft-roaming-provisioning-v2+xml", "Expires: 0"}})
	}
	if s.wants(ruleid.RefuseUnsigned) && !s.skipped(ruleid.RefuseUnsigned) {
		if w.sa == nil {
			s.skip(ruleid.RefuseUnsigned, "the server did not sign the user in with NTLM: no signatures to refuse")
		} else {
			res, err := subscribe(w.user, signed)
			if err != nil {
				return fmt.Errorf("a signed SUBSCRIBE: %w", err)
			}
			if res.StatusCode != 200 {
				return fmt.Errorf("a signed SUBSCRIBE after the sign-in was answered %d %s (%s)", res.StatusCode, res.Reason, warningOf(res))
			}
			for _, c := range []struct {
				sign int
				what string
			}{{unsigned, "without a signature"}, {tampered, "with a signature that does not verify"}} {
				res, err := subscribe(w.user, c.sign)
				switch {
				case err != nil:
					s.fail(ruleid.RefuseUnsigned, "a SUBSCRIBE "+c.what+" got no answer: "+err.Error(), nil)
				case res.StatusCode != 401 && res.StatusCode != 403:
					s.fail(ruleid.RefuseUnsigned, fmt.Sprintf("a SUBSCRIBE %s after the NTLM sign-in was answered %d %s, want 401 or 403", c.what, res.StatusCode, res.Reason), res.Raw)
				default:
					s.ok(ruleid.RefuseUnsigned)
				}
			}
		}
	}
	if s.wants(ruleid.Identity) && !s.skipped(ruleid.Identity) {
		other, _ := sipnet.AOR(s.t.Users[1])
		res, err := subscribe(other, signed)
		how := "on " + w.user + "'s connection"
		if w.sa != nil {
			how = "signed by " + w.user
		}
		switch {
		case err != nil:
			s.fail(ruleid.Identity, "a SUBSCRIBE From another user got no answer: "+err.Error(), nil)
		case res.StatusCode != 401 && res.StatusCode != 403:
			s.fail(ruleid.Identity, fmt.Sprintf("a SUBSCRIBE From %s %s was answered %d %s, want 403", other, how, res.StatusCode, res.Reason), res.Raw)
		default:
			s.ok(ruleid.Identity)
		}
	}
	return nil
}

// judgeChallenge holds the answer to a REGISTER without credentials to
// ruleid.Challenge: a 401 (or 407) whose challenge a client can answer, and
// a sign-in that then goes through (signInErr: what answering it met).
func (s *suite) judgeChallenge(first, last *sipnet.Message, signInErr error) {
	if first.StatusCode != 401 && first.StatusCode != 407 {
		s.fail(ruleid.Challenge, fmt.Sprintf("a REGISTER without credentials was answered %d %s, not challenged: the server authenticates nobody", first.StatusCode, first.Reason), first.Raw)
		return
	}
	hdr := "WWW-Authenticate"
	if first.StatusCode == 407 {
		hdr = "Proxy-Authenticate"
	}
	values := first.Headers(hdr)
	if problem := usableChallenge(values); problem != "" {
		s.fail(ruleid.Challenge, "the challenge cannot be answered: "+problem, first.Raw)
		return
	}
	if signInErr != nil && last != nil && last.StatusCode != 401 && last.StatusCode != 403 {
		s.fail(ruleid.Challenge, "answering the challenge failed: "+signInErr.Error(), last.Raw)
		return
	}
	s.ok(ruleid.Challenge)
}

// usableChallenge says what is wrong with the challenges of a 401 ("" when
// one of them is usable): an NTLM one with realm and targetname, or a
// digest one with realm, nonce and qop=auth (or none).
func usableChallenge(values []string) string {
	if len(values) == 0 {
		return "the 401 has no WWW-Authenticate header"
	}
	var problems []string
	if ch, err := sipae.FindNTLM(values); err == nil {
		_, realm := ch.Get("realm")
		_, target := ch.Get("targetname")
		if realm && target {
			return ""
		}
		problems = append(problems, "the NTLM challenge has no realm or targetname")
	}
	for _, v := range values {
		fields, err := sipauth.ParseList(v)
		if err != nil {
			problems = append(problems, "a challenge does not parse: "+err.Error())
			continue
		}
		for _, f := range fields {
			if !f.Is("Digest") {
				continue
			}
			ch, err := digest.ParseChallenge(f)
			switch {
			case err != nil:
				problems = append(problems, "a digest challenge: "+err.Error())
			case len(ch.QOP) > 0 && !contains(ch.QOP, "auth"):
				problems = append(problems, fmt.Sprintf("a digest challenge offers qop %v, not auth", ch.QOP))
			default:
				return ""
			}
		}
	}
	if len(problems) == 0 {
		problems = append(problems, fmt.Sprintf("no NTLM or digest challenge in %q", values))
	}
	return strings.Join(problems, "; ")
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// warningOf is a response's Warning header, or "no Warning".
func warningOf(m *sipnet.Message) string {
	if w, ok := m.Header("Warning"); ok {
		return w
	}
	return "no Warning"
}
