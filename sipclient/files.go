package sipclient

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/gcload/gcload/xccos"
)

// FileToken is a rpl:getftok: the token, the URL to send the file to or
// fetch it from (serveruri), and the file's URL (ftdb fileUrl).
type FileToken struct {
	Token     string
	ServerURI string
	FileURL   string
}

// UploadToken asks for a token to upload a file named name to a room
// (cmd:getfutok).
func (c *Client) UploadToken(ctx context.Context, room, name string) (*FileToken, error) {
	return c.fileToken(ctx, "getfutok", room, name)
}

// DownloadToken asks for a token to download the file at fileURL, posted
// in a room (cmd:getfdtok).
func (c *Client) DownloadToken(ctx context.Context, room, fileURL string) (*FileToken, error) {
	return c.fileToken(ctx, "getfdtok", room, fileURL)
}

func (c *Client) fileToken(ctx context.Context, cmd, room, file string) (*FileToken, error) {
	rpl, err := c.Command(ctx, cmd, &xccos.Data{File: &xccos.FTDB{ChannelURI: room, FileURL: file}})
	if err != nil {
		return nil, err
	}
	if rpl.Data == nil || rpl.Data.Token == nil || rpl.Data.Token.Token == "" || rpl.Data.Token.ServerURI == "" {
		return nil, fmt.Errorf("%w: rpl:getftok without token and serveruri", ErrUnexpected)
	}
	t := &FileToken{Token: rpl.Data.Token.Token, ServerURI: rpl.Data.Token.ServerURI, FileURL: rpl.Data.Token.ServerURI}
	if rpl.Data.File != nil && rpl.Data.File.FileURL != "" {
		t.FileURL = rpl.Data.File.FileURL
	}
	return t, nil
}

// HTTPError is a refusal of the web service: its status and text.
type HTTPError struct {
	Status int
	Text   string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("web service: %d %s: %s", e.Status, http.StatusText(e.Status), e.Text)
}

// UploadFile sends body (size bytes) with an upload token (PUT serveruri);
// it returns once the server stored the file and its post.
func UploadFile(ctx context.Context, hc *http.Client, t *FileToken, body io.Reader, size int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, t.ServerURI, body)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+t.Token)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return httpError(resp)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	return nil
}

// DownloadFile fetches a file with a download token (GET serveruri) into
// w, and returns its size and SHA-256 (hex).
func DownloadFile(ctx context.Context, hc *http.Client, t *FileToken, w io.Writer) (int64, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.ServerURI, nil)
	if err != nil {
		return 0, "", fmt.Errorf("download: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+t.Token)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("download: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, "", httpError(resp)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), resp.Body)
	if err != nil {
		return n, "", fmt.Errorf("download: after %d bytes: %w", n, err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

func httpError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	return &HTTPError{Status: resp.StatusCode, Text: strings.TrimSpace(string(b))}
}
