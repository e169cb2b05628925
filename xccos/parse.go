package xccos

import (
	"errors"
	"strconv"
	"strings"
)

// The classes of error Parse returns. Every error Parse returns is an
// *Error wrapping exactly one of these; test with errors.Is.
var (
	// ErrSyntax: the input is not well-formed XML (or is too large or too
	// deep), or a data block has a malformed numeric field.
	ErrSyntax = errors.New("xccos: malformed xml")
	// ErrNotXCCOS: the root element is not xccos.
	ErrNotXCCOS = errors.New("xccos: root element is not xccos")
	// ErrEnvID: an envid attribute (on the root or on a commandid) is
	// missing or is not an unsigned 64-bit integer.
	ErrEnvID = errors.New("xccos: missing or invalid envid")
	// ErrEmpty: the envelope has no top-level element.
	ErrEmpty = errors.New("xccos: empty envelope")
	// ErrUnknownElement: a top-level element is not cmd, rpl, ntc or grpchat.
	ErrUnknownElement = errors.New("xccos: unknown top-level element")
	// ErrBadID: a top-level element has no id attribute, or an id whose
	// prefix does not match the element.
	ErrBadID = errors.New("xccos: missing or mismatched id")
	// ErrBadReply: a rpl has no commandid or resp child, or a resp code
	// that is not an integer.
	ErrBadReply = errors.New("xccos: malformed reply")
	// ErrBadTime: a ts attribute is present but is not a timestamp.
	ErrBadTime = errors.New("xccos: malformed timestamp")
)

// rootWindow is how much of an oversized input Parse reads to salvage the
// envid of the root start tag.
const rootWindow = 4096

// Parse reads one XCCOS envelope.
//
// The parser is lenient where real peers differ: Ver and NS are kept as
// received, extra namespace declarations, sibling rpl/ntc elements,
// unknown attributes and unknown elements inside <data> are accepted
// (the latter are listed in Data.Unknown). It is strict about
// well-formedness (bytes that are not UTF-8 encoded XML 1.0 characters,
// such as \xff or \x01, included: see InvalidChar), the root element,
// envids, ids, replies and timestamps.
//
// Every error is an *Error wrapping one of the sentinel errors. When the
// root start tag carried a valid envid, the error comes with a non-nil
// *Envelope holding EnvID, Ver, NS and the items parsed before the
// failure (for a syntax error: the kind and name of the first element,
// when its start tag was read), so a server can address an error reply.
//
// The strings of the result share one copy of b; Parse does not retain b.
func Parse(b []byte) (*Envelope, error) {
	return parse(b, MaxSize)
}

func parse(b []byte, limit int) (*Envelope, error) {
	var d xmlDoc
	if len(b) > limit {
		_ = d.parse(b[:min(len(b), rootWindow)])
		err := newError(ErrSyntax, limit, "", "input of %d bytes exceeds the limit of %d bytes", len(b), limit)
		return salvage(&d), err
	}
	if err := d.parse(b); err != nil {
		return salvage(&d), err
	}
	return (&walker{d: &d}).envelope()
}

// salvage returns the envelope header of a document that failed to parse,
// or nil when its root start tag was not read or has no valid envid.
func salvage(d *xmlDoc) *Envelope {
	if !d.rootOpen || d.nodes[0].local() != "xccos" {
		return nil
	}
	id, err := strconv.ParseUint(d.attrValue(0, "envid"), 10, 64)
	if err != nil {
		return nil
	}
	env := &Envelope{EnvID: id, Ver: d.attrValue(0, "ver"), NS: d.namespace(0)}
	// the first top-level element, when its start tag was read: a server
	// names it in its error reply (rpl:grpchat for a broken post)
	if first := d.nodes[0].first; first != none {
		if it, ok := itemHead(d, first); ok {
			env.Items = []Item{it}
		}
	}
	return env
}

// itemHead reads the kind, name and seqid of the top-level element c; ok
// is false when its element or id is not one Parse accepts.
func itemHead(d *xmlDoc, c int32) (Item, bool) {
	var it Item
	var prefix string
	switch d.nodes[c].local() {
	case "cmd":
		it.Kind, prefix = KindCommand, "cmd:"
	case "rpl":
		it.Kind, prefix = KindReply, "rpl:"
	case "ntc":
		it.Kind, prefix = KindNotice, "ntc:"
	case "grpchat":
		it.Kind = KindChat
	default:
		return it, false
	}
	id := d.attrValue(c, "id")
	if it.Kind == KindChat {
		if id != "grpchat" {
			return it, false
		}
		it.Name = id
	} else {
		name, ok := strings.CutPrefix(id, prefix)
		if !ok || name == "" {
			return it, false
		}
		it.Name = name
	}
	it.SeqID = d.attrValue(c, "seqid")
	return it, true
}

// walker turns a parsed document into an Envelope.
type walker struct {
	d *xmlDoc
}

func (w *walker) errf(sentinel error, n int32, format string, args ...any) error {
	nd := &w.d.nodes[n]
	return newError(sentinel, int(nd.off), nd.local(), format, args...)
}

func (w *walker) attrErr(sentinel error, n, a int32, format string, args ...any) error {
	return newError(sentinel, int(w.d.attrs[a].off), w.d.nodes[n].local(), format, args...)
}

// single holds an envelope of one item in one allocation (the common case:
// every sender puts one element per envelope).
type single struct {
	env   Envelope
	items [1]Item
	chat  Chat
	reply ReplyInfo
}

func (w *walker) envelope() (*Envelope, error) {
	d := w.d
	root := &d.nodes[0]
	if root.local() != "xccos" {
		return nil, w.errf(ErrNotXCCOS, 0, "root element is <%s>, want <xccos>", root.qname)
	}
	a := d.attr(0, "envid")
	if a == none {
		return nil, w.errf(ErrEnvID, 0, "<%s> has no envid attribute", root.qname)
	}
	id, err := strconv.ParseUint(d.attrs[a].value, 10, 64)
	if err != nil {
		return nil, w.attrErr(ErrEnvID, 0, a, "<%s> envid %q is not an unsigned 64-bit integer", root.qname, d.attrs[a].value)
	}
	n := 0
	for c := root.first; c != none; c = d.nodes[c].next {
		n++
	}
	var env *Envelope
	var s *single
	if n == 1 {
		s = new(single)
		env = &s.env
		env.Items = s.items[:0:1]
	} else {
		env = new(Envelope)
	}
	env.EnvID = id
	env.Ver = d.attrValue(0, "ver")
	env.NS = d.namespace(0)
	if n == 0 {
		return env, w.errf(ErrEmpty, 0, "<%s> has no element", root.qname)
	}
	if env.Items == nil {
		env.Items = make([]Item, 0, n)
	}
	for c := root.first; c != none; c = d.nodes[c].next {
		var it Item
		if err := w.item(c, &it, s); err != nil {
			return env, err
		}
		env.Items = append(env.Items, it)
	}
	return env, nil
}

// item reads the top-level element c into it. s, when not nil, provides
// storage for the chat or reply.
func (w *walker) item(c int32, it *Item, s *single) error {
	d := w.d
	n := &d.nodes[c]
	var prefix string
	switch n.local() {
	case "cmd":
		it.Kind, prefix = KindCommand, "cmd:"
	case "rpl":
		it.Kind, prefix = KindReply, "rpl:"
	case "ntc":
		it.Kind, prefix = KindNotice, "ntc:"
	case "grpchat":
		it.Kind = KindChat
	default:
		return w.errf(ErrUnknownElement, c, "unknown element <%s> in <xccos>, want cmd, rpl, ntc or grpchat", n.qname)
	}
	a := d.attr(c, "id")
	if a == none {
		return w.errf(ErrBadID, c, "<%s> has no id attribute", n.qname)
	}
	id := d.attrs[a].value
	if it.Kind == KindChat {
		if id != "grpchat" {
			return w.attrErr(ErrBadID, c, a, "<%s> id %q, want \"grpchat\"", n.qname, id)
		}
		it.Name = "grpchat"
	} else {
		name, ok := strings.CutPrefix(id, prefix)
		if !ok {
			return w.attrErr(ErrBadID, c, a, "<%s> id %q does not start with %q", n.qname, id, prefix)
		}
		if name == "" {
			return w.attrErr(ErrBadID, c, a, "<%s> id %q has no name after %q", n.qname, id, prefix)
		}
		it.Name = name
	}
	it.SeqID = d.attrValue(c, "seqid")

	switch it.Kind {
	case KindChat:
		ch := new(Chat)
		if s != nil {
			ch = &s.chat
		}
		if err := w.chat(c, ch); err != nil {
			return err
		}
		it.Chat = ch
		return nil
	case KindReply:
		var r *ReplyInfo
		if s != nil {
			r = &s.reply
		} else {
			r = new(ReplyInfo)
		}
		if err := w.reply(c, r); err != nil {
			return err
		}
		it.Reply = r
	}
	if dn := d.child(c, "data"); dn != none {
		dt, err := w.data(dn)
		if err != nil {
			return err
		}
		it.Data = dt
	}
	return nil
}

func (w *walker) reply(c int32, r *ReplyInfo) error {
	d := w.d
	ci := d.child(c, "commandid")
	if ci == none {
		return w.errf(ErrBadReply, c, "<%s> has no <commandid>", d.nodes[c].qname)
	}
	ri := d.child(c, "resp")
	if ri == none {
		return w.errf(ErrBadReply, c, "<%s> has no <resp>", d.nodes[c].qname)
	}
	a := d.attr(ci, "envid")
	if a == none {
		return w.errf(ErrEnvID, ci, "<%s> has no envid attribute", d.nodes[ci].qname)
	}
	id, err := strconv.ParseUint(d.attrs[a].value, 10, 64)
	if err != nil {
		return w.attrErr(ErrEnvID, ci, a, "<%s> envid %q is not an unsigned 64-bit integer", d.nodes[ci].qname, d.attrs[a].value)
	}
	a = d.attr(ri, "code")
	if a == none {
		return w.errf(ErrBadReply, ri, "<%s> has no code attribute", d.nodes[ri].qname)
	}
	code, err := strconv.Atoi(d.attrs[a].value)
	if err != nil {
		return w.attrErr(ErrBadReply, ri, a, "<%s> code %q is not an integer", d.nodes[ri].qname, d.attrs[a].value)
	}
	r.CommandSeqID = d.attrValue(ci, "seqid")
	r.CommandEnvID = id
	r.Code = code
	r.Text = d.nodes[ri].text
	return nil
}

// chat reads a grpchat or msg element.
func (w *walker) chat(c int32, ch *Chat) error {
	d := w.d
	ch.ChanURI = d.attrValue(c, "chanUri")
	ch.Author = d.attrValue(c, "author")
	if a := d.attr(c, "ts"); a != none {
		ch.TSRaw = d.attrs[a].value
		t, ok := parseTime(ch.TSRaw)
		if !ok {
			return w.attrErr(ErrBadTime, c, a, "<%s> ts %q is not a timestamp (want %s)", d.nodes[c].qname, ch.TSRaw, timeForm)
		}
		ch.TS = t
	}
	if v := d.attrValue(c, "story"); v == "true" || v == "1" {
		ch.Story = true
	}
	if t := d.child(c, "chat"); t != none {
		ch.Text = d.nodes[t].text
	}
	if f := d.child(c, "ftdb"); f != none {
		ch.File = &FTDB{ChannelURI: d.attrValue(f, "channelUri"), FileURL: d.attrValue(f, "fileUrl")}
	}
	return nil
}

// intAttr reads a required integer attribute of a data block.
func (w *walker) intAttr(n int32, name string) (int, error) {
	d := w.d
	a := d.attr(n, name)
	if a == none {
		return 0, w.errf(ErrSyntax, n, "<%s> has no %s attribute", d.nodes[n].qname, name)
	}
	v, err := strconv.Atoi(d.attrs[a].value)
	if err != nil {
		return 0, w.attrErr(ErrSyntax, n, a, "<%s> %s %q is not an integer", d.nodes[n].qname, name, d.attrs[a].value)
	}
	return v, nil
}

// sized returns an empty slice with room for n elements, nil when n is 0.
func sized[T any](n int) []T {
	if n == 0 {
		return nil
	}
	return make([]T, 0, n)
}

func (w *walker) data(n int32) (*Data, error) {
	d := w.d
	dt := new(Data)
	// Size the lists first so each costs one allocation.
	var users, chans, ids, invs int
	for c := d.nodes[n].first; c != none; c = d.nodes[c].next {
		switch d.nodes[c].local() {
		case "uib":
			users++
		case "chanib":
			chans++
		case "chanid":
			ids++
		case "inv":
			invs++
		}
	}
	dt.Users, dt.Channels = sized[UIB](users), sized[ChanIB](chans)
	dt.ChanIDs, dt.Invites = sized[ChanID](ids), sized[Inv](invs)
	for c := d.nodes[n].first; c != none; c = d.nodes[c].next {
		switch local := d.nodes[c].local(); local {
		case "uib":
			dt.Users = append(dt.Users, w.uib(c))
		case "chanib":
			ch, err := w.chanib(c)
			if err != nil {
				return dt, err
			}
			dt.Channels = append(dt.Channels, ch)
		case "chanid":
			dt.ChanIDs = append(dt.ChanIDs, ChanID{
				Key:    d.attrValue(c, "key"),
				Domain: d.attrValue(c, "domain"),
				Value:  d.attrValue(c, "value"),
			})
		case "qib":
			if dt.Query == nil {
				dt.Query = &QIB{
					QType:    d.attrValue(c, "qtype"),
					Criteria: d.attrValue(c, "criteria"),
					Extended: d.attrValue(c, "extended"),
				}
			}
		case "bcq":
			if dt.History == nil {
				l := d.child(c, "last")
				if l == none {
					return dt, w.errf(ErrSyntax, c, "<%s> has no <last> child", d.nodes[c].qname)
				}
				cnt, err := w.intAttr(l, "cnt")
				if err != nil {
					return dt, err
				}
				dt.History = &BCQ{Last: cnt}
			}
		case "sib":
			if dt.Server == nil {
				dt.Server = &SIB{
					Domain:           d.attrValue(c, "domain"),
					InfoType:         d.attrValue(c, "infoType"),
					ServerTime:       d.attrValue(c, "serverTime"),
					SearchLimit:      d.attrValue(c, "searchLimit"),
					MessageSizeLimit: d.attrValue(c, "messageSizeLimit"),
					StorySizeLimit:   d.attrValue(c, "storySizeLimit"),
					RootURI:          d.attrValue(c, "rootUri"),
					DBVersion:        d.attrValue(c, "dbVersion"),
				}
			}
		case "inv":
			dt.Invites = append(dt.Invites, Inv{
				InviteID: d.attrValue(c, "inviteId"),
				Domain:   d.attrValue(c, "domain"),
				ChanURI:  d.attrValue(c, "chanUri"),
				Author:   d.attrValue(c, "author"),
			})
		case "ftdb":
			if dt.File == nil {
				dt.File = &FTDB{
					ChannelURI: d.attrValue(c, "channelUri"),
					FileURL:    d.attrValue(c, "fileUrl"),
				}
			}
		case "token":
			if dt.Token == nil {
				dt.Token = &Token{
					Token:     d.attrValue(c, "token"),
					ServerURI: d.attrValue(c, "serveruri"),
				}
			}
		case "msq":
			if dt.Search == nil {
				q := &MsgQuery{
					ChanURI: d.attrValue(c, "chanUri"),
					Author:  d.attrValue(c, "author"),
					Keyword: d.attrValue(c, "keyword"),
					From:    d.attrValue(c, "from"),
					To:      d.attrValue(c, "to"),
				}
				if d.attr(c, "limit") != none {
					v, err := w.intAttr(c, "limit")
					if err != nil {
						return dt, err
					}
					q.Limit = v
				}
				dt.Search = q
			}
		default:
			dt.Unknown = append(dt.Unknown, local)
		}
	}
	return dt, nil
}

func (w *walker) uib(n int32) UIB {
	d := w.d
	u := UIB{ID: d.attrValue(n, "id"), URI: d.attrValue(n, "uri")}
	if d.nodes[n].first == none {
		return u
	}
	aibs := 0
	for c := d.nodes[n].first; c != none; c = d.nodes[c].next {
		if d.nodes[c].local() == "aib" {
			aibs++
		}
	}
	u.Affiliations = sized[AIB](aibs)
	for c := d.nodes[n].first; c != none; c = d.nodes[c].next {
		if d.nodes[c].local() == "aib" {
			u.Affiliations = append(u.Affiliations, w.aib(c))
		}
	}
	return u
}

func (w *walker) aib(n int32) AIB {
	d := w.d
	return AIB{Key: d.attrValue(n, "key"), Domain: d.attrValue(n, "domain"), Value: d.attrValue(n, "value")}
}

func (w *walker) chanib(n int32) (ChanIB, error) {
	d := w.d
	ch := ChanIB{
		URI:         d.attrValue(n, "uri"),
		Name:        d.attrValue(n, "name"),
		Description: d.attrValue(n, "description"),
		Topic:       d.attrValue(n, "topic"),
	}
	if d.nodes[n].first == none {
		return ch, nil
	}
	var info, props, aibs, users, msgs int
	for c := d.nodes[n].first; c != none; c = d.nodes[c].next {
		switch d.nodes[c].local() {
		case "info":
			info++
		case "prop":
			props++
		case "aib":
			aibs++
		case "uib":
			users++
		case "msg":
			msgs++
		}
	}
	ch.Info, ch.Props, ch.Affiliations = sized[KV](info), sized[KV](props), sized[AIB](aibs)
	ch.Users, ch.Messages = sized[UIB](users), sized[Chat](msgs)
	for c := d.nodes[n].first; c != none; c = d.nodes[c].next {
		switch d.nodes[c].local() {
		case "info":
			ch.Info = append(ch.Info, KV{ID: d.attrValue(c, "id"), Value: d.nodes[c].text})
		case "prop":
			ch.Props = append(ch.Props, KV{ID: d.attrValue(c, "id"), Value: d.nodes[c].text})
		case "aib":
			ch.Affiliations = append(ch.Affiliations, w.aib(c))
		case "uib":
			ch.Users = append(ch.Users, w.uib(c))
		case "msg":
			var m Chat
			if err := w.chat(c, &m); err != nil {
				return ch, err
			}
			ch.Messages = append(ch.Messages, m)
		}
	}
	return ch, nil
}
