# kiln — see README.md. Every target works on a fresh Debian 12 machine.
GO ?= go
KILN := bin/kiln
# Packages the tests and image writer need from Debian.
DEPS := qemu-system-x86 qemu-utils systemd ovmf e2fsprogs dosfstools mtools fdisk systemd-boot mmdebstrap zstd xz-utils cpio debian-archive-keyring
# The VM tests always run here; CI sets nothing else.
export KILN_VMTEST ?= 1

.PHONY: all kiln deps image vm test bench clean

all: kiln

kiln:
	CGO_ENABLED=0 $(GO) build -o $(KILN) ./cmd/kiln

# deps installs what the tests need, only when something is missing.
deps:
	@missing=$$(for p in $(DEPS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

# image builds the default system (kiln.lock pins it) into disk.img.
image: kiln deps
	$(KILN) image -o disk.img

# vm boots disk.img on this terminal's serial console.
vm: image
	$(KILN) vm disk.img

test: deps kiln
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 40m ./...

bench: kiln deps
	bench/run

clean:
	rm -rf bin disk.img result
