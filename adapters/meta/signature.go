// Package meta reads the webhooks of Meta's messaging platforms: WhatsApp Cloud API,
// Messenger and Instagram. They share the verification handshake (GET hub.*) and the
// X-Hub-Signature-256 scheme; each has its own payload. The package also holds the
// Graph API profile lookup that completes Messenger and Instagram senders.
package meta

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"

	"switchboard/adapters/inbound"
)

// SignatureHeader carries "sha256=" + hex HMAC-SHA256(app secret, raw body).
const SignatureHeader = "X-Hub-Signature-256"

// Sign returns the X-Hub-Signature-256 value of body: "sha256=" and the lowercase hex
// HMAC-SHA256 keyed by the app secret. Meta signs the bytes it sends (non-ASCII escaped
// as \uXXXX), so body must be the raw request body, never re-encoded JSON.
func Sign(appSecret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Errors of Verify, so callers can log why a request was refused.
var (
	ErrNoSecret        = errors.New("the channel has no app secret configured (app_secret_env)")
	ErrNoSignature     = errors.New("X-Hub-Signature-256 header is missing")
	ErrBadSignature    = errors.New("X-Hub-Signature-256 does not match the body")
	ErrSignatureFormat = errors.New(`X-Hub-Signature-256 is not "sha256=" followed by 64 hex digits`)
)

// Verify checks header (the X-Hub-Signature-256 value) against body in constant time.
func Verify(appSecret string, body []byte, header string) error {
	if appSecret == "" {
		return ErrNoSecret
	}
	header = strings.TrimSpace(header)
	if header == "" {
		return ErrNoSignature
	}
	algo, hexSig, ok := strings.Cut(header, "=")
	if !ok || !strings.EqualFold(algo, "sha256") {
		return ErrSignatureFormat
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return ErrSignatureFormat
	}
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write(body)
	if !hmac.Equal(mac.Sum(nil), got) {
		return ErrBadSignature
	}
	return nil
}

// Errors of Handshake. ErrNotSubscribe and ErrNoChallenge are *inbound.Malformed: the
// request is not a handshake at all.
var (
	ErrNotSubscribe  error = &inbound.Malformed{Reason: `hub.mode is not "subscribe": not a Meta verification request`}
	ErrNoChallenge   error = &inbound.Malformed{Reason: "hub.challenge is missing or too long"}
	ErrWrongToken          = errors.New("hub.verify_token does not match the channel's verify token")
	ErrNoVerifyToken       = errors.New("the channel has no verify token configured (verify_token_env)")
)

// maxChallengeBytes bounds what we echo: Meta's challenge is a short number, and a
// handshake endpoint must not become a reflector of arbitrary content.
const maxChallengeBytes = 512

// Handshake answers Meta's verification request (GET ?hub.mode=subscribe
// &hub.verify_token=…&hub.challenge=…): it returns the challenge to echo when the
// token is the channel's verify token. ErrWrongToken and ErrNoVerifyToken deserve a
// 403; the other errors (*inbound.Malformed) mean the request is not a handshake at
// all (400).
func Handshake(query url.Values, verifyToken string) (string, error) {
	if query.Get("hub.mode") != "subscribe" {
		return "", ErrNotSubscribe
	}
	challenge := query.Get("hub.challenge")
	if challenge == "" || len(challenge) > maxChallengeBytes {
		return "", ErrNoChallenge
	}
	if verifyToken == "" {
		return "", ErrNoVerifyToken
	}
	if subtle.ConstantTimeCompare([]byte(query.Get("hub.verify_token")), []byte(verifyToken)) != 1 {
		return "", ErrWrongToken
	}
	return challenge, nil
}
