# Build and install headcount with the usual GNU prefixes.
#
#   make                      # cargo build --release: the daemon and the receiver
#   make install DESTDIR=/tmp/root PREFIX=/usr
#
# `install` lays out everything the RPM spec packages: the daemon (install-daemon) and the
# reference receiver for the vendor's side (install-receiver), each also installable alone:
#
#   make build-receiver
#   make install-receiver DESTDIR=/tmp/root PREFIX=/usr
#
# `install` does not build: it installs what `make` built (or BINARY=path, RECEIVER_BINARY=path),
# so that a packager or a test can build once as one user and install as another.

PREFIX      ?= /usr
BINDIR      ?= $(PREFIX)/bin
LIBDIR      ?= $(PREFIX)/lib
DATADIR     ?= $(PREFIX)/share
MANDIR      ?= $(DATADIR)/man
UNITDIR     ?= $(LIBDIR)/systemd/system
PRESETDIR   ?= $(LIBDIR)/systemd/system-preset
CATALOGDIR  ?= $(LIBDIR)/systemd/catalog
VENDORCONFDIR ?= $(LIBDIR)/headcount/config.d
MOTDDIR     ?= $(LIBDIR)/motd.d
# Where the unit's RuntimeDirectory=headcount/notice keeps the login notice while it sends.
NOTICE      ?= /run/headcount/notice/motd
SYSCONFDIR  ?= /etc
RECEIVERCONFDIR ?= $(SYSCONFDIR)/headcount-receiver
# The unit names its config as %E/... (= /etc); any other place is written out.
RECEIVER_CONFIG = $(if $(filter /etc/headcount-receiver,$(RECEIVERCONFDIR)),%E/headcount-receiver,$(RECEIVERCONFDIR))/receiver.toml
DESTDIR     ?=

CARGO       ?= cargo
BINARY      ?= target/release/headcount
RECEIVER_BINARY ?= target/release/headcount-receiver
INSTALL     ?= install

.PHONY: all build install uninstall build-daemon install-daemon uninstall-daemon \
	build-receiver install-receiver uninstall-receiver

all: build

build:
	$(CARGO) build --release --locked -p headcount -p headcount-receiver

install: install-daemon install-receiver

uninstall: uninstall-daemon uninstall-receiver

build-daemon:
	$(CARGO) build --release --locked -p headcount

install-daemon:
	@test -x "$(BINARY)" || { echo "$(BINARY) is missing: run 'make' first (or pass BINARY=...)" >&2; exit 1; }
	$(INSTALL) -D -m 0755 "$(BINARY)" "$(DESTDIR)$(BINDIR)/headcount"
	# The unit names the binary by path: follow BINDIR when it is not /usr/bin.
	$(INSTALL) -d -m 0755 "$(DESTDIR)$(UNITDIR)"
	sed 's|^ExecStart=/usr/bin/headcount|ExecStart=$(BINDIR)/headcount|' systemd/headcount.service \
		> "$(DESTDIR)$(UNITDIR)/headcount.service"
	chmod 0644 "$(DESTDIR)$(UNITDIR)/headcount.service"
	$(INSTALL) -D -m 0644 systemd/90-headcount.preset "$(DESTDIR)$(PRESETDIR)/90-headcount.preset"
	$(INSTALL) -D -m 0644 systemd/headcount.catalog "$(DESTDIR)$(CATALOGDIR)/headcount.catalog"
	$(INSTALL) -D -m 0644 dist/config.d/10-defaults.toml "$(DESTDIR)$(VENDORCONFDIR)/10-defaults.toml"
	$(INSTALL) -D -m 0644 dist/man/headcount.8 "$(DESTDIR)$(MANDIR)/man8/headcount.8"
	$(INSTALL) -D -m 0644 dist/man/headcount.conf.5 "$(DESTDIR)$(MANDIR)/man5/headcount.conf.5"
	# pam_motd reads motd.d; the link dangles (and shows nothing) while the service is not sending.
	$(INSTALL) -d -m 0755 "$(DESTDIR)$(MOTDDIR)"
	ln -sfn "$(NOTICE)" "$(DESTDIR)$(MOTDDIR)/headcount"

uninstall-daemon:
	rm -f "$(DESTDIR)$(BINDIR)/headcount" \
	      "$(DESTDIR)$(UNITDIR)/headcount.service" \
	      "$(DESTDIR)$(PRESETDIR)/90-headcount.preset" \
	      "$(DESTDIR)$(CATALOGDIR)/headcount.catalog" \
	      "$(DESTDIR)$(VENDORCONFDIR)/10-defaults.toml" \
	      "$(DESTDIR)$(MANDIR)/man8/headcount.8" \
	      "$(DESTDIR)$(MANDIR)/man5/headcount.conf.5" \
	      "$(DESTDIR)$(MOTDDIR)/headcount"

build-receiver:
	$(CARGO) build --release --locked -p headcount-receiver

# The packaged config holds the shipped rate limit; an existing one (the admin's) is kept.
install-receiver:
	@test -x "$(RECEIVER_BINARY)" || { echo "$(RECEIVER_BINARY) is missing: run 'make build-receiver' first (or pass RECEIVER_BINARY=...)" >&2; exit 1; }
	$(INSTALL) -D -m 0755 "$(RECEIVER_BINARY)" "$(DESTDIR)$(BINDIR)/headcount-receiver"
	$(INSTALL) -d -m 0755 "$(DESTDIR)$(UNITDIR)"
	sed -e 's|^ExecStart=/usr/bin/headcount-receiver|ExecStart=$(BINDIR)/headcount-receiver|' \
	    -e 's|--config %E/headcount-receiver/receiver.toml|--config $(RECEIVER_CONFIG)|' \
		systemd/headcount-receiver.service > "$(DESTDIR)$(UNITDIR)/headcount-receiver.service"
	chmod 0644 "$(DESTDIR)$(UNITDIR)/headcount-receiver.service"
	test -e "$(DESTDIR)$(RECEIVERCONFDIR)/receiver.toml" || \
		$(INSTALL) -D -m 0644 dist/receiver.toml "$(DESTDIR)$(RECEIVERCONFDIR)/receiver.toml"

uninstall-receiver:
	rm -f "$(DESTDIR)$(BINDIR)/headcount-receiver" \
	      "$(DESTDIR)$(UNITDIR)/headcount-receiver.service" \
	      "$(DESTDIR)$(RECEIVERCONFDIR)/receiver.toml"
