package sipclient

import (
	"time"

	"github.com/gcload/gcload/xccos"
)

// EventKind tells what an Event is.
type EventKind int

// Kinds of event.
const (
	// Delivery is a grpchat the server delivered (a post of someone, or
	// the echo of one's own).
	Delivery EventKind = iota + 1
	// Joined is an ntc:join / ntc:bjoin: User entered Room.
	Joined
	// Parted is an ntc:part: User left Room.
	Parted
	// Rejected is an error reply to a post (rpl:grpchat): EnvID names the
	// post, Code and Text say why.
	Rejected
	// Unsolicited is any other reply or notice nobody waited for.
	Unsolicited
	// Breach carries a Violation.
	Breach
	// Ended means the server ended the channel session (BYE).
	Ended
	// LateReply is a reply to a command the client had stopped waiting
	// for (its timeout passed): EnvID names the command, Text the reply.
	// A late reply is a timeout, not a protocol violation.
	LateReply
)

func (k EventKind) String() string {
	switch k {
	case Delivery:
		return "delivery"
	case Joined:
		return "joined"
	case Parted:
		return "parted"
	case Rejected:
		return "rejected"
	case Unsolicited:
		return "unsolicited"
	case Breach:
		return "violation"
	case Ended:
		return "ended"
	case LateReply:
		return "late reply"
	}
	return "unknown"
}

// Event is something the server sent that no call was waiting for.
type Event struct {
	Kind EventKind
	// At is when the message was received.
	At time.Time
	// Chat is the delivered post (Delivery).
	Chat *xccos.Chat
	// EnvID is the envelope's envid (Delivery), or the envid of the post a
	// Rejected reply names.
	EnvID uint64
	// Room and User name a notice's room URI and user (Joined, Parted).
	Room, User string
	// Code and Text are a Rejected reply's resp.
	Code int
	Text string
	// Item is the raw element (Unsolicited).
	Item *xccos.Item
	// Violation is set for Breach.
	Violation *Violation
}
