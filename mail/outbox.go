package mail

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"go.uber.org/zap"
)

// Outbox is the development sender: it writes each message to a folder as
// an .eml file (open it with any mail client) and logs the recipient, the
// subject, the file and the code the message carries. Nothing leaves the
// machine, so the quick start needs no mail server.
type Outbox struct {
	dir  string
	from *mail.Address
	log  *zap.Logger
	now  func() time.Time
}

// NewOutbox returns an outbox writing to dir, which it creates (0700: the
// messages hold codes and temporary passwords) if missing.
func NewOutbox(dir string, opts Options, log *zap.Logger) (*Outbox, error) {
	from, err := checkFrom(opts.From)
	if err != nil {
		return nil, err
	}
	if dir == "" {
		return nil, errors.New("mail: outbox: a folder is required")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mail: outbox: %w", err)
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Outbox{dir: dir, from: from, log: log, now: time.Now}, nil
}

// Dir returns the outbox folder.
func (o *Outbox) Dir() string { return o.dir }

var unsafeKind = regexp.MustCompile(`[^a-z0-9_]+`)

// Send writes m to <dir>/<UTC time>-<kind>-<random>.eml. The file appears
// whole or not at all: it is written under a temporary name and renamed.
func (o *Outbox) Send(ctx context.Context, m *Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	msg, err := build(o.from, m)
	if err != nil {
		return err
	}
	b := make([]byte, 4)
	rand.Read(b)
	kind := unsafeKind.ReplaceAllString(m.Kind, "_")
	if kind == "" {
		kind = "message"
	}
	name := fmt.Sprintf("%s-%s-%s.eml", o.now().UTC().Format("20060102T150405.000000000Z"), kind, hex.EncodeToString(b))
	path := filepath.Join(o.dir, name)
	f, err := os.CreateTemp(o.dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("mail: outbox: %w", err)
	}
	tmp := f.Name()
	if _, err = msg.WriteTo(f); err == nil {
		err = f.Chmod(0o600)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("mail: outbox: %w", err)
	}
	fields := []zap.Field{zap.String("to", m.To), zap.String("subject", oneLine(m.Subject)),
		zap.String("kind", m.Kind), zap.String("file", path)}
	if m.Code != "" {
		fields = append(fields, zap.String("code", m.Code))
	}
	o.log.Info("mail written to the outbox (development sender: nothing was sent)", fields...)
	return nil
}

var _ Mailer = (*Outbox)(nil)
