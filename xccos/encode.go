package xccos

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// NewCommand builds an envelope holding one command <cmd id="cmd:NAME">.
func NewCommand(envid uint64, name string, d *Data) *Envelope {
	return &Envelope{EnvID: envid, Ver: Version, NS: Namespace, Items: []Item{{
		Kind: KindCommand, Name: name, SeqID: "1", Data: d,
	}}}
}

// NewReply builds an envelope holding one reply <rpl id="rpl:NAME"> to the
// command whose envelope was cmdEnvID. An empty text with code 200 becomes
// SuccessText.
func NewReply(envid uint64, name string, cmdEnvID uint64, code int, text string, d *Data) *Envelope {
	if code == 200 && text == "" {
		text = SuccessText
	}
	return &Envelope{EnvID: envid, Ver: Version, NS: Namespace, Items: []Item{{
		Kind: KindReply, Name: name, SeqID: "1", Data: d,
		Reply: &ReplyInfo{CommandSeqID: "1", CommandEnvID: cmdEnvID, Code: code, Text: text},
	}}}
}

// NewNotice builds an envelope holding one notice <ntc id="ntc:NAME">.
func NewNotice(envid uint64, name string, d *Data) *Envelope {
	return &Envelope{EnvID: envid, Ver: Version, NS: Namespace, Items: []Item{{
		Kind: KindNotice, Name: name, SeqID: "1", Data: d,
	}}}
}

// NewChat builds an envelope holding one post <grpchat id="grpchat">.
func NewChat(envid uint64, c Chat) *Envelope {
	return &Envelope{EnvID: envid, Ver: Version, NS: Namespace, Items: []Item{{
		Kind: KindChat, Name: "grpchat", SeqID: "1", Chat: &c,
	}}}
}

// ChanURI returns the URI of a room: "ma-chan://domain/id".
func ChanURI(domain, id string) string {
	return "ma-chan://" + domain + "/" + id
}

// SplitChanURI splits "ma-chan://domain/id" into its domain and id. ok is
// false when uri is not of that form or either part is empty.
func SplitChanURI(uri string) (domain, id string, ok bool) {
	rest, found := strings.CutPrefix(uri, "ma-chan://")
	if !found {
		return "", "", false
	}
	domain, id, found = strings.Cut(rest, "/")
	if !found || domain == "" || id == "" {
		return "", "", false
	}
	return domain, id, true
}

// TextLen returns the length of a post's text in characters (runes), the
// unit of MessageSizeLimit, StorySizeLimit and StoryThreshold.
func TextLen(s string) int {
	return utf8.RuneCountInString(s)
}

// Marshal renders the envelope in canonical form (see Append).
func (e *Envelope) Marshal() []byte {
	return e.Append(make([]byte, 0, e.sizeHint()))
}

// Append appends the canonical rendering of the envelope to dst:
//
//	<xccos ver="1" envid="N" xmlns="urn:parlano:xml:ns:xccos">…</xccos>
//
// An empty Ver renders Version and an empty NS renders Namespace; an empty
// SeqID or CommandSeqID renders "1". Items of an unknown Kind are skipped,
// as are Data.Unknown names. Chat text keeps CR and LF as raw bytes;
// attribute values escape them as character references.
func (e *Envelope) Append(dst []byte) []byte {
	dst = append(dst, `<xccos ver="`...)
	if e.Ver == "" {
		dst = append(dst, Version...)
	} else {
		dst = appendAttrValue(dst, e.Ver)
	}
	dst = append(dst, `" envid="`...)
	dst = strconv.AppendUint(dst, e.EnvID, 10)
	dst = append(dst, `" xmlns="`...)
	if e.NS == "" {
		dst = append(dst, Namespace...)
	} else {
		dst = appendAttrValue(dst, e.NS)
	}
	dst = append(dst, `">`...)
	for i := range e.Items {
		dst = appendItem(dst, &e.Items[i])
	}
	return append(dst, "</xccos>"...)
}

// AppendChat appends a complete envelope holding one grpchat (seqid "1")
// to dst. It is the hot path of message fan-out: it does not allocate when
// dst has room.
func AppendChat(dst []byte, envid uint64, c *Chat) []byte {
	dst = append(dst, `<xccos ver="1" envid="`...)
	dst = strconv.AppendUint(dst, envid, 10)
	dst = append(dst, `" xmlns="urn:parlano:xml:ns:xccos">`...)
	dst = appendChatElem(dst, "grpchat", "1", c)
	return append(dst, "</xccos>"...)
}

func appendSeq(dst []byte, seq string) []byte {
	if seq == "" {
		return append(dst, '1')
	}
	return appendAttrValue(dst, seq)
}

func appendItem(dst []byte, it *Item) []byte {
	var elem string
	switch it.Kind {
	case KindCommand:
		elem = "cmd"
	case KindReply:
		elem = "rpl"
	case KindNotice:
		elem = "ntc"
	case KindChat:
		return appendChatElem(dst, "grpchat", it.SeqID, it.Chat)
	default:
		return dst
	}
	dst = append(dst, '<')
	dst = append(dst, elem...)
	dst = append(dst, ` id="`...)
	dst = append(dst, elem...)
	dst = append(dst, ':')
	dst = appendAttrValue(dst, it.Name)
	dst = append(dst, `" seqid="`...)
	dst = appendSeq(dst, it.SeqID)
	dst = append(dst, `">`...)
	if it.Kind == KindReply {
		var r ReplyInfo
		if it.Reply != nil {
			r = *it.Reply
		}
		dst = append(dst, `<commandid seqid="`...)
		dst = appendSeq(dst, r.CommandSeqID)
		dst = append(dst, `" envid="`...)
		dst = strconv.AppendUint(dst, r.CommandEnvID, 10)
		dst = append(dst, `"/><resp code="`...)
		dst = strconv.AppendInt(dst, int64(r.Code), 10)
		dst = append(dst, `">`...)
		dst = appendText(dst, r.Text)
		dst = append(dst, `</resp>`...)
	}
	dst = appendData(dst, it.Data)
	dst = append(dst, "</"...)
	dst = append(dst, elem...)
	return append(dst, '>')
}

// appendChatElem renders a grpchat (or a history msg) element.
func appendChatElem(dst []byte, elem, seq string, c *Chat) []byte {
	dst = append(dst, '<')
	dst = append(dst, elem...)
	dst = append(dst, ` id="grpchat" seqid="`...)
	dst = appendSeq(dst, seq)
	dst = append(dst, '"')
	var text string
	var file *FTDB
	if c != nil {
		file = c.File
		dst = appendAttr(dst, "chanUri", c.ChanURI)
		dst = appendAttr(dst, "author", c.Author)
		if c.TSRaw != "" {
			dst = appendAttr(dst, "ts", c.TSRaw)
		} else if !c.TS.IsZero() {
			dst = append(dst, ` ts="`...)
			dst = AppendTime(dst, c.TS)
			dst = append(dst, '"')
		}
		if c.Story {
			dst = append(dst, ` story="true"`...)
		}
		text = c.Text
	}
	dst = append(dst, "><chat>"...)
	dst = appendText(dst, text)
	dst = append(dst, "</chat>"...)
	if file != nil {
		dst = append(dst, "<ftdb"...)
		dst = appendAttr(dst, "channelUri", file.ChannelURI)
		dst = appendAttr(dst, "fileUrl", file.FileURL)
		dst = append(dst, "/>"...)
	}
	dst = append(dst, "</"...)
	dst = append(dst, elem...)
	return append(dst, '>')
}

// appendAttr renders ` name="value"`, or nothing when value is empty.
func appendAttr(dst []byte, name, value string) []byte {
	if value == "" {
		return dst
	}
	return appendAttrAlways(dst, name, value)
}

// appendAttrAlways renders ` name="value"` even when value is empty.
func appendAttrAlways(dst []byte, name, value string) []byte {
	dst = append(dst, ' ')
	dst = append(dst, name...)
	dst = append(dst, `="`...)
	dst = appendAttrValue(dst, value)
	return append(dst, '"')
}

// appendText escapes & < > in character data.
func appendText(dst []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		default:
			continue
		}
		dst = append(dst, s[last:i]...)
		dst = append(dst, esc...)
		last = i + 1
	}
	return append(dst, s[last:]...)
}

// appendAttrValue escapes & < > " and tab, CR, LF (as character
// references, which survive attribute-value normalisation).
func appendAttrValue(dst []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '"':
			esc = "&quot;"
		case '\t':
			esc = "&#9;"
		case '\r':
			esc = "&#13;"
		case '\n':
			esc = "&#10;"
		default:
			continue
		}
		dst = append(dst, s[last:i]...)
		dst = append(dst, esc...)
		last = i + 1
	}
	return append(dst, s[last:]...)
}

func (d *Data) empty() bool {
	return len(d.Users) == 0 && len(d.Channels) == 0 && len(d.ChanIDs) == 0 &&
		d.Query == nil && d.History == nil && d.Server == nil && len(d.Invites) == 0 &&
		d.File == nil && d.Token == nil && d.Search == nil
}

func appendData(dst []byte, d *Data) []byte {
	if d == nil {
		return dst
	}
	if d.empty() {
		return append(dst, "<data/>"...)
	}
	dst = append(dst, "<data>"...)
	for i := range d.Users {
		dst = appendUIB(dst, &d.Users[i])
	}
	for i := range d.Channels {
		dst = appendChanIB(dst, &d.Channels[i])
	}
	for _, c := range d.ChanIDs {
		dst = append(dst, "<chanid"...)
		dst = appendAttrAlways(dst, "key", c.Key)
		dst = appendAttrAlways(dst, "domain", c.Domain)
		dst = appendAttrAlways(dst, "value", c.Value)
		dst = append(dst, "/>"...)
	}
	if q := d.Query; q != nil {
		dst = append(dst, "<qib"...)
		dst = appendAttrAlways(dst, "qtype", q.QType)
		dst = appendAttrAlways(dst, "criteria", q.Criteria)
		dst = appendAttrAlways(dst, "extended", q.Extended)
		dst = append(dst, "/>"...)
	}
	if h := d.History; h != nil {
		dst = append(dst, `<bcq><last cnt="`...)
		dst = strconv.AppendInt(dst, int64(h.Last), 10)
		dst = append(dst, `"/></bcq>`...)
	}
	if s := d.Server; s != nil {
		dst = append(dst, "<sib"...)
		dst = appendAttr(dst, "domain", s.Domain)
		dst = appendAttr(dst, "infoType", s.InfoType)
		dst = appendAttr(dst, "serverTime", s.ServerTime)
		dst = appendAttr(dst, "searchLimit", s.SearchLimit)
		dst = appendAttr(dst, "messageSizeLimit", s.MessageSizeLimit)
		dst = appendAttr(dst, "storySizeLimit", s.StorySizeLimit)
		dst = appendAttr(dst, "rootUri", s.RootURI)
		dst = appendAttr(dst, "dbVersion", s.DBVersion)
		dst = append(dst, "/>"...)
	}
	for _, v := range d.Invites {
		dst = append(dst, "<inv"...)
		dst = appendAttr(dst, "inviteId", v.InviteID)
		dst = appendAttr(dst, "domain", v.Domain)
		dst = appendAttr(dst, "chanUri", v.ChanURI)
		dst = appendAttr(dst, "author", v.Author)
		dst = append(dst, "/>"...)
	}
	if f := d.File; f != nil {
		dst = append(dst, "<ftdb"...)
		dst = appendAttr(dst, "channelUri", f.ChannelURI)
		dst = appendAttr(dst, "fileUrl", f.FileURL)
		dst = append(dst, "/>"...)
	}
	if t := d.Token; t != nil {
		dst = append(dst, "<token"...)
		dst = appendAttr(dst, "token", t.Token)
		dst = appendAttr(dst, "serveruri", t.ServerURI)
		dst = append(dst, "/>"...)
	}
	if q := d.Search; q != nil {
		dst = append(dst, "<msq"...)
		dst = appendAttr(dst, "chanUri", q.ChanURI)
		dst = appendAttr(dst, "author", q.Author)
		dst = appendAttr(dst, "keyword", q.Keyword)
		dst = appendAttr(dst, "from", q.From)
		dst = appendAttr(dst, "to", q.To)
		if q.Limit != 0 {
			dst = append(dst, ` limit="`...)
			dst = strconv.AppendInt(dst, int64(q.Limit), 10)
			dst = append(dst, '"')
		}
		dst = append(dst, "/>"...)
	}
	return append(dst, "</data>"...)
}

func appendAIB(dst []byte, a *AIB) []byte {
	dst = append(dst, "<aib"...)
	dst = appendAttrAlways(dst, "key", a.Key)
	dst = appendAttr(dst, "domain", a.Domain)
	dst = appendAttrAlways(dst, "value", a.Value)
	return append(dst, "/>"...)
}

func appendUIB(dst []byte, u *UIB) []byte {
	dst = append(dst, "<uib"...)
	dst = appendAttr(dst, "id", u.ID)
	dst = appendAttr(dst, "uri", u.URI)
	if len(u.Affiliations) == 0 {
		return append(dst, "/>"...)
	}
	dst = append(dst, '>')
	for i := range u.Affiliations {
		dst = appendAIB(dst, &u.Affiliations[i])
	}
	return append(dst, "</uib>"...)
}

func appendKV(dst []byte, elem string, kv *KV) []byte {
	dst = append(dst, '<')
	dst = append(dst, elem...)
	dst = appendAttrAlways(dst, "id", kv.ID)
	dst = append(dst, '>')
	dst = appendText(dst, kv.Value)
	dst = append(dst, "</"...)
	dst = append(dst, elem...)
	return append(dst, '>')
}

func appendChanIB(dst []byte, c *ChanIB) []byte {
	dst = append(dst, "<chanib"...)
	dst = appendAttr(dst, "uri", c.URI)
	dst = appendAttr(dst, "name", c.Name)
	dst = appendAttr(dst, "description", c.Description)
	dst = appendAttr(dst, "topic", c.Topic)
	if len(c.Info)+len(c.Props)+len(c.Affiliations)+len(c.Users)+len(c.Messages) == 0 {
		return append(dst, "/>"...)
	}
	dst = append(dst, '>')
	for i := range c.Info {
		dst = appendKV(dst, "info", &c.Info[i])
	}
	for i := range c.Props {
		dst = appendKV(dst, "prop", &c.Props[i])
	}
	for i := range c.Affiliations {
		dst = appendAIB(dst, &c.Affiliations[i])
	}
	for i := range c.Users {
		dst = appendUIB(dst, &c.Users[i])
	}
	for i := range c.Messages {
		dst = appendChatElem(dst, "msg", "1", &c.Messages[i])
	}
	return append(dst, "</chanib>"...)
}

// sizeHint estimates the length of the rendering, so Marshal usually
// allocates once.
func (e *Envelope) sizeHint() int {
	n := 96 + len(e.Ver) + len(e.NS)
	for i := range e.Items {
		it := &e.Items[i]
		n += 64 + len(it.Name) + len(it.SeqID)
		if r := it.Reply; r != nil {
			n += 80 + len(r.CommandSeqID) + len(r.Text)
		}
		if c := it.Chat; c != nil {
			n += chatHint(c)
		}
		if d := it.Data; d != nil {
			n += dataHint(d)
		}
	}
	return n
}

func chatHint(c *Chat) int {
	return 126 + len(c.ChanURI) + len(c.Author) + len(c.TSRaw) + len(c.Text)
}

func dataHint(d *Data) int {
	n := 16
	for i := range d.Users {
		n += uibHint(&d.Users[i])
	}
	for i := range d.Channels {
		c := &d.Channels[i]
		n += 64 + len(c.URI) + len(c.Name) + len(c.Description) + len(c.Topic)
		for _, kv := range c.Info {
			n += 24 + len(kv.ID) + len(kv.Value)
		}
		for _, kv := range c.Props {
			n += 24 + len(kv.ID) + len(kv.Value)
		}
		for _, a := range c.Affiliations {
			n += 40 + len(a.Key) + len(a.Domain) + len(a.Value)
		}
		for j := range c.Users {
			n += uibHint(&c.Users[j])
		}
		for j := range c.Messages {
			n += chatHint(&c.Messages[j])
		}
	}
	for _, c := range d.ChanIDs {
		n += 40 + len(c.Key) + len(c.Domain) + len(c.Value)
	}
	if d.Query != nil {
		n += 64 + len(d.Query.Criteria)
	}
	if d.Server != nil {
		n += 256
	}
	n += 64 * len(d.Invites)
	if d.File != nil {
		n += 64 + len(d.File.ChannelURI) + len(d.File.FileURL)
	}
	if d.Token != nil {
		n += 40 + len(d.Token.Token) + len(d.Token.ServerURI)
	}
	if d.Search != nil {
		n += 96 + len(d.Search.ChanURI) + len(d.Search.Author) + len(d.Search.Keyword)
	}
	return n
}

func uibHint(u *UIB) int {
	n := 24 + len(u.ID) + len(u.URI)
	for _, a := range u.Affiliations {
		n += 40 + len(a.Key) + len(a.Domain) + len(a.Value)
	}
	return n
}
