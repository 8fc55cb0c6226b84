package control

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"
)

// ErrDaemonDown is returned when nothing listens on the socket.
var ErrDaemonDown = errors.New("the daemon is not running")

// Client calls the daemon on its socket as one person.
type Client struct {
	Socket string
	User   string
	Pass   []byte
}

// CallError is a refusal from the daemon.
type CallError struct {
	Status int
	Kind   string
	Msg    string
}

func (e *CallError) Error() string { return e.Msg }

// Call sends in to op and decodes the answer into out.
func (c *Client) Call(op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", c.Socket)
		},
	}}
	req, err := http.NewRequest(http.MethodPost, "http://dataprep/v1/"+op, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set(hdrUser, c.User)
	req.Header.Set(hdrPass, base64.StdEncoding.EncodeToString(c.Pass))
	resp, err := hc.Do(req)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("%w (no socket at %s): start it with 'dataprep daemon'", ErrDaemonDown, c.Socket)
		}
		return fmt.Errorf("calling the daemon: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e Error
		if json.NewDecoder(resp.Body).Decode(&e) != nil || e.Error == "" {
			e.Error = resp.Status
		}
		return &CallError{Status: resp.StatusCode, Kind: e.Kind, Msg: e.Error}
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
