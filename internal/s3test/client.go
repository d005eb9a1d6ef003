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
