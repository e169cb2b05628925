package sipclient

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/gcload/gcload/xccos"
)

// JoinResult is a join reply: the rooms joined and the users it lists.
type JoinResult struct {
	Rooms []xccos.ChanIB
	Users []xccos.UIB
}

// Join joins rooms (ma-chan:// URIs): one room sends cmd:join, several
// cmd:bjoin, as SIPE does.
func (c *Client) Join(ctx context.Context, rooms ...string) (*JoinResult, error) {
	if len(rooms) == 0 {
		return nil, fmt.Errorf("sipclient: join: no room")
	}
	d := &xccos.Data{}
	for i, r := range rooms {
		dom, id, ok := xccos.SplitChanURI(r)
		if !ok {
			return nil, fmt.Errorf("sipclient: join: %q is not a ma-chan:// room URI", r)
		}
		d.ChanIDs = append(d.ChanIDs, xccos.ChanID{Key: strconv.Itoa(i), Domain: dom, Value: id})
	}
	name := "join"
	if len(rooms) > 1 {
		name = "bjoin"
	}
	rpl, err := c.Command(ctx, name, d)
	if err != nil {
		return nil, err
	}
	res := &JoinResult{}
	if rpl.Data != nil {
		res.Rooms, res.Users = rpl.Data.Channels, rpl.Data.Users
	}
	return res, nil
}

// RoomUpdate is what cmd:chanupd [extension] changes in a room: fields
// left empty stay as they are.
type RoomUpdate struct {
	Topic         string
	Privacy       string // open, closed or secret
	AddMembers    []string
	RemoveMembers []string
}

// UpdateRoom sends cmd:chanupd: a manager of the room changes its topic,
// privacy and members; the reply's chanib is the room as it now is.
func (c *Client) UpdateRoom(ctx context.Context, room string, u RoomUpdate) (xccos.ChanIB, error) {
	ch := xccos.ChanIB{URI: room, Topic: u.Topic}
	if u.Privacy != "" {
		ch.Props = append(ch.Props, xccos.KV{ID: xccos.PropPrivacy, Value: u.Privacy})
	}
	if len(u.AddMembers) > 0 {
		ch.Props = append(ch.Props, xccos.KV{ID: xccos.PropAddMembers, Value: strings.Join(u.AddMembers, ",")})
	}
	if len(u.RemoveMembers) > 0 {
		ch.Props = append(ch.Props, xccos.KV{ID: xccos.PropRemoveMembers, Value: strings.Join(u.RemoveMembers, ",")})
	}
	rpl, err := c.Command(ctx, "chanupd", &xccos.Data{Channels: []xccos.ChanIB{ch}})
	if err != nil {
		return xccos.ChanIB{}, err
	}
	if rpl.Data == nil || len(rpl.Data.Channels) == 0 {
		return xccos.ChanIB{}, fmt.Errorf("sipclient: rpl:chanupd without the room's chanib")
	}
	return rpl.Data.Channels[0], nil
}

// NewRoom is a room cmd:chancreate [extension] creates: its URI
// (ma-chan://DOMAIN/ID), name and category are required.
type NewRoom struct {
	URI, Name, Description, Topic string
	Category                      string // the category's id
	Privacy                       string // open, closed (default) or secret
	Members                       []string
}

// CreateRoom sends cmd:chancreate: a user the category allows to create
// rooms creates one in it, and becomes its manager; the reply's chanib is
// the new room.
func (c *Client) CreateRoom(ctx context.Context, r NewRoom) (xccos.ChanIB, error) {
	ch := xccos.ChanIB{URI: r.URI, Name: r.Name, Description: r.Description, Topic: r.Topic,
		Props: []xccos.KV{{ID: xccos.PropCategory, Value: r.Category}}}
	if r.Privacy != "" {
		ch.Props = append(ch.Props, xccos.KV{ID: xccos.PropPrivacy, Value: r.Privacy})
	}
	if len(r.Members) > 0 {
		ch.Props = append(ch.Props, xccos.KV{ID: xccos.PropAddMembers, Value: strings.Join(r.Members, ",")})
	}
	rpl, err := c.Command(ctx, "chancreate", &xccos.Data{Channels: []xccos.ChanIB{ch}})
	if err != nil {
		return xccos.ChanIB{}, err
	}
	if rpl.Data == nil || len(rpl.Data.Channels) == 0 {
		return xccos.ChanIB{}, fmt.Errorf("sipclient: rpl:chancreate without the room's chanib")
	}
	return rpl.Data.Channels[0], nil
}

// Part leaves a room.
func (c *Client) Part(ctx context.Context, room string) error {
	_, err := c.Command(ctx, "part", &xccos.Data{Channels: []xccos.ChanIB{{URI: room}}})
	return err
}

// History returns the last n stored messages of a room, oldest first.
func (c *Client) History(ctx context.Context, room string, n int) ([]xccos.Chat, error) {
	rpl, err := c.Command(ctx, "bccontext", &xccos.Data{Channels: []xccos.ChanIB{{URI: room}}, History: &xccos.BCQ{Last: n}})
	if err != nil {
		return nil, err
	}
	var out []xccos.Chat
	if rpl.Data != nil {
		for _, ch := range rpl.Data.Channels {
			out = append(out, ch.Messages...)
		}
	}
	return out, nil
}

// SearchRooms lists the rooms the user may find whose name, description or
// topic contains criteria ("" lists them all).
func (c *Client) SearchRooms(ctx context.Context, criteria string) ([]xccos.ChanIB, error) {
	rpl, err := c.Command(ctx, "chansrch", &xccos.Data{Query: &xccos.QIB{QType: "BYNAME", Criteria: criteria, Extended: "false"}})
	if err != nil {
		return nil, err
	}
	if rpl.Data == nil {
		return nil, nil
	}
	return rpl.Data.Channels, nil
}

// SearchMessages searches stored posts (the msgsrch extension), newest first.
func (c *Client) SearchMessages(ctx context.Context, q xccos.MsgQuery) ([]xccos.Chat, error) {
	rpl, err := c.Command(ctx, "msgsrch", &xccos.Data{Search: &q})
	if err != nil {
		return nil, err
	}
	var out []xccos.Chat
	if rpl.Data != nil {
		for _, ch := range rpl.Data.Channels {
			out = append(out, ch.Messages...)
		}
	}
	return out, nil
}

// ServerInfo asks for the server's limits and time.
func (c *Client) ServerInfo(ctx context.Context) (*xccos.SIB, error) {
	rpl, err := c.Command(ctx, "getserverinfo", &xccos.Data{Server: &xccos.SIB{Domain: c.domain, InfoType: "123"}})
	if err != nil {
		return nil, err
	}
	if rpl.Data == nil || rpl.Data.Server == nil {
		return nil, fmt.Errorf("%w: rpl:getserverinfo without sib", ErrUnexpected)
	}
	return rpl.Data.Server, nil
}

// Invitations lists the user's outstanding invitations (cmd:getinv, as
// SIPE sends it after joining).
func (c *Client) Invitations(ctx context.Context) ([]xccos.Inv, error) {
	rpl, err := c.Command(ctx, "getinv", &xccos.Data{Invites: []xccos.Inv{{InviteID: "1", Domain: c.domain}}})
	if err != nil {
		return nil, err
	}
	if rpl.Data == nil {
		return nil, nil
	}
	return rpl.Data.Invites, nil
}
