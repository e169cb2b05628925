// Command wirelatency prints, as JSON, when each post of a gcload run was
// intended, actually sent and acknowledged (Unix nanoseconds), from the
// run's results folder (accounting.gob.gz): bench/wire-latency.sh pairs
// them with the same posts on the wire.
//
//	go run ./bench/wirelatency RESULTS_DIR
package main

import (
	"compress/gzip"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gcload/gcload/sipclient/swarm"
)

type post struct {
	Intended int64 `json:"intended"`
	Sent     int64 `json:"sent"`
	Acked    int64 `json:"acked"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run ./bench/wirelatency RESULTS_DIR")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "wirelatency:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	f, err := os.Open(filepath.Join(dir, "accounting.gob.gz"))
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	var d swarm.Data
	if err := gob.NewDecoder(zr).Decode(&d); err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	var out []post
	for _, p := range d.Posts {
		if p.Sent != 0 && p.Acked != 0 {
			out = append(out, post{p.Intended, p.Sent, p.Acked})
		}
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}
