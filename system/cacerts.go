package system

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/kiln-os/kiln/toplevel"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// The ca-certificates cache: what update-ca-certificates makes in
// /etc/ssl/certs from /etc/ca-certificates.conf on a fresh install
// (ca-certificates' postinst, and its trigger when another package adds
// certificates under /usr/share/ca-certificates):
//
//   - NAME.pem, a link to /usr/share/ca-certificates/DIR/NAME.crt for
//     every certificate the configuration selects (the name mangled as
//     the script does: blanks and commas to _, parentheses to =);
//   - HASH.N, a link to NAME.pem, where HASH is OpenSSL's subject name
//     hash (what `openssl rehash` names links by, and what a TLS library
//     pointed at the directory opens);
//   - ca-certificates.crt, every selected certificate in the
//     configuration's order, each ending in a newline.
//
// kiln computes them itself: the hash is a SHA-1 of the subject in
// OpenSSL's canonical form, which caCertsTest checks against the real
// openssl.

const caCertsConf = "ca-certificates.conf"

// caCertsEtc is the /etc/ssl/certs entries for the certificates conf
// selects (conf is /etc/ca-certificates.conf as the generation has it).
// Certificates the packages do not ship are skipped, as the script warns
// and skips them.
func caCertsEtc(pk Packages, conf []byte) ([]EtcEntry, error) {
	var out []EtcEntry
	var bundle bytes.Buffer
	type named struct {
		pem  string // NAME.pem
		hash uint32
		fp   [32]byte
	}
	var certs []named
	seen := map[string]bool{}
	for _, line := range strings.Split(string(conf), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		rel := path.Clean("usr/share/ca-certificates/" + line)
		if !strings.HasPrefix(rel, "usr/share/ca-certificates/") {
			return nil, fmt.Errorf("/etc/%s: %q is outside /usr/share/ca-certificates", caCertsConf, line)
		}
		_, phys, ok := find(pk, rel)
		if !ok {
			continue
		}
		b, err := os.ReadFile(phys)
		if err != nil {
			return nil, fmt.Errorf("ca-certificates: %w", err)
		}
		name := pemName(path.Base(line))
		if seen[name] {
			continue // the same link: the script's ln -sf keeps the last
		}
		seen[name] = true
		out = append(out, EtcEntry{Path: "ssl/certs/" + name, Kind: toplevel.EtcSymlink, Target: "/" + rel})
		bundle.Write(b)
		if len(b) > 0 && b[len(b)-1] != '\n' {
			bundle.WriteByte('\n')
		}
		c, err := singleCert(b)
		if err != nil {
			return nil, fmt.Errorf("ca-certificates: /%s: %w", rel, err)
		}
		if c == nil {
			continue // openssl rehash skips a file that is not exactly one certificate
		}
		h, err := subjectHash(c.RawSubject)
		if err != nil {
			return nil, fmt.Errorf("ca-certificates: /%s: subject: %w", rel, err)
		}
		certs = append(certs, named{pem: name, hash: h, fp: sha256.Sum256(c.Raw)})
	}
	if len(seen) == 0 {
		return nil, nil
	}
	// openssl rehash reads the directory's names in order; per hash the
	// links are numbered from 0, a certificate seen before (the same
	// fingerprint) gets none.
	sort.Slice(certs, func(i, j int) bool { return certs[i].pem < certs[j].pem })
	next := map[uint32]int{}
	fps := map[[32]byte]bool{}
	for _, c := range certs {
		if fps[c.fp] {
			continue
		}
		fps[c.fp] = true
		out = append(out, EtcEntry{Path: fmt.Sprintf("ssl/certs/%08x.%d", c.hash, next[c.hash]), Kind: toplevel.EtcSymlink, Target: c.pem})
		next[c.hash]++
	}
	out = append(out, EtcEntry{Path: "ssl/certs/ca-certificates.crt", Data: bundle.Bytes(), Kind: toplevel.EtcLink})
	return out, nil
}

// pemName is update-ca-certificates' link name for a certificate file.
func pemName(base string) string {
	base = strings.TrimSuffix(base, ".crt")
	return strings.NewReplacer(" ", "_", "(", "=", ")", "=", ",", "_").Replace(base) + ".pem"
}

// singleCert is the DER and the subject of the one certificate of a PEM
// file; nil when the file holds none or more than one (as openssl rehash
// counts them). Only the structure up to the subject is read (a no-op
// rebuild plans this for every CA).
func singleCert(b []byte) (*certName, error) {
	var der []byte
	n := 0
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type == "CERTIFICATE" || blk.Type == "TRUSTED CERTIFICATE" || blk.Type == "X509 CERTIFICATE" {
			der = blk.Bytes
			n++
		}
	}
	if n != 1 {
		return nil, nil
	}
	in := cryptobyte.String(der)
	var cert, tbs, subject cryptobyte.String
	if !in.ReadASN1(&cert, cbasn1.SEQUENCE) || !cert.ReadASN1(&tbs, cbasn1.SEQUENCE) ||
		!tbs.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) ||
		!tbs.SkipASN1(cbasn1.INTEGER) || !tbs.SkipASN1(cbasn1.SEQUENCE) || // serial, signature algorithm
		!tbs.SkipASN1(cbasn1.SEQUENCE) || !tbs.SkipASN1(cbasn1.SEQUENCE) || // issuer, validity
		!tbs.ReadASN1Element(&subject, cbasn1.SEQUENCE) {
		return nil, fmt.Errorf("not an X.509 certificate")
	}
	return &certName{Raw: der, RawSubject: subject}, nil
}

// certName is what the CA links need of a certificate.
type certName struct {
	Raw, RawSubject []byte
}

// subjectHash is OpenSSL's X509_NAME_hash of a DER Name: the first four
// bytes, little-endian, of the SHA-1 of its canonical encoding, which is
// each RDN's SET re-encoded with every string value as a UTF8String,
// ASCII letters lowercased, leading and trailing blanks dropped and inner
// runs of blanks one space, the SETs concatenated without the outer
// SEQUENCE.
func subjectHash(rawName []byte) (uint32, error) {
	var rdns []asn1.RawValue
	if rest, err := asn1.Unmarshal(rawName, &rdns); err != nil {
		return 0, err
	} else if len(rest) > 0 {
		return 0, fmt.Errorf("trailing data")
	}
	var canon []byte
	for _, set := range rdns {
		if set.Class != asn1.ClassUniversal || set.Tag != asn1.TagSet {
			return 0, fmt.Errorf("an RDN is not a SET")
		}
		var avas [][]byte
		b := set.Bytes
		for len(b) > 0 {
			var ava struct {
				Type  asn1.ObjectIdentifier
				Value asn1.RawValue
			}
			var err error
			if b, err = asn1.Unmarshal(b, &ava); err != nil {
				return 0, err
			}
			v := ava.Value
			if s, ok := canonString(v); ok {
				v = asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagUTF8String, Bytes: []byte(s)}
			} else {
				v = asn1.RawValue{FullBytes: v.FullBytes}
			}
			enc, err := asn1.Marshal(struct {
				Type  asn1.ObjectIdentifier
				Value asn1.RawValue
			}{ava.Type, v})
			if err != nil {
				return 0, err
			}
			avas = append(avas, enc)
		}
		// DER orders a SET OF by its elements' encodings.
		sort.Slice(avas, func(i, j int) bool { return bytes.Compare(avas[i], avas[j]) < 0 })
		enc, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: bytes.Join(avas, nil)})
		if err != nil {
			return 0, err
		}
		canon = append(canon, enc...)
	}
	sum := sha1.Sum(canon)
	return binary.LittleEndian.Uint32(sum[:4]), nil
}

// canonString is a string value in OpenSSL's canonical form (false: not
// a string type OpenSSL canonicalizes, kept as it is).
func canonString(v asn1.RawValue) (string, bool) {
	if v.Class != asn1.ClassUniversal {
		return "", false
	}
	var s string
	switch v.Tag {
	case asn1.TagUTF8String, asn1.TagPrintableString, asn1.TagIA5String, 26: // 26: VisibleString
		s = string(v.Bytes)
	case asn1.TagT61String: // read as Latin-1, as OpenSSL does
		r := make([]rune, len(v.Bytes))
		for i, c := range v.Bytes {
			r[i] = rune(c)
		}
		s = string(r)
	case asn1.TagBMPString:
		if len(v.Bytes)%2 != 0 {
			return "", false
		}
		u := make([]uint16, len(v.Bytes)/2)
		for i := range u {
			u[i] = binary.BigEndian.Uint16(v.Bytes[2*i:])
		}
		s = string(utf16.Decode(u))
	case 28: // UniversalString
		if len(v.Bytes)%4 != 0 {
			return "", false
		}
		var r []rune
		for i := 0; i < len(v.Bytes); i += 4 {
			r = append(r, rune(binary.BigEndian.Uint32(v.Bytes[i:])))
		}
		s = string(r)
	default:
		return "", false
	}
	if !utf8.ValidString(s) {
		return "", false
	}
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' }
	b := []byte(s)
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c >= 0x80:
			out = append(out, c)
			i++
		case isSpace(c):
			out = append(out, ' ')
			for i < len(b) && isSpace(b[i]) {
				i++
			}
		default:
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			out = append(out, c)
			i++
		}
	}
	return string(out), true
}

// caCerts is the ca-certificates cache's etc entries when a package's
// scripts run update-ca-certificates: from the generation's
// /etc/ca-certificates.conf (the postinst's, or the configuration's
// etc."ca-certificates.conf").
func (p *BuildPlan) caCerts(etc map[string]EtcEntry) ([]EtcEntry, error) {
	if !p.scripts.declaresCache("ca-certificates") {
		return nil, nil
	}
	e, ok := etc[caCertsConf]
	if !ok {
		return nil, nil
	}
	conf, ok, err := e.content()
	if err != nil {
		return nil, fmt.Errorf("/etc/%s: %w", caCertsConf, err)
	}
	if !ok {
		return nil, fmt.Errorf("/etc/%s is a link: update-ca-certificates reads it: give it as text", caCertsConf)
	}
	return caCertsEtc(p.pk, conf)
}
