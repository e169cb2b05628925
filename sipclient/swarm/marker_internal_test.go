package swarm

import (
	"strings"
	"testing"
)

// TestMarkerMemoParsesLikeParseMarker: the same text (one string, as the
// clients' shared parse hands it to every member), copies of it, other
// posts' texts and texts that are not markers give what parseMarker
// gives, whatever was remembered before.
func TestMarkerMemoParsesLikeParseMarker(t *testing.T) {
	var mm markerMemo
	texts := []string{}
	for i := 0; i < 40; i++ {
		texts = append(texts, string(appendPostText(nil, "run1", marker{room: int32(i % 3), index: int32(i), shard: 1, floor: -1, intended: int64(1000 + i)}, 120)))
	}
	texts = append(texts, "", "hello", "gcl:other:1:2:1:0:5|x", strings.Clone(texts[0]), texts[0][:len(texts[0])-1])
	for round := 0; round < 3; round++ {
		for i, s := range texts {
			got, ok := mm.parse(s, "run1")
			want, wantOK := parseMarker(s, "run1")
			if got != want || ok != wantOK {
				t.Fatalf("round %d, text %d %q: memo (%+v %v), parseMarker (%+v %v)", round, i, s, got, ok, want, wantOK)
			}
		}
	}
	if m, ok := mm.parse(texts[5], "run1"); !ok || m.index != 5 || m.intended != 1005 {
		t.Fatalf("text 5: %+v %v", m, ok)
	}
}
