package channel

import (
	"context"
	"errors"

	"github.com/gcload/gcload/refserver/store"
)

// The compliance archive (docs/compliance.md): a post's CHAT record is
// written by the store in the post's transaction; joins, parts and history
// views are recorded through Store.Record, in the same group commit, and
// their replies wait for the records to be durable. Parts the user did not
// ask for (the session ended, access lost) are recorded without anyone
// waiting: recordAsync.

// event is an archive record of now.
func (h *Hub) event(kind store.EventKind, r *room, user, detail string) store.Event {
	return store.Event{Kind: kind, RoomID: r.id, User: user, TS: h.cfg.Now().UTC(), Detail: detail}
}

// recordThen records events, then calls then with nil once they are
// durable (on the store's goroutine), or with the error that stopped them:
// at once when the store cannot queue them now. It reports a busy store as
// such (errBusyText), for a 503.
func (h *Hub) recordThen(events []store.Event, then func(err error)) {
	if err := h.st.Record(events, then); err != nil {
		h.stats.busy.Add(1)
		then(err)
	}
}

// busyText is the text of a 503 reply to a command whose archive record
// could not be queued.
func busyText(err error) string {
	if errors.Is(err, store.ErrClosed) {
		return "busy: the server is shutting down"
	}
	return "busy: the compliance archive is behind (" + err.Error() + "); send it again later"
}

// recordAsync records events nobody waits for (parts the user did not ask
// for); a failure is logged and counted.
func (h *Hub) recordAsync(events []store.Event) {
	if len(events) == 0 {
		return
	}
	fail := func(err error) {
		h.stats.archiveFailed.Add(uint64(len(events)))
		h.log.Warn("channel: archive", "events", len(events), "kind", events[0].Kind, "err", err)
	}
	if err := h.st.Record(events, func(err error) {
		if err != nil {
			fail(err)
		}
	}); err != nil {
		fail(err)
	}
}

// ReadArchive reads the store's compliance archive (the admin API).
func (h *Hub) ReadArchive(ctx context.Context, q store.ArchiveQuery) ([]store.Event, store.Cursor, error) {
	return h.st.ReadArchive(ctx, q)
}

// ArchiveHead returns the store's newest settled archive cursor.
func (h *Hub) ArchiveHead(ctx context.Context) (store.Cursor, error) {
	return h.st.ArchiveHead(ctx)
}
