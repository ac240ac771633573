# make install and make uninstall (included from the Makefile).
#
#   make install                    optimised build, installed under /usr/local
#   make install PREFIX=/usr        the paths a distribution package uses
#   make install DESTDIR=/tmp/stage into a staging tree
#   make install INSTALL_FROM=DIR   copy the programs already built in DIR
#                                   (no build; the tests install build/bin)
#
# Where things go (FHS): the daemons commissiond, commissiond-hl7 and
# commissiond-spool in $(SBINDIR), since only the service manager or an
# administrator starts them (their pages are in section 8); commissionctl
# in $(BINDIR), since operators run it from their own shells. The
# configuration is always under /etc/commissiond, where the units'
# ConfigurationDirectory= points. Units, sysusers.d and tmpfiles.d entries
# go where systemd reads vendor files: for PREFIX=/usr the directories
# systemd's pkg-config file names, otherwise $(PREFIX)/lib/..., which
# systemd also reads for /usr/local. The units in systemd/ name the paths
# of PREFIX=/usr; install writes them with this PREFIX's paths.

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/commissiond
SYSCONFDIR ?= /etc
ifeq ($(PREFIX),/usr)
systemd_pc = $(shell pkg-config --variable=$(1) systemd 2>/dev/null)
SYSTEMDUNITDIR ?= $(or $(call systemd_pc,systemdsystemunitdir),/lib/systemd/system)
SYSUSERSDIR ?= $(or $(call systemd_pc,sysusersdir),/usr/lib/sysusers.d)
TMPFILESDIR ?= $(or $(call systemd_pc,tmpfilesdir),/usr/lib/tmpfiles.d)
else
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
endif
INSTALL ?= install
INSTALL_FROM ?=

INSTALL_DAEMONS = commissiond commissiond-hl7 commissiond-spool
INSTALL_TOOLS = commissionctl
INSTALL_UNITS = commissiond.service commissiond-hl7.service commissiond-spool.service
INSTALL_MAN8 = $(wildcard man/*.8)
INSTALL_MAN5 = $(wildcard man/*.5)
INSTALL_DOCS = $(wildcard docs/*.md) docs/openapi.yaml
INSTALL_BIN_FROM = $(or $(INSTALL_FROM),build/release/bin)
CONF_DIR = $(DESTDIR)$(SYSCONFDIR)/commissiond
# The units' paths (PREFIX=/usr) turned into this install's.
UNIT_PATHS = -e 's|/usr/sbin/|$(SBINDIR)/|g' \
	     -e 's|/usr/share/doc/commissiond/|$(DOCDIR)/|g' \
	     -e 's|/etc/commissiond/|$(SYSCONFDIR)/commissiond/|g'

.PHONY: install install-build uninstall

# The optimised programs, unless INSTALL_FROM names built ones.
install-build:
	$(if $(INSTALL_FROM),,@$(MAKE) --no-print-directory SAN=0 \
		$(addprefix build/release/bin/,$(INSTALL_DAEMONS) $(INSTALL_TOOLS)))

install: install-build
	$(INSTALL) -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) \
		$(DESTDIR)$(DOCDIR)/docs/prometheus $(CONF_DIR)
	$(INSTALL) -m 0755 $(addprefix $(INSTALL_BIN_FROM)/,$(INSTALL_DAEMONS)) $(DESTDIR)$(SBINDIR)/
	$(INSTALL) -m 0755 $(addprefix $(INSTALL_BIN_FROM)/,$(INSTALL_TOOLS)) $(DESTDIR)$(BINDIR)/
	$(INSTALL) -m 0644 $(INSTALL_MAN8) $(DESTDIR)$(MANDIR)/man8/
	$(INSTALL) -m 0644 $(INSTALL_MAN5) $(DESTDIR)$(MANDIR)/man5/
	for unit in $(INSTALL_UNITS); do \
		sed $(UNIT_PATHS) systemd/$$unit > $(DESTDIR)$(SYSTEMDUNITDIR)/$$unit.tmp && \
		chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$$unit.tmp && \
		mv $(DESTDIR)$(SYSTEMDUNITDIR)/$$unit.tmp $(DESTDIR)$(SYSTEMDUNITDIR)/$$unit || exit 1; \
	done
	$(INSTALL) -m 0644 systemd/commissiond.sysusers $(DESTDIR)$(SYSUSERSDIR)/commissiond.conf
	$(INSTALL) -m 0644 systemd/commissiond.tmpfiles $(DESTDIR)$(TMPFILESDIR)/commissiond.conf
	$(INSTALL) -m 0644 README.md $(DESTDIR)$(DOCDIR)/
	$(INSTALL) -m 0644 $(INSTALL_DOCS) $(DESTDIR)$(DOCDIR)/docs/
	$(INSTALL) -m 0644 docs/prometheus/commissiond-alerts.yml $(DESTDIR)$(DOCDIR)/docs/prometheus/
	@# The example is written anew each time; the configuration only when
	@# there is none, so that an operator's file is never overwritten.
	$(INSTALL) -m 0644 systemd/commissiond.conf $(CONF_DIR)/commissiond.conf.example
	@if [ -e $(CONF_DIR)/commissiond.conf ]; then \
		echo "install: keeping $(CONF_DIR)/commissiond.conf (see commissiond.conf.example)"; \
	else \
		echo "$(INSTALL) -m 0640 systemd/commissiond.conf $(CONF_DIR)/commissiond.conf"; \
		$(INSTALL) -m 0640 systemd/commissiond.conf $(CONF_DIR)/commissiond.conf; \
	fi

# Removes what install wrote. The configuration goes only when it is still
# the example; the pseudonym key, the state and the users always stay.
uninstall:
	rm -f $(addprefix $(DESTDIR)$(SBINDIR)/,$(INSTALL_DAEMONS)) \
		$(addprefix $(DESTDIR)$(BINDIR)/,$(INSTALL_TOOLS)) \
		$(addprefix $(DESTDIR)$(MANDIR)/man8/,$(notdir $(INSTALL_MAN8))) \
		$(addprefix $(DESTDIR)$(MANDIR)/man5/,$(notdir $(INSTALL_MAN5))) \
		$(addprefix $(DESTDIR)$(SYSTEMDUNITDIR)/,$(INSTALL_UNITS)) \
		$(DESTDIR)$(SYSUSERSDIR)/commissiond.conf $(DESTDIR)$(TMPFILESDIR)/commissiond.conf
	rm -f $(DESTDIR)$(DOCDIR)/README.md $(addprefix $(DESTDIR)$(DOCDIR)/,$(INSTALL_DOCS)) \
		$(DESTDIR)$(DOCDIR)/docs/prometheus/commissiond-alerts.yml
	@if cmp -s systemd/commissiond.conf $(CONF_DIR)/commissiond.conf; then \
		echo "rm -f $(CONF_DIR)/commissiond.conf"; rm -f $(CONF_DIR)/commissiond.conf; \
	elif [ -e $(CONF_DIR)/commissiond.conf ]; then \
		echo "uninstall: keeping $(CONF_DIR)/commissiond.conf (changed from the example)"; \
	fi
	rm -f $(CONF_DIR)/commissiond.conf.example
	@# Directories go when nothing else is left in them.
	@for dir in $(DESTDIR)$(DOCDIR)/docs/prometheus $(DESTDIR)$(DOCDIR)/docs \
		$(DESTDIR)$(DOCDIR) $(CONF_DIR); do \
		rmdir "$$dir" 2>/dev/null || true; \
	done
