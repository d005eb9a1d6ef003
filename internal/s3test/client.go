package s3test

import (
	"bytes"
	"context"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// client talks to the server directly, as an administrator (or an
// attacker with write access to the bucket) would, beside the code under
// test.
type client struct{ c *minio.Client }

func newClient(s *Server) (*client, error) {
	c, err := minio.New(s.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""), Region: "us-east-1"})
	if err != nil {
		return nil, err
	}
	return &client{c}, nil
}

func (c *client) makeBucket(ctx context.Context, name string) error {
	exists, err := c.c.BucketExists(ctx, name)
	if err != nil || exists {
		return err
	}
	return c.c.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: "us-east-1"})
}

func (c *client) put(ctx context.Context, bucket, key string, data []byte) error {
	_, err := c.c.PutObject(ctx, bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
	return err
}

// CreateBucket creates a bucket unless it exists.
func (s *Server) CreateBucket(name string) error {
	c, err := newClient(s)
	if err != nil {
		return err
	}
	return c.makeBucket(context.Background(), name)
}

// MakeBucket creates a bucket or fails t.
func (s *Server) MakeBucket(t testing.TB, name string) {
	t.Helper()
	if err := s.CreateBucket(name); err != nil {
		t.Fatalf("make bucket %s: %v", name, err)
	}
}

// PutObject writes an object directly, bypassing the code under test (a
// test tampers with a cache this way), or fails t.
func (s *Server) PutObject(t testing.TB, bucket, key string, data []byte) {
	t.Helper()
	c, err := newClient(s)
	if err == nil {
		err = c.put(context.Background(), bucket, key, data)
	}
	if err != nil {
		t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
}

// GetObject reads an object directly, or fails t.
func (s *Server) GetObject(t testing.TB, bucket, key string) []byte {
	t.Helper()
	c, err := newClient(s)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := c.c.GetObject(context.Background(), bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("get %s/%s: %v", bucket, key, err)
	}
	defer obj.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(obj); err != nil {
		t.Fatalf("get %s/%s: %v", bucket, key, err)
	}
	return b.Bytes()
}
