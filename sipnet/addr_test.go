package sipnet

import "testing"

func TestAOR(t *testing.T) {
	cases := []struct{ in, want string }{
		{"<sip:alice@example.com>;tag=6397948244;epid=cf0b98dadeb9", "sip:alice@example.com"},
		{`"Alice A" <sip:alice@Example.COM:5061;transport=tcp>`, "sip:alice@example.com"},
		{"sip:bob@example.com;tag=1", "sip:bob@example.com"},
		{"<sip:alice@example.com:57788;maddr=127.0.0.1;transport=tcp>;proxy=replace", "sip:alice@example.com"},
		{"<sips:u:pw@[::1]:5061>", "sip:u@[::1]"},
		{"sip:example.com", "sip:example.com"},
	}
	for _, c := range cases {
		got, err := AOR(c.in)
		if err != nil || got != c.want {
			t.Errorf("AOR(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "<sip:a@b", "tel:+123", "<mailto:a@b>", "sip:@"} {
		if got, err := AOR(bad); err == nil {
			t.Errorf("AOR(%q) = %q, want error", bad, got)
		}
	}
}

func TestIsTextPlain(t *testing.T) {
	for ct, want := range map[string]bool{
		"text/plain": true, "Text/Plain": true, "text/plain; charset=utf-8": true, "text/plain ;x=1": true,
		"text/plainx": false, "text/html": false, "": false, "application/sdp": false, "text/plai": false,
	} {
		if IsTextPlain(ct) != want {
			t.Errorf("IsTextPlain(%q) = %v", ct, !want)
		}
	}
}
