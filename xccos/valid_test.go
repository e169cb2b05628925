package xccos

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// invalidCharRef is InvalidChar written the obvious way, one rune at a time.
func invalidCharRef(s string) int {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || !isXMLChar(uint32(r)) {
			return i
		}
		i += n
	}
	return -1
}

func TestInvalidChar(t *testing.T) {
	for _, tt := range []struct {
		in   string
		at   int
		char rune
	}{
		{"", -1, 0},
		{"plain ascii text, longer than one word of eight bytes", -1, 0},
		{"tab\tcr\rlf\nand DEL \x7f are XML characters", -1, 0},
		{"é ü 中文 😀 \ufffd and U+FFFD itself", -1, 0},
		{"\xff\xfe\xc0\xaf", 0, utf8.RuneError},
		{"12345678\xff", 8, utf8.RuneError},
		{"1234567\x01", 7, 1},
		{"123456789012345\x00tail", 15, 0},
		{"\x1f", 0, 0x1f},
		{"ok \xc0\xaf overlong slash", 3, utf8.RuneError},
		{"surrogate \xed\xa0\x80", 10, utf8.RuneError},
		{"not a character \xef\xbf\xbe", 16, 0xfffe},
		{"not a character \xef\xbf\xbf", 16, 0xffff},
		{"cut \xe4\xb8", 4, utf8.RuneError},
	} {
		at, r := InvalidChar(tt.in)
		if at != tt.at || (at >= 0 && r != tt.char) {
			t.Errorf("InvalidChar(%q) = %d, %U; want %d, %U", tt.in, at, r, tt.at, tt.char)
		}
		if ValidText(tt.in) != (tt.at < 0) {
			t.Errorf("ValidText(%q) = %v", tt.in, !(tt.at < 0))
		}
	}
	// the word-at-a-time loop against the obvious one, with bad bytes at
	// every position relative to the eight-byte words
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "Z", " ", "~", "\x7f", "\t", "\n", "\r", "é", "中", "😀", "\x00", "\x01", "\x1f", "\xff", "\xc0", "\xed\xa0\x80", "\xef\xbf\xbe"}
	for range 20000 {
		var b strings.Builder
		for range rng.IntN(40) {
			if rng.IntN(8) == 0 {
				b.WriteString(alphabet[rng.IntN(len(alphabet))])
			} else {
				b.WriteString(alphabet[rng.IntN(7)])
			}
		}
		s := b.String()
		if got, want := func() int { i, _ := InvalidChar(s); return i }(), invalidCharRef(s); got != want {
			t.Fatalf("InvalidChar(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestSanitizeText(t *testing.T) {
	for in, want := range map[string]string{
		"fine":               "fine",
		"a\xff\xfe\xc0\xafb": "a\ufffd\ufffd\ufffd\ufffdb",
		"\x01bell\x07":       "\ufffdbell\ufffd",
		"keep\ttab\r\nand é": "keep\ttab\r\nand é",
		"\xef\xbf\xbe":       "\ufffd",
	} {
		if got := SanitizeText(in); got != want || !ValidText(got) {
			t.Errorf("SanitizeText(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestParseRefusesInvalidCharacters: bytes that are not UTF-8 and control
// characters are refused wherever they are, with the offset and element,
// and the envelope's header and first element are salvaged so a server can
// address its error reply (rpl:grpchat for a broken post).
func TestParseRefusesInvalidCharacters(t *testing.T) {
	chat := `<grpchat id="grpchat" seqid="1" chanUri="ma-chan://d/r" author="sip:a@d" ts="2010-09-14T14:26:17Z"><chat>`
	off := len(head) + len(chat) + len("ok ")
	for _, tt := range []struct {
		name, in, msg string
		salvage, item bool // envid 7 comes back; with the first element's name
	}{
		{"not UTF-8 in a post", envelope(chat + "ok \xff\xfe\xc0\xaf</chat></grpchat>"), `byte \xff that is not UTF-8 in <chat>`, true, true},
		{"control character in a post", envelope(chat + "ok \x01</chat></grpchat>"), "character U+0001 that XML does not allow in <chat>", true, true},
		{"U+FFFE in a post", envelope(chat + "ok \xef\xbf\xbe</chat></grpchat>"), "character U+FFFE that XML does not allow", true, true},
		{"surrogate in a post", envelope(chat + "ok \xed\xa0\x80</chat></grpchat>"), `byte \xed that is not UTF-8`, true, true},
		{"control character in an attribute", envelope(`<cmd id="cmd:join" seqid="1"><data><chanid key="0" value="r` + "\x02" + `"/></data></cmd>`), "character U+0002", true, true},
		{"control character in a comment", envelope("<!-- \x03 -->" + `<cmd id="cmd:x"/>`), "character U+0003", true, false},
		{"before the root", "\x00" + envelope(`<cmd id="cmd:x"/>`), "offset 0: character U+0000", false, false},
		{"inside the root tag", `<xccos ver="1" envid="7` + "\x80" + `"/>`, `byte \x80`, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env, err := Parse([]byte(tt.in))
			if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Parse error = %v, want ErrSyntax with %q", err, tt.msg)
			}
			var xe *Error
			if !errors.As(err, &xe) {
				t.Fatalf("%T is not an *Error", err)
			}
			if at, _ := InvalidChar(tt.in); xe.Offset != at {
				t.Errorf("offset %d, want %d", xe.Offset, at)
			}
			if !tt.salvage {
				if env != nil {
					t.Errorf("salvaged %s", dump(env))
				}
				return
			}
			if env == nil || env.EnvID != 7 || (len(env.Items) == 1 && env.Items[0].Name != "") != tt.item {
				t.Fatalf("salvaged %s, want envid 7 (and the first element's name: %v)", dump(env), tt.item)
			}
			if _, _, ok := ParseChat([]byte(tt.in)); ok {
				t.Errorf("the fast path accepted it")
			}
		})
	}
	env, err := Parse([]byte(envelope(chat + "ok \xff</chat></grpchat>")))
	if err == nil || err.(*Error).Offset != off || env.Items[0].Kind != KindChat || env.Items[0].Name != "grpchat" {
		t.Fatalf("post with a bad byte: %v %s", err, dump(env))
	}
	// a canonical delivery with a bad byte would pass every literal check
	// of the fast path: it must still go to Parse
	good := AppendChat(nil, 9, &Chat{ChanURI: "ma-chan://d/r", Author: "sip:a@d", TS: time.Now(), Text: "hello world"})
	bad := []byte(strings.Replace(string(good), "hello", "hel\x01o", 1))
	if _, _, ok := ParseChat(good); !ok {
		t.Fatal("fast path refused a canonical delivery")
	}
	if _, _, ok := ParseChat(bad); ok {
		t.Fatal("fast path accepted a control character")
	}
}

func BenchmarkInvalidChar(b *testing.B) {
	in := benchChat
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if i, _ := InvalidChar(in); i >= 0 {
			b.Fatal(i)
		}
	}
}
