package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// s3Backend keeps objects in a bucket of any S3-compatible store (AWS,
// MinIO, SeaweedFS, Ceph RGW, Garage, R2...), under an optional prefix:
//
//	s3://BUCKET[/PREFIX][?endpoint=HOST[:PORT]|URL][&region=R][&scheme=http|https][&profile=P]
//
// The query follows Nix's S3 URLs. Credentials: AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), else the shared
// credentials file (profile from the URL or AWS_PROFILE), else the
// instance's IAM role, else anonymous.
//
// The client is minio-go: pure Go, made for S3-compatible stores (path
// style for any endpoint but AWS's, its own multipart uploads), and a
// handful of dependencies where the AWS SDK needs a dozen modules.
type s3Backend struct {
	client *minio.Client
	bucket string
	prefix string // "" or "dir/" (with the slash)
	url    string
}

func openS3(u *url.URL, o Options) (*s3Backend, error) {
	raw := u.String()
	if u.Host == "" {
		return nil, fmt.Errorf("cache URL %q: no bucket (want s3://BUCKET/PREFIX?endpoint=...)", raw)
	}
	q := u.Query()
	for k := range q {
		switch k {
		case "endpoint", "region", "scheme", "profile":
		default:
			return nil, fmt.Errorf("cache URL %q: unknown parameter %q (known: endpoint, region, scheme, profile)", raw, k)
		}
	}
	endpoint, secure := "s3.amazonaws.com", true
	if e := q.Get("endpoint"); e != "" {
		endpoint = e
		if strings.Contains(e, "://") {
			eu, err := url.Parse(e)
			if err != nil || eu.Host == "" || eu.Scheme != "http" && eu.Scheme != "https" {
				return nil, fmt.Errorf("cache URL %q: endpoint %q: want HOST[:PORT] or http(s)://HOST[:PORT]", raw, e)
			}
			endpoint, secure = eu.Host, eu.Scheme == "https"
		}
	}
	switch q.Get("scheme") {
	case "":
	case "http":
		secure = false
	case "https":
		secure = true
	default:
		return nil, fmt.Errorf("cache URL %q: scheme %q: want http or https", raw, q.Get("scheme"))
	}
	profile := q.Get("profile")
	if profile == "" {
		profile = o.getenv("AWS_PROFILE")
	}
	providers := []credentials.Provider{&credentials.Static{Value: credentials.Value{
		AccessKeyID:     o.getenv("AWS_ACCESS_KEY_ID"),
		SecretAccessKey: o.getenv("AWS_SECRET_ACCESS_KEY"),
		SessionToken:    o.getenv("AWS_SESSION_TOKEN"),
		SignerType:      credentials.SignatureV4,
	}}}
	file := o.getenv("AWS_SHARED_CREDENTIALS_FILE")
	if file == "" && o.getenv("HOME") != "" {
		file = path.Join(o.getenv("HOME"), ".aws", "credentials")
	}
	if file != "" {
		providers = append(providers, &credentials.FileAWSCredentials{Filename: file, Profile: profile})
	}
	providers = append(providers, &credentials.IAM{})
	mo := &minio.Options{
		Creds:  credentials.NewChainCredentials(providers),
		Secure: secure,
		Region: q.Get("region"),
	}
	if o.Client != nil && o.Client.Transport != nil {
		mo.Transport = o.Client.Transport
	}
	client, err := minio.New(endpoint, mo)
	if err != nil {
		return nil, fmt.Errorf("cache URL %q: %w", raw, err)
	}
	prefix := strings.Trim(u.Path, "/")
	if prefix != "" {
		prefix += "/"
	}
	shown := *u
	return &s3Backend{client: client, bucket: u.Host, prefix: prefix, url: shown.String()}, nil
}

// s3Error maps S3's answers for a missing object or bucket to ErrNotFound.
func s3Error(key string, err error) error {
	if err == nil {
		return nil
	}
	r := minio.ToErrorResponse(err)
	switch {
	case r.Code == "NoSuchKey" || r.StatusCode == http.StatusNotFound && r.Code != "NoSuchBucket":
		return fmt.Errorf("%s: %w", key, ErrNotFound)
	case r.Code == "NoSuchBucket":
		return fmt.Errorf("%s: %w: no bucket %q", key, ErrNotFound, r.BucketName)
	}
	return fmt.Errorf("%s: %w", key, err)
}

func (b *s3Backend) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	obj, err := b.client.GetObject(ctx, b.bucket, b.prefix+key, minio.GetObjectOptions{})
	if err != nil {
		return nil, s3Error(key, err)
	}
	// The first request is made lazily; Stat makes it, so that a missing
	// key shows here and not at the first Read.
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		return nil, s3Error(key, err)
	}
	return obj, nil
}

func (b *s3Backend) Stat(ctx context.Context, key string) (Object, error) {
	if err := checkKey(key); err != nil {
		return Object{}, err
	}
	info, err := b.client.StatObject(ctx, b.bucket, b.prefix+key, minio.StatObjectOptions{})
	if err != nil {
		return Object{}, s3Error(key, err)
	}
	return Object{Key: key, Size: info.Size, ModTime: info.LastModified}, nil
}

func (b *s3Backend) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := checkKey(key); err != nil {
		return err
	}
	// An S3 PUT (or a completed multipart upload) is atomic: readers see
	// the old object or the whole new one.
	_, err := b.client.PutObject(ctx, b.bucket, b.prefix+key, r, size, minio.PutObjectOptions{
		ContentType: contentType(key),
	})
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

func contentType(key string) string {
	switch {
	case strings.HasSuffix(key, ".narinfo"):
		return "text/x-nix-narinfo"
	case key == cacheInfoKey:
		return "text/x-nix-cache-info"
	case strings.HasSuffix(key, ".deb"):
		return "application/vnd.debian.binary-package"
	}
	return "application/octet-stream"
}

func (b *s3Backend) List(ctx context.Context, prefix string, fn func(Object) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing when fn fails
	for info := range b.client.ListObjects(ctx, b.bucket, minio.ListObjectsOptions{Prefix: b.prefix + prefix, Recursive: true}) {
		if info.Err != nil {
			return s3Error(prefix+"*", info.Err)
		}
		key := strings.TrimPrefix(info.Key, b.prefix)
		if err := fn(Object{Key: key, Size: info.Size, ModTime: info.LastModified}); err != nil {
			return err
		}
	}
	return ctx.Err()
}

func (b *s3Backend) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	err := b.client.RemoveObject(ctx, b.bucket, b.prefix+key, minio.RemoveObjectOptions{})
	if err = s3Error(key, err); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}

func (b *s3Backend) String() string { return b.url }
