package xccos

import (
	"errors"
	"strings"
	"testing"
)

func TestXMLDocument(t *testing.T) {
	in := "<?xml version=\"1.0\"?><p:a x='1' p:y=\"2&lt;\" xmlns:p=\"urn:p\" xmlns=\"urn:d\">" +
		"<b>t1<!--c-->t2<![CDATA[<&>]]>&amp;&#x41;&#66;</b>\n<c/>tail<p:d z=\"&quot;'\"></p:d></p:a>"
	var d xmlDoc
	if err := d.parse([]byte(in)); err != nil {
		t.Fatal(err)
	}
	type node struct{ qname, local, text string }
	want := []node{{"p:a", "a", "\ntail"}, {"b", "b", "t1t2<&>&AB"}, {"c", "c", ""}, {"p:d", "d", ""}}
	if len(d.nodes) != len(want) {
		t.Fatalf("%d nodes, want %d", len(d.nodes), len(want))
	}
	for i, w := range want {
		n := d.nodes[i]
		if n.qname != w.qname || n.local() != w.local || n.text != w.text {
			t.Errorf("node %d = %q %q %q, want %q %q %q", i, n.qname, n.local(), n.text, w.qname, w.local, w.text)
		}
	}
	if got := d.nodes[0].first; got != 1 || d.nodes[1].next != 2 || d.nodes[2].next != 3 || d.nodes[3].next != none {
		t.Errorf("children of the root are not linked in order")
	}
	if d.nodes[3].parent != 0 || d.nodes[0].parent != none {
		t.Errorf("parents: %d %d", d.nodes[3].parent, d.nodes[0].parent)
	}
	for name, want := range map[string]string{"x": "1", "y": "2<", "xmlns": "", "p": ""} {
		if got := d.attrValue(0, name); got != want {
			t.Errorf("attribute %s = %q, want %q", name, got, want)
		}
	}
	if got := d.attrValue(3, "z"); got != `"'` {
		t.Errorf("attribute z = %q", got)
	}
	if got := d.namespace(0); got != "urn:p" {
		t.Errorf("namespace of <p:a> = %q, want urn:p", got)
	}
	if got := d.child(0, "d"); got != 3 {
		t.Errorf("child d = %d, want 3", got)
	}
	if got := d.child(0, "e"); got != none {
		t.Errorf("child e = %d, want none", got)
	}
}

func TestXMLAccepts(t *testing.T) {
	for _, in := range []string{
		"<a/>",
		"\ufeff<a/>",
		" \r\n\t<a/> \r\n\t",
		"<a></a>",
		"<a ></a >",
		"<a\tb = 'x'\n/>",
		"<a b='\"' c=\"'\"/>",
		"<a b='>'/>",
		"<a><?pi <a>?></a>",
		"<!-- before --><a/><!-- after --><?after?>",
		"<a><![CDATA[]]></a>",
		"<a>&#x10FFFF;&#9;&#xd;</a>",
		"<a:b.c-d_e xmlns:a='u'/>",
		"<\u00e9l\u00e8ve/>",
		"<a " + strings.Repeat("b", 40) + "='1'/>",
	} {
		var d xmlDoc
		if err := d.parse([]byte(in)); err != nil {
			t.Errorf("parse(%q): %v", in, err)
		}
	}
}

func TestXMLRejects(t *testing.T) {
	var many strings.Builder
	many.WriteString("<a")
	for i := range 40 {
		many.WriteString(" a" + strings.Repeat("x", i) + "='1'")
	}
	manyOK := many.String() + "/>"
	dupLate := many.String() + " a='2'/>"
	var d xmlDoc
	if err := d.parse([]byte(manyOK)); err != nil {
		t.Fatalf("40 distinct attributes: %v", err)
	}
	for _, in := range []string{
		"<a>",
		"<a></b>",
		"</a>",
		"<a/></a>",
		"<a/><b/>",
		"<a/>x",
		"x<a/>",
		"<1a/>",
		"<a:/>",
		"<:a/>",
		"<a:b:c/>",
		"<a b/>",
		"<a b=/>",
		"<a b='1'c='2'/>",
		"<a b='1' b=\"2\"/>",
		dupLate,
		"<a b='<'/>",
		"<a b='&foo;'/>",
		"<a>&#xFFFE;</a>",
		"<a>&#1;</a>",
		"<a>&#x110000;</a>",
		"<a>&#99999999999999999999;</a>",
		"<a>&#;</a>",
		"<a>&#x;</a>",
		"<a>&#X41;</a>",
		"<a>&#4a;</a>",
		"<a>&amp</a>",
		"<a><!DOCTYPE a></a>",
		"<!ELEMENT a ANY><a/>",
		"<![CDATA[x]]><a/>",
		"<a><!-- </a>",
		"<a><? </a>",
		"<a /",
		"<a",
		"<",
		"",
		"   ",
	} {
		var d xmlDoc
		err := d.parse([]byte(in))
		var xe *Error
		if !errors.As(err, &xe) || !errors.Is(err, ErrSyntax) {
			t.Errorf("parse(%q) = %v, want a syntax *Error", in, err)
			continue
		}
		if xe.Offset < 0 || xe.Offset > len(in) {
			t.Errorf("parse(%q): offset %d out of range", in, xe.Offset)
		}
	}
}

func TestXMLDepth(t *testing.T) {
	ok := strings.Repeat("<a>", MaxDepth) + strings.Repeat("</a>", MaxDepth)
	var d xmlDoc
	if err := d.parse([]byte(ok)); err != nil {
		t.Errorf("%d levels: %v", MaxDepth, err)
	}
	tooDeep := strings.Repeat("<a>", MaxDepth+1) + strings.Repeat("</a>", MaxDepth+1)
	if err := d.parse([]byte(tooDeep)); !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), "offset 192: element <a> is nested more than 64 levels deep") {
		t.Errorf("%d levels: %v", MaxDepth+1, err)
	}
}
