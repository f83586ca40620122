package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Algorithm is the one signing algorithm accepted.
const Algorithm = "AWS4-HMAC-SHA256"

// terminator ends every credential scope.
const terminator = "aws4_request"

// authorization is a parsed Authorization header.
type authorization struct {
	accessKeyID                 string
	date, region, service, term string
	signedHeaders               []string
	signedHeadersRaw            string
	signature                   []byte // decoded from 64 lowercase hex digits
}

// scope is the credential scope as signed: date/region/service/aws4_request.
func (a *authorization) scope() string {
	return a.date + "/" + a.region + "/" + a.service + "/" + a.term
}

// parseAuthorization reads `AWS4-HMAC-SHA256 Credential=AKID/date/region/
// service/aws4_request, SignedHeaders=a;b, Signature=hex` strictly: the
// algorithm, then each of the three components exactly once (in any order,
// as AWS takes them), separated by commas with optional spaces, and nothing
// else.
func parseAuthorization(h string) (*authorization, *Error) {
	rest, ok := strings.CutPrefix(h, Algorithm+" ")
	if !ok {
		if alg, _, _ := strings.Cut(h, " "); alg != Algorithm {
			return nil, incomplete("Unsupported AWS 'algorithm': %q; only %s is accepted.", clip(alg), Algorithm)
		}
		return nil, incomplete("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.")
	}
	var a authorization
	var credential, signedHeaders, signature string
	seen := map[string]bool{}
	for part := range strings.SplitSeq(rest, ",") {
		part = strings.Trim(part, " ")
		name, value, ok := strings.Cut(part, "=")
		if !ok || value == "" || seen[name] {
			return nil, incomplete("Authorization header is malformed: %q.", clip(part))
		}
		seen[name] = true
		switch name {
		case "Credential":
			credential = value
		case "SignedHeaders":
			signedHeaders = value
		case "Signature":
			signature = value
		default:
			return nil, incomplete("Authorization header is malformed: unknown parameter %q.", clip(name))
		}
	}
	if credential == "" || signedHeaders == "" || signature == "" {
		return nil, incomplete("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.")
	}
	fields := strings.Split(credential, "/")
	if len(fields) != 5 || fields[0] == "" {
		return nil, incomplete("Credential should have the form AccessKeyId/date/region/service/aws4_request, not %q.", clip(credential))
	}
	a.accessKeyID, a.date, a.region, a.service, a.term = fields[0], fields[1], fields[2], fields[3], fields[4]
	if len(signature) != 2*sha256.Size || strings.ToLower(signature) != signature {
		return nil, incomplete("Signature should be 64 lowercase hexadecimal digits.")
	}
	sig, err := hex.DecodeString(signature)
	if err != nil {
		return nil, incomplete("Signature should be 64 lowercase hexadecimal digits.")
	}
	a.signature = sig
	// Signed header names: lowercase, sorted, each once, none empty; as
	// every signer writes them, so that there is one way to say a set.
	a.signedHeadersRaw = signedHeaders
	a.signedHeaders = strings.Split(signedHeaders, ";")
	for i, name := range a.signedHeaders {
		if name == "" || strings.ToLower(name) != name || !validToken(name) || (i > 0 && a.signedHeaders[i-1] >= name) {
			return nil, incomplete("SignedHeaders should be lowercase header names, sorted, each once, separated by ';'.")
		}
	}
	return &a, nil
}

// validToken reports whether s is an HTTP header name (RFC 9110 token).
func validToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

// clip keeps what an error message repeats of the request short and
// printable.
func clip(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	q := strconv.QuoteToASCII(s)
	return q[1 : len(q)-1]
}

// canonicalRequest builds the canonical request of r as AWS does for every
// service but S3, with payloadHash the hex SHA-256 of the body. It returns
// false if a signed header is absent from r.
func canonicalRequest(r *http.Request, signed []string, signedRaw, payloadHash string) (string, bool) {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(canonicalURI(wirePath(r)))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.RawQuery))
	b.WriteByte('\n')
	for _, name := range signed {
		values, ok := headerValues(r, name)
		if !ok {
			return "", false
		}
		b.WriteString(name)
		b.WriteByte(':')
		for i, v := range values {
			if i > 0 {
				b.WriteByte(',')
			}
			writeTrimmed(&b, v)
		}
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(signedRaw)
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String(), true
}

// wirePath is the request's path as the client sent it, still
// percent-encoded: what the client's signer encoded once more.
func wirePath(r *http.Request) string {
	if r.RequestURI != "" && r.RequestURI != "*" && strings.HasPrefix(r.RequestURI, "/") {
		p, _, _ := strings.Cut(r.RequestURI, "?")
		return p
	}
	return r.URL.EscapedPath()
}

// headerValues returns the values of a signed header. Go's server moves
// Host, Content-Length and Transfer-Encoding out of the header map; they
// are read from where it put them.
func headerValues(r *http.Request, name string) ([]string, bool) {
	switch name {
	case "host":
		return []string{r.Host}, r.Host != ""
	case "content-length":
		if v := r.Header.Values("Content-Length"); len(v) > 0 {
			return v, true
		}
		return []string{strconv.FormatInt(r.ContentLength, 10)}, r.ContentLength >= 0
	case "transfer-encoding":
		if len(r.TransferEncoding) > 0 {
			return []string{strings.Join(r.TransferEncoding, ",")}, true
		}
	}
	v := r.Header.Values(name)
	return v, len(v) > 0
}

// writeTrimmed writes v without leading and trailing spaces and with each
// run of spaces inside as one (AWS's Trimall).
func writeTrimmed(b *strings.Builder, v string) {
	v = strings.Trim(v, " \t")
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' || c == '\t' {
			space = true
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteByte(c)
	}
}

// canonicalURI normalises a wire path as AWS does outside S3: "." and ".."
// segments resolved, empty segments dropped (a trailing slash kept), then
// every segment URI-encoded again.
func canonicalURI(p string) string {
	if p == "" || p == "/" {
		return "/"
	}
	var segs []string
	for s := range strings.SplitSeq(p, "/") {
		switch s {
		case "", ".":
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
		default:
			segs = append(segs, s)
		}
	}
	var b strings.Builder
	b.WriteByte('/')
	for i, s := range segs {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(uriEncode(s))
	}
	if len(segs) > 0 && strings.HasSuffix(p, "/") {
		b.WriteByte('/')
	}
	return b.String()
}

// canonicalQuery decodes each name and value of a raw query, encodes them
// as AWS does and sorts the pairs by name, then value.
func canonicalQuery(raw string) string {
	if raw == "" {
		return ""
	}
	type pair struct{ k, v string }
	var pairs []pair
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		if dk, err := url.PathUnescape(k); err == nil {
			k = dk
		}
		if dv, err := url.PathUnescape(v); err == nil {
			v = dv
		}
		pairs = append(pairs, pair{uriEncode(k), uriEncode(v)})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

// uriEncode percent-encodes every byte but the unreserved ones, with
// uppercase hex, as AWS's UriEncode.
func uriEncode(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// stringToSign is the algorithm, the request's date, the scope and the
// canonical request's hash, on four lines.
func stringToSign(amzDate, scope, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return Algorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
}

// signingKey derives the key of one day, region and service from the
// secret: HMAC("AWS4"+secret, date) -> region -> service -> aws4_request.
func signingKey(secret []byte, date, region, service string) []byte {
	k := hmacSHA256(append([]byte("AWS4"), secret...), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, terminator)
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// signature is the hex-decoded signature of stringToSign under secret.
func signature(secret []byte, date, region, service, sts string) []byte {
	return hmacSHA256(signingKey(secret, date, region, service), sts)
}
