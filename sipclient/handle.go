package sipclient

import (
	"fmt"
	"time"

	"github.com/gcload/gcload/ruleid"
	"github.com/gcload/gcload/sipnet"
	"github.com/gcload/gcload/xccos"
)

// handle gets a request the server sent in one of the client's dialogs.
func (c *Client) handle(tx *sipnet.ServerTx) {
	m := tx.Msg
	c.verifyRequest(m)
	switch m.Method {
	case "ACK":
		return
	case "INFO":
		_ = tx.Respond(200, "OK")
		c.info(m)
	case "BYE":
		_ = tx.Respond(200, "OK")
		key := sipnet.DialogIDOf(m)
		c.router.remove(key)
		c.mu.Lock()
		ended := c.chanDlg != nil && c.chanDlg.ID() == key
		if ended {
			c.lost = true
		}
		c.mu.Unlock()
		if ended {
			c.emit(Event{Kind: Ended, At: c.cfg.Now(), Text: "the server sent BYE"})
		}
	case "UPDATE", "OPTIONS":
		_ = tx.Respond(200, "OK")
	default:
		_ = tx.Respond(405, "Method Not Allowed", sipnet.Header{Name: "Allow", Value: "ACK, BYE, INFO, UPDATE, OPTIONS"})
	}
}

// info handles an XCCOS INFO from the server: replies, notices and
// deliveries, each checked against the protocol.
func (c *Client) info(m *sipnet.Message) {
	at := c.cfg.Now()
	if !sipnet.IsTextPlain(m.ContentType) {
		c.violate(ruleid.InfoContentType, fmt.Sprintf("XCCOS INFO with Content-Type %q, want text/plain", m.ContentType), m.Raw)
	}
	if envid, ch, ok := c.router.chats.parse(m.Body); ok {
		// the canonical delivery: nothing for the checks below to find
		c.router.checks.fast.Add(1)
		c.emit(Event{Kind: Delivery, At: at, Chat: &ch, EnvID: envid})
		return
	}
	c.router.checks.envelopes.Add(1)
	env, err := xccos.Parse(m.Body)
	if err != nil {
		c.violate(ruleid.WellFormed, err.Error(), m.Raw)
		return
	}
	if env.NS != xccos.Namespace {
		c.violate(ruleid.Namespace, fmt.Sprintf("envelope namespace %q, want %q", env.NS, xccos.Namespace), m.Raw)
	}
	if env.Ver != xccos.Version {
		c.violate(ruleid.Version, fmt.Sprintf("envelope ver %q, want %q", env.Ver, xccos.Version), m.Raw)
	}
	for i := range env.Items {
		it := &env.Items[i]
		switch it.Kind {
		case xccos.KindReply:
			c.reply(it, m)
		case xccos.KindNotice:
			c.notice(it, at)
		case xccos.KindChat:
			c.router.checks.chats.Add(1)
			ch := it.Chat
			if ch.ChanURI == "" || ch.Author == "" || ch.TSRaw == "" {
				c.violate(ruleid.ChatFields, fmt.Sprintf("grpchat delivery lacks chanUri, author or ts (chanUri=%q author=%q ts=%q)", ch.ChanURI, ch.Author, ch.TSRaw), m.Raw)
			}
			c.emit(Event{Kind: Delivery, At: at, Chat: ch, EnvID: env.EnvID})
		case xccos.KindCommand:
			c.violate(ruleid.NoServerCommands, "the server sent cmd:"+it.Name, m.Raw)
		}
	}
}

func (c *Client) reply(it *xccos.Item, m *sipnet.Message) {
	c.router.checks.replies.Add(1)
	id := it.Reply.CommandEnvID
	c.mu.Lock()
	if it.Name == "requri" && c.lookupRpl != nil && sipnet.DialogIDOf(m) == c.lookupDlg.ID() {
		ch := c.lookupRpl
		c.lookupRpl = nil
		c.mu.Unlock()
		ch <- it
		return
	}
	wait, ok := c.pending[id]
	if ok {
		delete(c.pending, id)
	}
	_, late := c.late[id]
	if late {
		delete(c.late, id) // a second one is a duplicate, below
	}
	_, again := c.answered[id]
	if !again {
		c.answered[id] = struct{}{}
		c.answeredQ = append(c.answeredQ, id)
		if len(c.answeredQ) > 4096 {
			delete(c.answered, c.answeredQ[0])
			c.answeredQ = c.answeredQ[1:]
		}
	}
	c.mu.Unlock()
	switch {
	case ok:
		wait <- it
	case late:
		c.emit(Event{Kind: LateReply, At: c.cfg.Now(), EnvID: id, Text: it.Name})
	case again:
		c.violate(ruleid.ReplyOnce, fmt.Sprintf("a second rpl:%s for envid %d", it.Name, id), m.Raw)
	case it.Name == "grpchat":
		c.emit(Event{Kind: Rejected, At: c.cfg.Now(), EnvID: id, Code: it.Reply.Code, Text: it.Reply.Text})
	default:
		c.violate(ruleid.CommandID, fmt.Sprintf("rpl:%s names envid %d, which no pending command has", it.Name, id), m.Raw)
	}
}

func (c *Client) notice(it *xccos.Item, now time.Time) {
	d := it.Data
	if d == nil {
		c.emit(Event{Kind: Unsolicited, At: now, Item: it})
		return
	}
	switch it.Name {
	case "join", "bjoin":
		for _, u := range d.Users {
			for _, a := range u.Affiliations {
				c.emit(Event{Kind: Joined, At: now, User: u.URI, Room: xccos.ChanURI(a.Domain, a.Value)})
			}
		}
	case "part":
		for _, ch := range d.Channels {
			for _, u := range ch.Users {
				c.emit(Event{Kind: Parted, At: now, User: u.URI, Room: ch.URI})
			}
		}
		// the protocol page's shape: uib with aib naming the room
		for _, u := range d.Users {
			for _, a := range u.Affiliations {
				c.emit(Event{Kind: Parted, At: now, User: u.URI, Room: xccos.ChanURI(a.Domain, a.Value)})
			}
		}
	default:
		c.emit(Event{Kind: Unsolicited, At: now, Item: it})
	}
}
