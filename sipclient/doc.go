// Package sipclient is one simulated group chat user with a synchronous,
// context-first API: sign in (REGISTER and the provisioning SUBSCRIBE),
// look up a channel service (either flow), open the channel session, join
// and leave rooms, read history, search rooms and messages, and post. What
// the server sends on its own (deliveries, notices, error replies to posts)
// arrives as Events.
//
// Every server message the client receives is checked against the protocol
// rules; a breach is reported as a *Violation (an error) with its rule ID,
// both as an Event and in Violations.
//
// Many clients can share one Endpoint and one connection (the way a front
// end pool's connection carries many users' dialogs): give them the same
// Router and Conn in their Config.
package sipclient
