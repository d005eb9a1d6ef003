# kiln — see README.md. Every target works on a fresh Debian 12 machine.
GO ?= go
KILN := bin/kiln
# Packages the tests and image writer need from Debian.
DEPS := qemu-system-x86 qemu-utils systemd ovmf e2fsprogs dosfstools mtools fdisk systemd-boot mmdebstrap zstd xz-utils cpio debian-archive-keyring nix-bin nftables sudo openssl openjdk-17-jre-headless
# Test servers built from the Go module proxy, pinned in internal/testenv/tools.go,
# kept in the directory the tests look in (internal/testenv.ToolsDir).
TOOLS_DIR ?= $(or $(KILN_TOOLS),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/kiln/tools)
WEED_VERSION := $(shell sed -n 's/^\tSeaweedFSVersion = "\(.*\)"$$/\1/p' internal/testenv/tools.go)
WEED := $(TOOLS_DIR)/seaweedfs-$(WEED_VERSION)/weed
# The VM tests always run here; CI sets nothing else.
export KILN_VMTEST ?= 1

.PHONY: all kiln deps tools image vm test bench clean

all: kiln

kiln:
	CGO_ENABLED=0 $(GO) build -ldflags "-X github.com/kiln-os/kiln/internal/cli.Commit=$$(git describe --always --dirty 2>/dev/null)" -o $(KILN) ./cmd/kiln

# deps installs what the tests need, only when something is missing.
deps:
	@missing=$$(for p in $(DEPS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

# tools builds the S3 server of the cache tests (SeaweedFS's weed), only when
# missing. SeaweedFS's go.mod has replace directives, so `go install pkg@version`
# refuses it: it is built inside its own module, downloaded from the proxy.
tools: $(WEED)

$(WEED):
	@echo "building SeaweedFS $(WEED_VERSION) into $(@D) (once; it takes several minutes)"
	@mkdir -p $(@D)
	@dir=$$(cd $(@D) && GOWORK=off GOFLAGS=-mod=mod $(GO) mod download -json github.com/seaweedfs/seaweedfs@$(WEED_VERSION) | sed -n 's/^\t"Dir": "\(.*\)",$$/\1/p'); \
	test -n "$$dir" || { echo "cannot download SeaweedFS $(WEED_VERSION)"; exit 1; }; \
	cd "$$dir" && CGO_ENABLED=0 GOWORK=off GOFLAGS=-buildvcs=false $(GO) build -trimpath -o $@.tmp ./weed
	@mv $@.tmp $@

# image builds the default system (kiln.lock pins it) into disk.img.
image: kiln deps
	$(KILN) image -o disk.img

# vm boots disk.img on this terminal's serial console.
vm: image
	$(KILN) vm disk.img

test: deps tools kiln
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 80m ./...

bench: kiln deps
	bench/run

clean:
	rm -rf bin disk.img result
